package testenv

import (
	"net"
	"testing"
)

func TestMongoStopStart(t *testing.T) {
	m := StartMongo(t)
	if !m.CanStop() {
		t.Skip("real MongoDB: cannot stop it")
	}
	m.Stop()
	if c, err := net.Dial("tcp", m.addr); err == nil {
		c.Close()
		t.Fatal("still listening after Stop")
	}
	m.Start()
	c, err := net.Dial("tcp", m.addr)
	if err != nil {
		t.Fatal("not listening after Start:", err)
	}
	c.Close()
}
