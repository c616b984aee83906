package collector

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/internal/event"
)

// Batch is a run of events written together. With the spool, ID is the
// spool position the batch was read from; the sink stores it with each
// event, so that a batch whose outcome was uncertain can be checked before
// it is sent again. Without the spool it is 0.
type Batch struct {
	ID     uint64
	Events []event.Event
}

// Sink stores batches of events. Write either stores the whole batch or
// returns an error; the writer retries failed batches.
type Sink interface {
	Write(ctx context.Context, b Batch) error
}

// Checker is a Sink that can say which events it already holds among the
// batches with IDs in [from, to), none older than since. The writer asks
// it before sending a batch again whose earlier attempt may have been
// stored after all, so that no event is stored twice.
type Checker interface {
	Stored(ctx context.Context, from, to uint64, since time.Time) (map[uuid.UUID]struct{}, error)
}
