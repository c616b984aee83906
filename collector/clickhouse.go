package collector

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/event"
)

// ClickHouseSink writes batches to the events table with one INSERT each.
type ClickHouseSink struct {
	Conn driver.Conn
}

// The column list must be explicit: 18.16 refuses a batch without one.
const insertEvents = `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)`

func (s ClickHouseSink) Write(ctx context.Context, events []event.Event) error {
	b, err := s.Conn.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return fmt.Errorf("cannot prepare insert: %w", err)
	}
	defer b.Abort()
	for i := range events {
		e := &events[i]
		if err := b.Append(e.ID, e.Time, e.Credential, e.Group, e.Type.String(), e.Network.String(),
			e.Actor.String(), e.Source.String(), e.Visitor, e.URLHost, e.URLPath, e.ReferrerHost,
			e.ReferrerPath, e.Country, e.Browser, e.OS, e.Device.String(), e.Bot.String()); err != nil {
			return fmt.Errorf("cannot append event: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot insert %d events: %w", len(events), err)
	}
	return nil
}
