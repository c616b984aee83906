// Package logthrottle keeps hot paths from flooding the log: a logger that
// passes on each message at most once per interval.
package logthrottle

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// New returns a logger that writes through log's handler, each message at
// most once per interval; repeats in between are dropped. Messages should
// be constants, so that the set it remembers stays small.
func New(log *slog.Logger, every time.Duration) *slog.Logger {
	return slog.New(newRateLimitedHandler(log.Handler(), every))
}

type rateLimitedHandler struct {
	slog.Handler
	every time.Duration
	mu    *sync.Mutex
	last  map[string]time.Time
}

func newRateLimitedHandler(h slog.Handler, every time.Duration) *rateLimitedHandler {
	return &rateLimitedHandler{Handler: h, every: every, mu: &sync.Mutex{}, last: map[string]time.Time{}}
}

func (h *rateLimitedHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	if t, ok := h.last[r.Message]; ok && r.Time.Sub(t) < h.every {
		h.mu.Unlock()
		return nil
	}
	h.last[r.Message] = r.Time
	h.mu.Unlock()
	return h.Handler.Handle(ctx, r)
}

func (h *rateLimitedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &rateLimitedHandler{Handler: h.Handler.WithAttrs(as), every: h.every, mu: h.mu, last: h.last}
}

func (h *rateLimitedHandler) WithGroup(name string) slog.Handler {
	return &rateLimitedHandler{Handler: h.Handler.WithGroup(name), every: h.every, mu: h.mu, last: h.last}
}
