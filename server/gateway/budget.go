package gateway

import "golang.org/x/time/rate"

// frameBudget is one socket's allowance of client frames: a token bucket,
// so that a burst of honest activity (a replay answered with read frames)
// passes and a flood is cut at once, before any of it is decoded. Only the
// socket's read loop touches it.
type frameBudget struct {
	l *rate.Limiter
}

// spend takes one frame from the budget and reports whether there was one.
func (b *frameBudget) spend(lim Limits) bool {
	if b.l == nil {
		b.l = rate.NewLimiter(rate.Limit(lim.FrameRate), lim.FrameBurst)
	}
	return b.l.Allow()
}
