package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
)

// ClickHouseSink writes batches to the events table with one INSERT each.
type ClickHouseSink struct {
	Conn driver.Conn
}

// The column list must be explicit: 18.16 refuses a batch without one.
const insertEvents = `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason, batch)`

func (s ClickHouseSink) Write(ctx context.Context, batch Batch) error {
	b, err := s.Conn.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return fmt.Errorf("cannot prepare insert: %w", err)
	}
	defer b.Abort()
	for i := range batch.Events {
		e := &batch.Events[i]
		if err := b.Append(e.ID, e.Time, e.Credential, e.Group, e.Type.String(), e.Network.String(),
			e.Actor.String(), e.Source.String(), e.Visitor, e.URLHost, e.URLPath, e.ReferrerHost,
			e.ReferrerPath, e.Country, e.Browser, e.OS, e.Device.String(), e.Bot.String(), batch.ID); err != nil {
			return fmt.Errorf("cannot append event: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot insert %d events: %w", len(batch.Events), err)
	}
	return nil
}

// Stored returns the ids of the events stored by batches with IDs in
// [from, to). The time bound lets ClickHouse skip older partitions.
func (s ClickHouseSink) Stored(ctx context.Context, from, to uint64, since time.Time) (map[uuid.UUID]struct{}, error) {
	rows, err := s.Conn.Query(ctx, "SELECT id FROM events WHERE batch >= ? AND batch < ? AND time >= ?", from, to, since)
	if err != nil {
		return nil, fmt.Errorf("cannot check for stored events: %w", err)
	}
	defer rows.Close()
	ids := map[uuid.UUID]struct{}{}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot check for stored events: %w", err)
		}
		ids[id] = struct{}{}
	}
	return ids, rows.Err()
}
