package collector

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// salts keeps one random salt per UTC day in a file of the data folder,
// today's and yesterday's only. Every hash of an IP address is keyed with
// them, so once a salt is gone its hashes cannot be linked to an address,
// or to each other across days. Yesterday's salt stays because the dedup
// window is 24 hours and crosses midnight.
type salts struct {
	path string
	mu   sync.Mutex // serialises rotation
	cur  atomic.Pointer[saltPair]
}

type saltKey [2]uint64 // a SipHash key

type saltPair struct {
	day       string // YYYY-MM-DD, UTC
	dayNumber int64  // the same day as days since 1970-01-01, which at compares without formatting
	today     saltKey
	yesterday saltKey
}

func openSalts(path string, now time.Time) (*salts, error) {
	s := &salts{path: path}
	if _, err := s.rotate(now); err != nil {
		return nil, err
	}
	return s, nil
}

// at returns the salts of now's day, making a new one when the day changed.
func (s *salts) at(now time.Time) (*saltPair, error) {
	if p := s.cur.Load(); p != nil && p.dayNumber == dayNumber(now) {
		return p, nil
	}
	return s.rotate(now)
}

func (s *salts) rotate(now time.Time) (*saltPair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	today, yesterday := day(now), day(now.Add(-24*time.Hour))
	if p := s.cur.Load(); p != nil && p.day == today {
		return p, nil
	}
	stored := map[string]string{}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("cannot read salts: %w", err)
	default:
		if err := json.Unmarshal(b, &stored); err != nil {
			return nil, fmt.Errorf("cannot read salts from %s: %w", s.path, err)
		}
	}
	keep := map[string]string{}
	p := &saltPair{day: today, dayNumber: dayNumber(now)}
	for _, d := range []struct {
		day string
		key *saltKey
	}{{today, &p.today}, {yesterday, &p.yesterday}} {
		h, ok := stored[d.day]
		raw, err := hex.DecodeString(h)
		if !ok || err != nil || len(raw) != 16 {
			raw = make([]byte, 16)
			rand.Read(raw)
			h = hex.EncodeToString(raw)
		}
		keep[d.day] = h
		*d.key = saltKey{binary.LittleEndian.Uint64(raw), binary.LittleEndian.Uint64(raw[8:])}
	}
	if err := writeFileAtomic(s.path, keep); err != nil {
		return nil, fmt.Errorf("cannot store salts: %w", err)
	}
	s.cur.Store(p)
	return p, nil
}

func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// dayNumber is t's UTC day as days since 1970-01-01.
func dayNumber(t time.Time) int64 {
	d := t.Unix() / 86400
	if t.Unix() < 0 && t.Unix()%86400 != 0 {
		d--
	}
	return d
}

// writeFileAtomic writes v as JSON to a temporary file, syncs it and renames
// it over path, so a crash leaves the old file or the new one.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
