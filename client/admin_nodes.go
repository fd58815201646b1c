package client

import (
	"context"
	"time"
)

// Node is one node of the cluster as the node registry has it
// (GET /_admin/v1/nodes).
type Node struct {
	ID           string            `json:"id"`
	Address      string            `json:"address"`
	AdminAddress string            `json:"admin_address,omitempty"`
	Version      string            `json:"version"`
	Started      time.Time         `json:"started"`
	Seen         time.Time         `json:"seen"`
	IntervalMS   int64             `json:"interval_ms"`
	Connections  int               `json:"connections"`
	Checks       map[string]string `json:"checks"`
	Self         bool              `json:"self"`
	Stale        bool              `json:"stale"`
	Healthy      bool              `json:"healthy"`
	Problems     []string          `json:"problems"`
}

// NodeConnections is one node's open sockets in Stats.
type NodeConnections struct {
	ID          string `json:"id"`
	Address     string `json:"address"`
	Connections int    `json:"connections"`
	Stale       bool   `json:"stale"`
	Self        bool   `json:"self"`
}

// Nodes lists every node of the cluster, stale and unhealthy ones marked.
func (a *Admin) Nodes(ctx context.Context) ([]Node, error) {
	out := struct {
		Nodes []Node `json:"nodes"`
	}{Nodes: []Node{}}
	return out.Nodes, a.c.Do(ctx, "GET", "/_admin/v1/nodes", nil, &out)
}
