package lifecycle

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/internal/event"
)

// Limits of an import file.
const (
	// MaxLine is the longest NDJSON line or CSV record, in bytes.
	MaxLine = 64 << 10
	// MaxCount bounds each number of a counters row: a row stands for that
	// many events.
	MaxCount = 10_000_000
	// maxErrors is how many bad rows are reported one by one.
	maxErrors = 100
)

// LineError is a bad row of an import file.
type LineError struct {
	Line    int
	Message string
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// InvalidFile lists the bad rows of a file, of which nothing was stored.
type InvalidFile struct {
	Errors []LineError // the first maxErrors
	Bad    int         // every bad row
}

func (e *InvalidFile) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d bad rows, nothing was stored:", e.Bad)
	for _, le := range e.Errors {
		b.WriteString("\n  " + le.Error())
	}
	if e.Bad > len(e.Errors) {
		fmt.Fprintf(&b, "\n  ... and %d more", e.Bad-len(e.Errors))
	}
	return b.String()
}

// fileRow is one row of an import file: an event with its time, or (with
// stats) a credential's counters of one day in the badges.ninja stats
// shape, at the top level or under info as that API answers them.
type fileRow struct {
	event.Input
	Time  string        `json:"time"`
	Date  string        `json:"date"`
	Stats *counterStats `json:"stats"`
	Info  *struct {
		Stats *counterStats `json:"stats"`
	} `json:"info"`
}

// counterStats are counters as badges.ninja answers them (views, shares by
// network with link copies as "copy", downloads, linkedin_adds), and
// credstats' link_copies and verifications.
type counterStats struct {
	Views         uint64            `json:"views"`
	Shares        map[string]uint64 `json:"shares"`
	Downloads     uint64            `json:"downloads"`
	LinkedInAdds  uint64            `json:"linkedin_adds"`
	LinkCopies    uint64            `json:"link_copies"`
	Verifications uint64            `json:"verifications"`
}

// csvColumns are the columns a CSV file may have, named in its header.
var csvColumns = []string{"credential", "type", "network", "actor", "group", "url", "referrer", "time"}

// scanner reads an import file row by row and turns each row into its
// events, with ids worked out from their content: the n-th event of the
// same content in a file has the same id in every import of the file, so
// that a file imported twice stores its events once.
type scanner struct {
	now  time.Time
	emit func(event.Event) error
	seen map[[8]byte]uint32 // events of each content so far
	sum  Summary
	errs []LineError
	bad  int
	err  error // emit's, which ends the scan
}

// Summary says what an import file holds and what became of it.
type Summary struct {
	Rows        int       `json:"rows"`         // data rows read
	CounterRows int       `json:"counter_rows"` // of which counters
	Events      uint64    `json:"events"`       // events the rows stand for
	Stored      uint64    `json:"stored"`       // events stored by this import
	Present     uint64    `json:"present"`      // events an earlier import stored
	From        time.Time `json:"from"`         // the earliest event's time
	To          time.Time `json:"to"`           // the latest
	Batch       uint64    `json:"batch"`        // the events' batch column: the file's digest, top bit set
}

var idSpace = uuid.MustParse("6d1c1c52-2a8e-4d43-9d9e-6c0b3a5e1f17")

// scan reads a whole file: NDJSON when its first byte that is not a space
// is '{', CSV with a header row otherwise. It calls emit for every event
// of the good rows and gathers the bad ones.
func scan(r io.Reader, now time.Time, emit func(event.Event) error) (Summary, error) {
	h := sha256.New()
	s := &scanner{now: now, emit: emit, seen: map[[8]byte]uint32{}}
	br := bufio.NewReaderSize(io.TeeReader(r, h), MaxLine)
	var err error
	if first, perr := firstByte(br); perr == nil && first == '{' {
		err = s.ndjson(br)
	} else if perr == nil {
		err = s.csv(br)
	}
	if err = cmp.Or(err, s.err); err != nil {
		return s.sum, err
	}
	if s.bad > 0 {
		return s.sum, &InvalidFile{Errors: s.errs, Bad: s.bad}
	}
	s.sum.Batch = 1<<63 | binary.BigEndian.Uint64(h.Sum(nil))
	return s.sum, nil
}

func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		// Spaces, and the bytes of a UTF-8 byte order mark.
		if bytes.IndexByte([]byte{' ', '\t', '\r', '\n', 0xef, 0xbb, 0xbf}, b) < 0 {
			return b, br.UnreadByte()
		}
	}
}

func (s *scanner) fail(line int, format string, args ...any) {
	s.bad++
	if len(s.errs) < maxErrors {
		s.errs = append(s.errs, LineError{Line: line, Message: fmt.Sprintf(format, args...)})
	}
}

func (s *scanner) ndjson(br *bufio.Reader) error {
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		long := errors.Is(err, bufio.ErrBufferFull)
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("cannot read the file: %w", err)
		}
		switch b = bytes.TrimSpace(b); {
		case long:
			s.fail(line, "longer than %d bytes", MaxLine)
		case len(b) > 0:
			var row fileRow
			if derr := event.DecodeJSON(b, &row); derr != nil {
				s.fail(line, "%v", derr)
			} else {
				s.row(line, row)
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

func (s *scanner) csv(br *bufio.Reader) error {
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		s.fail(1, "the CSV header cannot be read: %v", err)
		return nil
	}
	cols := make([]int, len(head)) // cols[i] is the csvColumns index of the file's i-th column
	for i, name := range head {
		name = strings.ToLower(strings.TrimSpace(name))
		if cols[i] = slices.Index(csvColumns, name); cols[i] < 0 {
			s.fail(1, "unknown column %q: the columns are %s", name, strings.Join(csvColumns, ", "))
		}
	}
	for _, need := range []string{"credential", "type", "time"} {
		if !slices.ContainsFunc(head, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), need) }) {
			s.fail(1, "the column %q is required", need)
		}
	}
	if s.bad > 0 {
		return nil
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var perr *csv.ParseError
		switch {
		case errors.As(err, &perr):
			// A record of the wrong length is read whole, and the next one
			// follows; after bad quoting the reader goes on from the next
			// line.
			s.fail(perr.Line, "%v", perr.Err)
			continue
		case err != nil:
			return fmt.Errorf("cannot read the file: %w", err)
		}
		line, _ := cr.FieldPos(0)
		var row fileRow
		for i, v := range rec {
			if len(v) > MaxLine {
				v = ""
			}
			switch csvColumns[cols[i]] {
			case "credential":
				row.Credential = v
			case "type":
				row.Type = v
			case "network":
				row.Network = v
			case "actor":
				row.Actor = v
			case "group":
				row.Group = v
			case "url":
				row.URL = v
			case "referrer":
				row.Referrer = v
			case "time":
				row.Time = v
			}
		}
		s.row(line, row)
	}
}

// row checks one row and emits its events; a bad row emits none.
func (s *scanner) row(line int, row fileRow) {
	s.sum.Rows++
	stats := row.Stats
	if stats == nil && row.Info != nil {
		stats = row.Info.Stats
	}
	t, err := s.when(row, stats != nil)
	if err != nil {
		s.fail(line, "%v", err)
		return
	}
	if stats == nil {
		e, err := row.Input.Event()
		if err != nil {
			s.fail(line, "%v", err)
			return
		}
		s.add(e, t, 1)
		return
	}
	s.sum.CounterRows++
	type count struct {
		typ, network string
		n            uint64
	}
	counts := []count{{"view", "", stats.Views}, {"download", "", stats.Downloads}, {"linkedin_add", "", stats.LinkedInAdds},
		{"link_copy", "", stats.LinkCopies}, {"verify", "", stats.Verifications}}
	for _, network := range slices.Sorted(maps.Keys(stats.Shares)) {
		typ, net := "share", strings.ToLower(network)
		switch net {
		case "copy":
			typ, net = "link_copy", ""
		case "x":
			net = "twitter"
		}
		counts = append(counts, count{typ, net, stats.Shares[network]})
	}
	events := make([]event.Event, 0, len(counts))
	for _, c := range counts {
		if c.n > MaxCount {
			s.fail(line, "%s: at most %d events in one row", c.typ, MaxCount)
			return
		}
		in := row.Input
		in.Type, in.Network = c.typ, c.network
		e, err := in.Event()
		if err != nil {
			if fe := (*event.FieldError)(nil); errors.As(err, &fe) && fe.Field == "network" {
				err = fmt.Errorf("shares: %q is not a network credstats knows", c.network)
			}
			s.fail(line, "%v", err)
			return
		}
		events = append(events, e)
	}
	for i, e := range events {
		s.add(e, t, counts[i].n)
	}
}

// when is a row's time: RFC 3339 for events, and for counters also a
// date, which stands for its midnight in UTC.
func (s *scanner) when(row fileRow, counters bool) (time.Time, error) {
	var t time.Time
	var err error
	switch {
	case row.Time != "":
		t, err = time.Parse(time.RFC3339, row.Time)
		if err != nil {
			return t, fmt.Errorf("time: must be RFC 3339, such as 2024-05-01T12:00:00Z")
		}
	case counters && row.Date != "":
		t, err = time.Parse(time.DateOnly, row.Date)
		if err != nil {
			return t, fmt.Errorf("date: must be YYYY-MM-DD")
		}
	case counters:
		return t, fmt.Errorf("date: is required for counters")
	default:
		return t, fmt.Errorf("time: is required")
	}
	t = t.UTC().Truncate(time.Second)
	switch {
	case t.Year() < 1971:
		return t, fmt.Errorf("time: must be after 1970")
	case t.After(s.now.Add(5 * time.Minute)):
		return t, fmt.Errorf("time: must not be in the future")
	}
	return t, nil
}

// add emits n events like e at t, each with its id.
func (s *scanner) add(e event.Event, t time.Time, n uint64) {
	if n == 0 {
		return
	}
	e.Time, e.Source = t, event.Import
	key := contentKey(&e)
	var short [8]byte
	copy(short[:], key[:8])
	first := s.seen[short]
	s.seen[short] = first + uint32(n)
	if s.bad > 0 || s.err != nil {
		return // nothing will be stored: only the rows are checked
	}
	if s.sum.Events == 0 || t.Before(s.sum.From) {
		s.sum.From = t
	}
	if t.After(s.sum.To) {
		s.sum.To = t
	}
	s.sum.Events += n
	var buf [sha256.Size + 4]byte
	copy(buf[:], key[:])
	for i := range uint32(n) {
		binary.BigEndian.PutUint32(buf[sha256.Size:], first+i)
		e.ID = uuid.NewSHA1(idSpace, buf[:])
		if s.err = s.emit(e); s.err != nil {
			return
		}
	}
}

// contentKey is a digest of what an imported event says.
func contentKey(e *event.Event) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range []string{e.Credential, e.Group, e.Type.String(), e.Network.String(), e.Actor.String(),
		e.URLHost, e.URLPath, e.ReferrerHost, e.ReferrerPath, e.Time.Format(time.RFC3339)} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return [sha256.Size]byte(h.Sum(nil))
}
