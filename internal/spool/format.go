package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The spool directory holds segment files and one checkpoint, little-endian
// throughout:
//
//	NNNNNNNNNNNNNNNNNNNN.seg  (20-digit sequence number, starting at 1)
//	  header:  "CSPL", version uint32, CRC-32C of the preceding 8 bytes
//	  records: length uint32, CRC-32C uint32, append time int64 (unix ns), payload
//	  zeros:   to the end of the file, written ahead of appends (optional)
//	ack  "CSAK", version uint32, segment uint64, offset int64, CRC-32C of the preceding 24 bytes
//	lock  empty; flock(2)-ed while a process has the spool open
//
// A record's CRC covers its length, its append time and its payload, in that
// order, so that a damaged length or time is detected like damaged payload.
// No record header is all zeros (an append time is never 0), so the first
// all-zero header ends the records; if nothing but zeros follows, the
// segment is intact.
// The header has its own checksum so that a damaged header is told apart from a
// segment written by a newer, incompatible version, which Open refuses rather
// than discards.
const (
	segmentMagic      = "CSPL"
	checkpointMagic   = "CSAK"
	formatVersion     = 1
	segmentHeaderSize = 12
	recordHeaderSize  = 16
	checkpointSize    = 28
	segmentExt        = ".seg"
	checkpointName    = "ack"
	lockName          = "lock"
	seqDigits         = 20
	// maxSeq bounds segment numbers, far above any a spool reaches, so
	// that numbering new segments past those on disk never wraps to 0.
	maxSeq = 1 << 62
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segmentName(seq uint64) string {
	return fmt.Sprintf("%0*d%s", seqDigits, seq, segmentExt)
}

// parseSegmentName returns the sequence number of a segment file name, and
// false for every other file in the directory.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(digits) != seqDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}

func segmentHeader() [segmentHeaderSize]byte {
	var h [segmentHeaderSize]byte
	copy(h[:], segmentMagic)
	binary.LittleEndian.PutUint32(h[4:], formatVersion)
	binary.LittleEndian.PutUint32(h[8:], crc32.Checksum(h[:8], castagnoli))
	return h
}

// errVersion marks a segment or checkpoint that is intact but written in a
// format this build does not know.
var errVersion = errors.New("unsupported format version")

// checkHeader reports whether h is an intact segment header; an intact header
// of another version is an error.
func checkHeader(h []byte) (bool, error) {
	if len(h) < segmentHeaderSize || string(h[:4]) != segmentMagic ||
		binary.LittleEndian.Uint32(h[8:]) != crc32.Checksum(h[:8], castagnoli) {
		return false, nil
	}
	if v := binary.LittleEndian.Uint32(h[4:]); v != formatVersion {
		return false, fmt.Errorf("%w %d", errVersion, v)
	}
	return true, nil
}

// appendRecord appends one encoded record to buf.
func appendRecord(buf, payload []byte, unixNano int64) []byte {
	at := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(unixNano))
	buf = append(buf, payload...)
	rec := buf[at:]
	binary.LittleEndian.PutUint32(rec[4:], recordCRC(rec))
	return buf
}

// recordCRC computes the checksum of an encoded record whose header and
// payload are both in rec.
func recordCRC(rec []byte) uint32 {
	c := crc32.Update(0, castagnoli, rec[:4])
	return crc32.Update(c, castagnoli, rec[8:])
}

// recordLen returns the payload length a record header announces.
func recordLen(h []byte) int64 {
	return int64(binary.LittleEndian.Uint32(h))
}

func recordTime(h []byte) int64 {
	return int64(binary.LittleEndian.Uint64(h[8:]))
}

// scanSegment returns the offset of the end of the last intact record of a
// segment holding size bytes, and a description of the damage after it,
// empty when there is none. A damaged header gives offset 0. Only I/O and version errors are
// returned as errors: damage is an expected outcome of a crash. An offset at
// mark, when mark is not nil, that falls inside an intact record is moved back
// to the start of that record.
func scanSegment(f *os.File, size int64, mark *int64, r *bufio.Reader, payload *[]byte) (int64, string, error) {
	r.Reset(io.NewSectionReader(f, 0, size))
	var h [recordHeaderSize]byte
	if _, err := io.ReadFull(r, h[:segmentHeaderSize]); err != nil {
		return 0, "short segment header", ignoreEOF(err)
	}
	if ok, err := checkHeader(h[:segmentHeaderSize]); err != nil || !ok {
		return 0, "damaged segment header", err
	}
	off := int64(segmentHeaderSize)
	for off < size {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && allZeros(h[:size-off]) {
				return off, "", nil
			}
			return off, "short record header", ignoreEOF(err)
		}
		if h == ([recordHeaderSize]byte{}) {
			ok, err := restIsZeros(r)
			if err != nil || ok {
				return off, "", err
			}
			return off, "data after zeros that end the records", nil
		}
		n := recordLen(h[:])
		if n > MaxRecordSize || off+recordHeaderSize+n > size {
			return off, "record runs past the end of the segment", nil
		}
		need := int(recordHeaderSize + n)
		if cap(*payload) < need {
			*payload = make([]byte, need)
		}
		rec := (*payload)[:need]
		copy(rec, h[:])
		if _, err := io.ReadFull(r, rec[recordHeaderSize:]); err != nil {
			return off, "short record", ignoreEOF(err)
		}
		if recordCRC(rec) != binary.LittleEndian.Uint32(h[4:]) {
			return off, "record checksum mismatch", nil
		}
		if mark != nil && off < *mark && *mark < off+recordHeaderSize+n {
			*mark = off
		}
		off += recordHeaderSize + n
	}
	return off, "", nil
}

// allZeros reports whether b holds only zeros.
func allZeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// restIsZeros reports whether r holds nothing but zeros to its end.
func restIsZeros(r *bufio.Reader) (bool, error) {
	for {
		b, err := r.Peek(r.Size())
		if !allZeros(b) {
			return false, nil
		}
		if _, derr := r.Discard(len(b)); derr != nil {
			return false, derr
		}
		if err != nil {
			return true, ignoreEOF(err)
		}
	}
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

func encodeCheckpoint(p Pos) [checkpointSize]byte {
	var b [checkpointSize]byte
	copy(b[:], checkpointMagic)
	binary.LittleEndian.PutUint32(b[4:], formatVersion)
	binary.LittleEndian.PutUint64(b[8:], p.Seg)
	binary.LittleEndian.PutUint64(b[16:], uint64(p.Off))
	binary.LittleEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	return b
}

func decodeCheckpoint(b []byte) (Pos, error) {
	if len(b) != checkpointSize || string(b[:4]) != checkpointMagic ||
		binary.LittleEndian.Uint32(b[24:]) != crc32.Checksum(b[:24], castagnoli) {
		return Pos{}, errors.New("damaged checkpoint")
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != formatVersion {
		return Pos{}, fmt.Errorf("%w %d", errVersion, v)
	}
	p := Pos{Seg: binary.LittleEndian.Uint64(b[8:]), Off: int64(binary.LittleEndian.Uint64(b[16:]))}
	if p.Seg > maxSeq {
		return Pos{}, fmt.Errorf("damaged checkpoint: segment %d", p.Seg)
	}
	return p, nil
}

// writeCheckpoint replaces the checkpoint atomically, so that a crash leaves
// either the old or the new position.
func writeCheckpoint(dir string, p Pos) error {
	b := encodeCheckpoint(p)
	tmp := filepath.Join(dir, checkpointName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("cannot write spool checkpoint: %w", err)
	}
	_, err = f.Write(b[:])
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, checkpointName))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cannot write spool checkpoint: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
