package collector_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/credstats/credstats/collector"
)

// waitStored waits until the sink holds n events; the writer owes them
// within one flush interval.
func waitStored(t *testing.T, sink *memSink, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.stored()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d events stored, want %d", len(sink.stored()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writerModes(t *testing.T, f func(t *testing.T, o collector.Options)) {
	for _, m := range []struct {
		name string
		o    collector.Options
	}{
		{"spool", collector.Options{SpoolNoSync: true}},
		{"memory", collector.Options{NoSpool: true}},
	} {
		t.Run(m.name, func(t *testing.T) { f(t, m.o) })
	}
}

// Events arriving slower than a batch an interval are written once an
// interval, not as they come. With the spool, what the sink holds stays
// there until the dedup snapshot covers it (here: never), which must not
// count as a batch waiting.
func TestSlowStreamIsWrittenOnceAnInterval(t *testing.T) {
	const batch, rounds = 200, 8
	writerModes(t, func(t *testing.T, o collector.Options) {
		sink := &memSink{}
		o.BatchSize, o.FlushInterval, o.SnapshotInterval = batch, 200*time.Millisecond, time.Hour
		c := newCollector(t, sink, o)
		var creds []string
		for r := range rounds {
			creds = append(creds, ingestN(t, c, fmt.Sprintf("slow%d-", r), batch/2)...)
			waitStored(t, sink, len(creds))
		}
		closeOK(t, c)
		storedOnce(t, sink, creds)
		// A tick may fall inside a round and split it, never into many.
		if sizes := sink.batchSizes(); len(sizes) > 3*rounds {
			t.Errorf("%d events written in %d batches %v, want at most %d", len(creds), len(sizes), sizes, 3*rounds)
		}
	})
}

// A whole batch is written without waiting for the interval, and never as
// more than a batch.
func TestWholeBatchIsWrittenWithoutWaiting(t *testing.T) {
	const batch = 200
	writerModes(t, func(t *testing.T, o collector.Options) {
		sink := &memSink{}
		o.BatchSize, o.FlushInterval, o.SnapshotInterval = batch, time.Hour, time.Hour
		c := newCollector(t, sink, o)
		creds := ingestN(t, c, "whole", 5*batch)
		waitStored(t, sink, 2*batch)
		closeOK(t, c)
		storedOnce(t, sink, creds)
		for _, n := range sink.batchSizes() {
			if n > batch {
				t.Errorf("a batch of %d events, want at most %d", n, batch)
			}
		}
	})
}
