package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/event"
)

// Importer stores history from a file: events of our shape with their
// time, or a credential's counters of a day. See Import.
type Importer struct {
	Conn driver.Conn
	Now  func() time.Time // default time.Now
	// BatchSize is how many events go to ClickHouse in one insert; default
	// 100,000.
	BatchSize int
	// Pass, when set, wraps the file's reader for each of the two passes
	// ("checking", "storing"), for a progress bar.
	Pass func(name string, r io.Reader) io.Reader
}

// Check reads a whole file and reports its bad rows (as *InvalidFile) or
// what it holds.
func Check(r io.Reader, now time.Time) (Summary, error) {
	return scan(r, now, func(event.Event) error { return nil })
}

// The column list must be explicit: 18.16 refuses a batch without one.
const importColumns = `id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason, batch`

// Import stores the events of a file with the source "import", no visitor
// (unique viewers do not count them) and no country, browser or device.
// It reads the file twice: first it checks every row, and stores nothing
// if one is bad (the error is an *InvalidFile naming each by line); then
// it loads the events into a table of their own and moves those that no
// earlier import stored into events in one INSERT ... SELECT, whose
// materialized views feed the rollups and counters. A file imported again
// stores nothing new: an event's id is worked out from its content.
func (im Importer) Import(ctx context.Context, f io.ReadSeeker) (Summary, error) {
	if im.Now == nil {
		im.Now = time.Now
	}
	if im.BatchSize <= 0 {
		im.BatchSize = 100_000
	}
	if im.Pass == nil {
		im.Pass = func(_ string, r io.Reader) io.Reader { return r }
	}
	now := im.Now()
	checked, err := Check(im.Pass("checking", f), now)
	if err != nil {
		return checked, err
	}
	if checked.Events == 0 {
		return checked, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return checked, fmt.Errorf("cannot read the file again: %w", err)
	}

	b := make([]byte, 6)
	rand.Read(b)
	staging := "lifecycle_import_" + hex.EncodeToString(b)
	// On a cluster a table made "AS events" would be Distributed too, and
	// would send the rows to the shards at once, past the check below for
	// events stored already: the staging table is a plain one on the
	// server conn reaches, with the shards' columns, and the events go to
	// the shards through events, each insert returning once they have them.
	cluster, err := isDistributed(ctx, im.Conn, "events")
	if err != nil {
		return checked, err
	}
	create := "CREATE TABLE " + staging + " AS events"
	if cluster {
		create = "CREATE TABLE " + staging + " AS events" + localSuffix + " ENGINE = Log"
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clusterInsert))
	}
	if err := im.Conn.Exec(ctx, create); err != nil {
		return checked, fmt.Errorf("cannot create the import's table: %w", err)
	}
	defer im.Conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+staging)

	var batch driver.Batch
	var pending int
	send := func() error {
		if pending == 0 {
			return nil
		}
		pending = 0
		if err := batch.Send(); err != nil {
			return fmt.Errorf("cannot load the import's events: %w", err)
		}
		return nil
	}
	sum, err := scan(im.Pass("storing", f), now, func(e event.Event) error {
		if pending == 0 {
			next, err := im.Conn.PrepareBatch(ctx, "INSERT INTO "+staging+" ("+importColumns+")")
			if err != nil {
				return fmt.Errorf("cannot load the import's events: %w", err)
			}
			batch = next
		}
		if err := batch.Append(e.ID, e.Time, e.Credential, e.Group, e.Type.String(), e.Network.String(),
			e.Actor.String(), e.Source.String(), e.Visitor, e.URLHost, e.URLPath, e.ReferrerHost,
			e.ReferrerPath, e.Country, e.Browser, e.OS, e.Device.String(), e.Bot.String(), checked.Batch); err != nil {
			return fmt.Errorf("cannot load the import's events: %w", err)
		}
		if pending++; pending >= im.BatchSize {
			return send()
		}
		return nil
	})
	if err == nil {
		err = send()
	}
	if batch != nil {
		batch.Abort()
	}
	if err != nil {
		return sum, err
	}
	if sum.Batch != checked.Batch || sum.Events != checked.Events {
		return sum, fmt.Errorf("the file changed while it was imported: nothing was stored")
	}

	// Events an earlier import stored have the same ids; they are left out.
	fresh := " FROM " + staging + " WHERE id NOT IN (SELECT id FROM events WHERE source = 'import' AND time >= ? AND time <= ?)"
	if sum.Stored, err = count(ctx, im.Conn, "SELECT count()"+fresh, sum.From, sum.To); err != nil {
		return sum, err
	}
	sum.Present = sum.Events - sum.Stored
	if sum.Stored == 0 {
		return sum, nil
	}
	if err := im.Conn.Exec(ctx, "INSERT INTO events ("+importColumns+") SELECT "+importColumns+fresh, sum.From, sum.To); err != nil {
		return sum, fmt.Errorf("cannot store the import's events (importing the file again stores what is missing): %w", err)
	}
	return sum, nil
}
