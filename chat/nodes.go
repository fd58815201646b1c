package chat

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
)

// HeartbeatInterval is how often a node writes its entry in the node
// registry; readers call it stale after three missed beats.
const HeartbeatInterval = 2 * time.Second

// purgeStalled: the purge worker ticks every second and records each
// pass's end; this long without one, it is stuck (a store call that never
// returns, say). Long, because a pass that works through a backlog of
// expired messages legitimately takes minutes.
const purgeStalled = 5 * time.Minute

// nodeID names this process in job records and the node registry: the
// host name (a pod's name under Kubernetes) and the pid, unique among live
// nodes.
var nodeID = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
})

// NodeID is this node's id in the node registry and in jobs' NODE.
func NodeID() string { return nodeID() }

// workState is what this node's background workers last did, for its
// heartbeat.
type workState struct {
	mu        sync.Mutex
	purge     string // "" before the first tick
	purgeAt   time.Time
	jobKind   string
	jobID     string
	jobsError string
}

func (w *workState) setPurge(state string, at time.Time) {
	w.mu.Lock()
	w.purge, w.purgeAt = state, at
	w.mu.Unlock()
}

func (w *workState) setJob(kind, id string) {
	w.mu.Lock()
	w.jobKind, w.jobID = kind, id
	w.mu.Unlock()
}

func (w *workState) setJobsError(msg string) {
	w.mu.Lock()
	w.jobsError = msg
	w.mu.Unlock()
}

// checks renders the workers' states: "ok" or "ok: ..." when healthy,
// anything else names the trouble (see Healthy).
func (w *workState) checks(now time.Time) map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	switch {
	case w.purge == "":
		out["purge"] = "ok: starting"
	case now.Sub(w.purgeAt) > purgeStalled:
		out["purge"] = fmt.Sprintf("stalled: no pass ended for %s", now.Sub(w.purgeAt).Truncate(time.Second))
	default:
		out["purge"] = w.purge
	}
	switch {
	case w.jobsError != "":
		out["jobs"] = w.jobsError
	case w.jobID != "":
		out["jobs"] = "ok: running " + w.jobKind + " " + w.jobID
	default:
		out["jobs"] = "ok: idle"
	}
	return out
}

// Healthy reports whether a check's state is healthy: "ok" or "ok: ...".
func Healthy(state string) bool { return state == "ok" || strings.HasPrefix(state, "ok:") }

// NodeSelf is what the server layer knows of its node: where it listens,
// its version, its open sockets and the checks chat does not make
// (federation, say).
type NodeSelf struct {
	Address      string
	AdminAddress string
	Version      string
	Started      time.Time
	Connections  func() int
	Checks       func(ctx context.Context) map[string]string
}

// NodeView is a node of the cluster as the admin API shows it.
type NodeView struct {
	pubsub.NodeStatus
	// Self marks the node that answered.
	Self bool `json:"self"`
	// Stale: no heartbeat for three intervals (the node died or cannot
	// reach the bus).
	Stale bool `json:"stale"`
	// Healthy: not stale and every check ok.
	Healthy bool `json:"healthy"`
	// Problems lists what makes the node unhealthy.
	Problems []string `json:"problems"`
}

func (s *Service) registry() pubsub.Registry {
	if p, ok := s.bus.(pubsub.RegistryProvider); ok {
		return p.Registry()
	}
	return nil
}

// nodeStatus is this node's heartbeat now.
func (s *Service) nodeStatus(ctx context.Context, self NodeSelf, interval time.Duration) pubsub.NodeStatus {
	now := s.now().UTC()
	st := pubsub.NodeStatus{
		ID: NodeID(), Address: self.Address, AdminAddress: self.AdminAddress, Version: self.Version,
		Started: self.Started.UTC(), Seen: now, IntervalMS: interval.Milliseconds(), Checks: s.work.checks(now),
	}
	if self.Connections != nil {
		st.Connections = self.Connections()
	}
	cctx, cancel := context.WithTimeout(ctx, interval)
	defer cancel()
	for name, err := range s.Ready(cctx) {
		st.Checks[name] = "ok"
		if err != nil {
			st.Checks[name] = "down: " + err.Error()
		}
	}
	if self.Checks != nil {
		for name, v := range self.Checks(cctx) {
			st.Checks[name] = v
		}
	}
	return st
}

// RunHeartbeat writes this node's status to the node registry every
// interval until ctx ends, then removes it (a clean stop is not a death).
// A node whose bus is down cannot beat: the others show it stale, which
// is the truth as far as the cluster can see.
func (s *Service) RunHeartbeat(ctx context.Context, self NodeSelf, interval time.Duration) {
	reg := s.registry()
	if reg == nil {
		return
	}
	failing := false
	beat := func() {
		st := s.nodeStatus(ctx, self, interval)
		actx, cancel := context.WithTimeout(ctx, interval)
		defer cancel()
		err := reg.Announce(actx, st)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			s.log.WarnContext(ctx, "node heartbeat failing; other nodes will show this one stale", "err", err)
		case err == nil && failing:
			s.log.InfoContext(ctx, "node heartbeat restored")
		}
		failing = err != nil
	}
	beat()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = reg.Leave(lctx, NodeID())
			cancel()
			return
		case <-t.C:
			beat()
		}
	}
}

// Nodes lists every node of the cluster from the registry, marking the
// stale and the unhealthy. The node that answers reports its own status
// fresh, so it is listed even while its own heartbeat cannot be written.
func (s *Service) Nodes(ctx context.Context, self NodeSelf) ([]NodeView, error) {
	mine := s.nodeStatus(ctx, self, HeartbeatInterval)
	var all []pubsub.NodeStatus
	if reg := s.registry(); reg != nil {
		var err error
		if all, err = reg.Nodes(ctx); err != nil {
			// The bus is down: this node is all that can be seen, and its
			// bus check says why.
			all = nil
		}
	}
	now := s.now()
	out := []NodeView{}
	found := false
	for _, st := range all {
		if st.ID == mine.ID {
			st, found = mine, true
		}
		out = append(out, view(st, st.ID == mine.ID, now))
	}
	if !found {
		out = append(out, view(mine, true, now))
	}
	return out, nil
}

func view(st pubsub.NodeStatus, self bool, now time.Time) NodeView {
	v := NodeView{NodeStatus: st, Self: self, Problems: []string{}}
	if v.Checks == nil {
		v.Checks = map[string]string{}
	}
	if !self && st.Stale(now) {
		v.Stale = true
		v.Problems = append(v.Problems, fmt.Sprintf("no heartbeat for %s", now.Sub(st.Seen).Truncate(time.Second)))
	}
	for _, name := range slices.Sorted(maps.Keys(v.Checks)) {
		if !Healthy(v.Checks[name]) {
			v.Problems = append(v.Problems, name+": "+v.Checks[name])
		}
	}
	v.Healthy = len(v.Problems) == 0
	return v
}
