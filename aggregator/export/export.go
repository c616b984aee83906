// Package export streams a query's rows to an HTTP client as CSV or
// NDJSON: the one writer of /api/v1/export and of the dashboard's CSVs.
package export

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/aggregator/query"
	"github.com/credstats/credstats/internal/edge"
)

// CSV answers c with the rows of an export as CSV and closes cur;
// stopped hears why an export ended early.
func CSV(c *fiber.Ctx, cur *query.Cursor, stopped func(error)) {
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	stream(c, cur, writeCSV, stopped)
}

// NDJSON answers c with the rows of an export as NDJSON, one object a
// row, and closes cur; stopped hears why an export ended early.
func NDJSON(c *fiber.Ctx, cur *query.Cursor, stopped func(error)) {
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	stream(c, cur, writeNDJSON, stopped)
}

// stream answers c with what write makes of cur's rows, as the client
// reads them, after the handler has returned. It has until the deadline
// of cur's context, for writing too: the server's write timeout is meant
// for small answers. An export that ends early, for any reason, is not
// ended cleanly: the server closes the connection before the last chunk
// of the chunked body, so that every client sees a cut answer rather than
// a short one.
func stream(c *fiber.Ctx, cur *query.Cursor, write func(*bufio.Writer, *query.Cursor) error, stopped func(error)) {
	pr, pw := io.Pipe()
	b := &body{PipeReader: pr, conn: c.Context().Conn(), stop: cur.Stop}
	b.deadline, _ = cur.Deadline()
	go func() {
		defer cur.Close()
		w := bufio.NewWriterSize(pw, 32<<10)
		err := write(w, cur)
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			stopped(err)
		}
		// The server reads an error other than io.EOF as a failed body.
		pw.CloseWithError(err)
	}()
	// The deadline set here must not outlive the answer.
	c.Context().SetConnectionClose()
	c.Context().SetBodyStream(b, -1)
}

// body is what the server reads an export from.
type body struct {
	*io.PipeReader
	conn     net.Conn
	deadline time.Time
	stop     func()
	started  bool
}

func (b *body) Read(p []byte) (int, error) {
	if !b.started && !b.deadline.IsZero() {
		// The server sets its write deadline after the handler has
		// returned, just before it reads the body for the first time.
		b.conn.SetWriteDeadline(b.deadline)
	}
	b.started = true
	return b.PipeReader.Read(p)
}

// Close is called by the server once the answer is written or has failed,
// the client gone among other reasons: the query stops with it.
func (b *body) Close() error {
	b.stop()
	return b.PipeReader.Close()
}

func columnNames(q query.Query) []string {
	return append(append([]string{}, q.Dimensions...), q.Metrics...)
}

func formatMetric(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// csvCell keeps a value that came from a client from being read as a
// formula by a spreadsheet, as OWASP advises: one starting with = + - @,
// a tab or a carriage return gets a leading single quote.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// writeCSV writes a header row and the rows; dimension values are made
// safe for spreadsheets, metrics are ours and left as numbers.
func writeCSV(w *bufio.Writer, cur *query.Cursor) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columnNames(cur.Query())); err != nil {
		return err
	}
	rec := make([]string, 0, 16)
	for cur.Next() {
		r := cur.Row()
		rec = rec[:0]
		for _, d := range r.Dimensions {
			rec = append(rec, csvCell(d))
		}
		for _, m := range r.Metrics {
			rec = append(rec, formatMetric(m))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cur.Err(); err != nil {
		return err
	}
	return cw.Error()
}

// writeNDJSON writes one object per row, keyed by dimension and metric
// names in the query's order; a failure half-way ends with an error line.
func writeNDJSON(w *bufio.Writer, cur *query.Cursor) error {
	q := cur.Query()
	keys := make([][]byte, 0, len(q.Dimensions)+len(q.Metrics))
	for _, n := range columnNames(q) {
		k, _ := json.Marshal(n)
		keys = append(keys, append(k, ':'))
	}
	var line []byte
	for cur.Next() {
		r := cur.Row()
		line = append(line[:0], '{')
		for i, d := range r.Dimensions {
			if i > 0 {
				line = append(line, ',')
			}
			v, _ := json.Marshal(d)
			line = append(append(line, keys[i]...), v...)
		}
		for i, m := range r.Metrics {
			if i > 0 || len(r.Dimensions) > 0 {
				line = append(line, ',')
			}
			line = append(append(line, keys[len(r.Dimensions)+i]...), formatMetric(m)...)
		}
		line = append(line, '}', '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		b, _ := json.Marshal(edge.Envelope(edge.Unavailable("the export stopped early; try again")))
		w.Write(append(b, '\n'))
		return err
	}
	return nil
}
