package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/client"
)

// requestTimeout bounds one send or page request: a server that holds a
// request longer is counted as an error, the run goes on.
const requestTimeout = 30 * time.Second

// runner holds one run.
type runner struct {
	cfg      config
	st       *stats
	members  []*member
	progress io.Writer // nil: no progress line
	closing  atomic.Bool
	pid      int          // server to measure, 0 if none
	cpu      [2]cpuSample // when measuring started and stopped
}

// run sets up the users, runs the scenario and returns its report.
func run(ctx context.Context, cfg config, progress io.Writer) (rep Report, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	raiseFileLimit()
	if cfg.scenario == "restart" { // no users: it times a start on a full data dir
		return restart(ctx, cfg)
	}
	r := &runner{cfg: cfg, st: newStats(), progress: progress, pid: cfg.serverPID}
	if cfg.start {
		srv, serr := startServer(ctx, cfg.serverBin, cfg.serverEnv)
		if serr != nil {
			return Report{}, serr
		}
		defer func() { // err is run's result
			if serr := srv.stop(); err == nil {
				err = serr
			}
		}()
		r.cfg.urls, r.pid = []string{srv.url}, srv.pid()
	}
	if r.cfg.pin.server >= 0 {
		if err := pinProcess(r.pid, r.cfg.pin.server); err != nil {
			return Report{}, err
		}
	}
	if err := r.register(ctx); err != nil {
		return Report{}, err
	}
	defer r.closeAll()
	pctx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() { r.showProgress(pctx); close(progressDone) }()
	defer func() { stopProgress(); <-progressDone }()
	scenario := map[string]func(context.Context) (Report, error){
		"chat": r.traffic, "max": r.traffic, "idle": r.idle, "reconnect": r.reconnect, "history": r.history,
	}[cfg.scenario]
	rep, err = scenario(ctx)
	if rep.Errors == nil { // cut short before its report: show the errors so far
		rep = r.st.report(0)
	}
	rep.Scenario, rep.Users, rep.Devices = cfg.scenario, cfg.users, cfg.devices
	if cfg.scenario != "history" { // history pages over REST only
		rep.Connections = cfg.users * cfg.devices
	}
	if r.pid != 0 {
		if u, perr := readProc(r.pid); perr == nil {
			rep.ServerRSSBytes, rep.ServerCPUSeconds = u.peakRSS, u.cpuSeconds
		}
	}
	r.cpuFigures(&rep)
	return rep, err
}

// sendOne sends m's next message over its first device and waits for the
// ack; a stored message is then expected on every device of the peer.
func (r *runner) sendOne(ctx context.Context, m *member) {
	conn := m.devices[0].conn.Load()
	if conn == nil {
		r.st.fail("send", client.ErrClosed)
		return
	}
	r.sendWith(ctx, m, "send", func(ctx context.Context, to, text string) (string, error) {
		// Request rather than SendMsg: the tool needs only the
		// conversation id, and decoding the whole message (times
		// included) costs CPU the server on the same machine would miss.
		raw, err := conn.Request(ctx, "send-msg", sendMsgData{To: to, Msg: text})
		if err != nil {
			return "", err
		}
		var ack struct {
			ConversationID string `json:"conversation_id"`
		}
		if err := json.Unmarshal(raw, &ack); err != nil {
			return "", fmt.Errorf("decode send-msg ack: %w", err)
		}
		return ack.ConversationID, nil
	})
}

// sendMsgData is the data of a send-msg frame.
type sendMsgData struct {
	To  string `json:"to"`
	Msg string `json:"msg"`
}

// sendREST is sendOne over POST /api/messages/addmsg.
func (r *runner) sendREST(ctx context.Context, m *member) {
	r.sendWith(ctx, m, "addmsg", func(ctx context.Context, to, text string) (string, error) {
		msg, err := m.api.AddMsg(ctx, to, text, "")
		if err != nil {
			return "", err
		}
		return msg.ConversationID, nil
	})
}

// sendFunc sends text to a user and returns the conversation id.
type sendFunc func(ctx context.Context, to, text string) (conv string, err error)

func (r *runner) sendWith(ctx context.Context, m *member, op string, send sendFunc) {
	num := m.sent.Add(1)
	body := encodeBody(m.idx, num, time.Since(r.st.epoch), r.cfg.size)
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	conv, err := send(ctx, m.peer.user.UserID, body)
	if err != nil {
		r.st.fail(op, err)
		return
	}
	m.learn(conv)
	m.peer.learn(conv)
	r.st.ack(m.idx, num, m.peer.deviceIDs())
}

// drain waits until every acknowledged message has arrived, or -drain ends.
func (r *runner) drain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.drain)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if lost, _ := r.st.ledger.tally(); lost == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// closeAll closes every open socket at once and waits for their readers.
func (r *runner) closeAll() {
	r.closing.Store(true)
	defer r.closing.Store(false)
	var wg sync.WaitGroup
	for _, d := range r.allDevices() {
		conn := d.conn.Swap(nil)
		if conn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = conn.Close()
			<-d.done
		}()
	}
	wg.Wait()
}

// measure lets warmup pass, then measures for d; it returns the measured
// time (shorter if ctx ends first).
func (r *runner) measure(ctx context.Context, warmup, d time.Duration) time.Duration {
	if !sleepCtx(ctx, warmup) {
		return 0
	}
	server := serverCPUReader(func() int { return r.pid }, r.cfg.metrics, r.cfg.token)
	r.cpu[0] = sampleCPU(ctx, server)
	r.st.startMeasuring()
	sleepCtx(ctx, d)
	elapsed := r.st.stopMeasuring()
	r.cpu[1] = sampleCPU(context.WithoutCancel(ctx), server)
	return elapsed
}

// cpuFigures fills the report's CPU per message from the two samples.
func (r *runner) cpuFigures(rep *Report) {
	b, a := r.cpu[0], r.cpu[1]
	if a == (cpuSample{}) { // never measured
		return
	}
	rep.ServerCPUUsPerMsg = usPerMsg(b.server, a.server, rep.Acked)
	rep.ToolCPUUsPerMsg = usPerMsg(b.tool, a.tool, rep.Acked)
	if b.server >= 0 && a.server >= b.server {
		rep.ServerCPUWindowS = a.server - b.server
	}
	if b.tool >= 0 && a.tool >= b.tool {
		rep.ToolCPUWindowS = a.tool - b.tool
	}
}

// showProgress prints a progress line every second while the counters are
// on, until ctx ends; the line is wiped at the end.
func (r *runner) showProgress(ctx context.Context) {
	if r.progress == nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(r.progress, "\r\033[K")
			return
		case <-tick.C:
		}
		if !r.st.measuring.Load() {
			continue
		}
		p := r.st.report(r.st.measured())
		fmt.Fprintf(r.progress, "\r\033[K%4.0fs  acked %d (%.0f/s)  delivered %d (%.0f/s)  p99 %.2fms  lost %d  dup %d  errors %d",
			p.DurationS, p.Acked, p.AckedPerSec, p.Delivered, p.DeliveredPerSec, p.P99ms, p.Lost, p.Duplicated, p.ErrorsTotal)
	}
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
