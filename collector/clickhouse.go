package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"

	"github.com/credstats/credstats/internal/event"
)

// ClickHouseSink writes batches to the events table with one INSERT each.
type ClickHouseSink struct {
	Conn driver.Conn
}

// The column list must be explicit: 18.16 refuses a batch without one.
const insertEvents = `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason, batch,
	arrived_from, shared_by)`

// Write sends the batch column by column: one call per column instead of
// one per event, which spares boxing every field of every event.
func (s ClickHouseSink) Write(ctx context.Context, batch Batch) error {
	b, err := s.Conn.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return fmt.Errorf("cannot prepare insert: %w", err)
	}
	defer b.Abort()
	for i, col := range eventColumns(batch) {
		if err := b.Column(i).Append(col); err != nil {
			return fmt.Errorf("cannot append events: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("cannot insert %d events: %w", len(batch.Events), err)
	}
	return nil
}

// eventColumns are the batch's columns in insertEvents' order.
func eventColumns(batch Batch) []any {
	n := len(batch.Events)
	var (
		ids                                           = make([]uuid.UUID, n)
		times                                         = make([]time.Time, n)
		visitors, batches                             = make([]uint64, n), make([]uint64, n)
		credentials, groups                           = make([]string, n), make([]string, n)
		types, networks, actors, sources              = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		urlHosts, urlPaths, refHosts, refPaths        = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		countries, browsers, oses, devices, botReason = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		arrivals, sharers                             = make([]string, n), make([]string, n)
	)
	for i := range batch.Events {
		e := &batch.Events[i]
		ids[i], times[i], credentials[i], groups[i] = e.ID, e.Time, e.Credential, e.Group
		types[i], networks[i], actors[i], sources[i] = e.Type.String(), e.Network.String(), e.Actor.String(), e.Source.String()
		visitors[i], urlHosts[i], urlPaths[i], refHosts[i], refPaths[i] = e.Visitor, e.URLHost, e.URLPath, e.ReferrerHost, e.ReferrerPath
		countries[i], browsers[i], oses[i], devices[i], botReason[i] = e.Country, e.Browser, e.OS, e.Device.String(), e.Bot.String()
		batches[i] = batch.ID
		arrivals[i], sharers[i] = e.ArrivedFrom.String(), event.SharerEnum.Name(int(e.SharedBy))
	}
	return []any{ids, times, credentials, groups, types, networks, actors, sources, visitors,
		urlHosts, urlPaths, refHosts, refPaths, countries, browsers, oses, devices, botReason, batches,
		arrivals, sharers}
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
