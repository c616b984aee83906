package collector_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/credstats/credstats/collector"
)

type discardSink struct{}

func (discardSink) Write(context.Context, collector.Batch) error { return nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPostEvent is the beacon route in the process, without sockets:
// Fiber, the gate, decoding, Ingest and the spool with fsync, from many
// goroutines at once so that group commit gathers them as under load. It
// reports the process's CPU time per request (cpu-ns/op), writer included.
func BenchmarkPostEvent(b *testing.B) {
	benchPostEvent(b, collector.Options{TrustedProxies: []string{"127.0.0.1"}, RateLimit: -1})
}

// BenchmarkPostEventNoSync is BenchmarkPostEvent without the spool's fsync,
// whose cost swings with how many requests each group commit gathers: it
// measures the request's own work more steadily.
func BenchmarkPostEventNoSync(b *testing.B) {
	benchPostEvent(b, collector.Options{TrustedProxies: []string{"127.0.0.1"}, RateLimit: -1, SpoolNoSync: true})
}

func benchPostEvent(b *testing.B, o collector.Options) {
	c := newCollector(b, discardSink{}, o)
	defer c.Close(context.Background())
	app := fiber.New(fiber.Config{Immutable: true})
	c.Routes(app)
	handler := app.Handler()
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		var req fasthttp.Request
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			i := n.Add(1)
			req.Reset()
			req.Header.SetMethod("POST")
			req.SetRequestURI("/api/event")
			req.Header.SetContentType("text/plain")
			req.Header.Set("User-Agent", chrome)
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
			req.SetBodyString(fmt.Sprintf(`{"credential":"cred-%d","type":"view","url":"https://certs.example.org/c/cred-%d","referrer":"https://www.linkedin.com/feed/"}`, i%100000, i%100000))
			ctx.Init(&req, remote, nil)
			handler(&ctx)
			if code := ctx.Response.StatusCode(); code != fiber.StatusAccepted {
				b.Fatalf("status %d: %s", code, ctx.Response.Body())
			}
		}
	})
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
