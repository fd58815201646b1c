package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

// started is when this process started, for the node registry.
var started = time.Now()

// NodeSelf is what this node's heartbeat says beyond chat's own checks:
// its addresses, version, open sockets, the extra readiness checks and
// the federation senders' state.
func (s *Server) NodeSelf() chat.NodeSelf {
	return chat.NodeSelf{
		Address: s.opts.Listen, AdminAddress: s.opts.AdminListen, Version: s.opts.Version, Started: started,
		Connections: s.gw.Sessions,
		Checks:      s.nodeChecks,
	}
}

func (s *Server) nodeChecks(ctx context.Context) map[string]string {
	out := map[string]string{}
	if s.opts.Ready != nil {
		for name, err := range s.opts.Ready(ctx) {
			out[name] = "ok"
			if err != nil {
				out[name] = "down: " + err.Error()
			}
		}
	}
	if fa := s.opts.FederationAdmin; fa != nil {
		out["federation"] = federationState(ctx, fa)
	}
	return out
}

// federationState sums up the outbound queue: a peer in backoff is the
// peer's trouble, not this node's, so it is healthy ("ok: ..."); only a
// queue that cannot be read is not.
func federationState(ctx context.Context, fa *chat.FederationAdmin) string {
	ds, err := fa.Destinations(ctx)
	if err != nil {
		return "down: the outbox cannot be read"
	}
	queued := 0
	var backoff []string
	for _, d := range ds {
		if d.Depth > 0 {
			queued++
		}
		if d.Depth > 0 && d.LastError != "" {
			backoff = append(backoff, d.Destination)
		}
	}
	if len(backoff) == 0 {
		return fmt.Sprintf("ok: senders idle or sending, %d destinations queued", queued)
	}
	sort.Strings(backoff)
	return fmt.Sprintf("ok: %d destinations queued, in backoff: %s", queued, strings.Join(backoff, ", "))
}

// adminNodes lists every node of the cluster from the node registry, the
// stale and unhealthy marked (ctl health, ctl stats).
func (s *Server) adminNodes(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	ns, err := s.svc.Nodes(ctx, s.NodeSelf())
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"nodes": ns})
}
