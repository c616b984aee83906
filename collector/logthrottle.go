package collector

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rateLimitedHandler passes on each message at most once per interval and
// drops the repeats, so an error on the hot path cannot flood the log.
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
