package testenv

import "time"

// Poll calls cond every few milliseconds until it holds or limit has
// passed, and reports whether it held. Tests that must report a figure
// when a condition never comes (counts of lost messages, say) use it
// instead of a helper that fails at once.
func Poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
