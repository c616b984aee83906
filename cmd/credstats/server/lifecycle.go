package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/credstats/credstats/internal/auth"
	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/lifecycle"
)

// eraseTimeout bounds one erasure, from waiting for the spool to the last
// mutation checked.
const eraseTimeout = 30 * time.Minute

// lifecycleParts are the server's share of the data's lifecycle: the
// retention keeper and the operator's erasure route.
type lifecycleParts struct {
	keeper   *lifecycle.Keeper // nil in the collector role
	erasing  chan struct{}     // one erasure at a time
	erasures *prometheus.CounterVec
	forget   func(credential string) // drops cached counters; nil without the aggregator
}

func (s *Server) newLifecycle(reg prometheus.Registerer) {
	s.life.erasing = make(chan struct{}, 1)
	s.life.erasures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credstats_erasures_total",
		Help: "Credential erasures asked for through the operator route, by outcome (done, failed)."}, []string{"outcome"})
	reg.MustRegister(s.life.erasures)
	// The retention runs where the stats are read: collectors scale out,
	// and one process dropping months is enough.
	if s.o.Role != RoleCollector {
		s.life.keeper = lifecycle.NewKeeper(lifecycle.KeeperOptions{
			Conn: s.write, Retention: s.o.Retention, Logger: s.o.Logger, Registerer: reg,
			Cluster: s.o.Cluster, DSN: s.o.ClickHouse,
		})
	}
}

// keep applies the retention once the server is ready, until ctx ends.
func (s *Server) keep(ctx context.Context) {
	if s.life.keeper == nil {
		return
	}
	for !s.ready.Load() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	s.life.keeper.Run(ctx)
}

// operatorRoutes are the routes for an operator key.
func (s *Server) operatorRoutes(keyStore *auth.Keys) {
	s.app.Post("/api/v1/admin/erase", s.untilReady(keyStore.Require(auth.Operator, s.gate)), s.erase)
}

type eraseRequest struct {
	Credential string `json:"credential"`
}

// erase removes every trace of one credential: POST {"credential": ID}.
// With a collector in this process it first waits until every event
// accepted before the request is in ClickHouse, so that the mutations
// remove those too; then it runs lifecycle.Erase and drops the cached
// counters. It answers the report.
func (s *Server) erase(c *fiber.Ctx) error {
	var req eraseRequest
	if err := event.DecodeJSON(c.Body(), &req); err != nil {
		return err
	}
	if !event.ValidID(req.Credential) {
		return edge.Invalid("credential: must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'")
	}
	id := strings.Clone(req.Credential)
	start := time.Now()
	// The erasure goes on when the client hangs up: stopping half-way
	// would only leave it for the next call.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), eraseTimeout)
	defer cancel()
	// Erasures run one at a time; a second waits for the first.
	select {
	case s.life.erasing <- struct{}{}:
		defer func() { <-s.life.erasing }()
	case <-c.Context().Done():
		return edge.Unavailable("the server is shutting down; nothing was erased")
	}
	if err := s.waitWritten(ctx, start); err != nil {
		s.life.erasures.WithLabelValues("failed").Inc()
		return edge.Unavailable("events accepted before the erasure are not in ClickHouse yet (is it down?); nothing was erased: try again")
	}
	var rep lifecycle.EraseReport
	var err error
	if s.o.Cluster != "" {
		rep, err = lifecycle.Shards{Conn: s.write, DSN: s.o.ClickHouse, Cluster: s.o.Cluster}.Erase(ctx, id)
	} else {
		rep, err = lifecycle.Erase(ctx, s.write, id)
	}
	if s.life.forget != nil {
		s.life.forget(id)
	}
	if errors.Is(err, lifecycle.ErrCluster) { // a cluster's database, and no --cluster
		s.life.erasures.WithLabelValues("failed").Inc()
		return edge.Unavailable(err.Error())
	}
	if err != nil {
		s.life.erasures.WithLabelValues("failed").Inc()
		s.o.Logger.Error("erasure failed; running it again finishes it", "err", err)
		return edge.Unavailable("the erasure did not finish; running it again finishes it: " + err.Error())
	}
	s.life.erasures.WithLabelValues("done").Inc()
	s.o.Logger.Info("credential erased", "rows", rep.Total())
	return c.JSON(rep)
}

// waitWritten waits until the collector holds no event accepted before
// start that ClickHouse does not have.
func (s *Server) waitWritten(ctx context.Context, start time.Time) error {
	if s.collector == nil {
		return nil
	}
	for {
		b := s.collector.Backlog()
		if (b.Oldest == nil && b.Events == 0) || (b.Oldest != nil && b.Oldest.After(start)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
