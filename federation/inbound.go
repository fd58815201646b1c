package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
)

// Route paths.
const (
	PathKeys    = "/_crypttalk/key/v1/server"
	PathSend    = "/_crypttalk/federation/v1/send/:txnId"
	PathProfile = "/_crypttalk/federation/v1/query/profile"
	PathMedia   = "/_crypttalk/federation/v1/media/:fileId"
)

// MediaSource is the optional part of Chat that serves our files to the
// servers of their recipients; *chat.Service implements it.
type MediaSource interface {
	LocalMedia(ctx context.Context, origin, fileID string) (*chat.Download, error)
}

// Routes mounts the federation routes at their absolute paths on r.
func (n *Node) Routes(r fiber.Router) {
	r.Get(PathKeys, n.handleKeys)
	r.Put(PathSend, n.handleSend)
	r.Get(PathProfile, n.handleProfile)
	r.Get(PathMedia, n.handleMedia)
}

type errorBody struct {
	Status  bool   `json:"status"`
	Errcode string `json:"errcode"`
	Msg     string `json:"msg"`
}

// refuse answers in the SPEC's error shape.
func refuse(c *fiber.Ctx, status int, code, msg string) error {
	return c.Status(status).JSON(errorBody{Status: false, Errcode: code, Msg: msg})
}

// answerErr turns any error into an answer: a federation *Error or a
// *chat.Error as it says, anything else 503 (our own trouble, retried).
func answerErr(c *fiber.Ctx, err error) error {
	var fe *Error
	var ce *chat.Error
	switch {
	case errors.As(err, &fe):
		return refuse(c, fe.Status, fe.Code, fe.Msg)
	case errors.As(err, &ce) && ce.Status < 500:
		if ce.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(ce.RetryAfter.Seconds()))))
		}
		return refuse(c, ce.Status, ce.Code, ce.Msg)
	default:
		return refuse(c, http.StatusServiceUnavailable, chat.CodeUnavailable, "temporarily unavailable; retry")
	}
}

// readBody reads at most limit bytes of a (possibly streamed) body.
func readBody(c *fiber.Ctx, limit int) ([]byte, error) {
	if cl := c.Request().Header.ContentLength(); cl > limit {
		// The rest stays unread, so the connection cannot carry another request.
		c.Context().SetConnectionClose()
		return nil, tooLarge("the request body is over " + strconv.Itoa(limit) + " bytes")
	}
	var b []byte
	if r := c.Context().RequestBodyStream(); r != nil {
		var err error
		if b, err = io.ReadAll(io.LimitReader(r, int64(limit)+1)); err != nil {
			return nil, malformed("could not read the request body")
		}
	} else {
		b = c.Body()
	}
	if len(b) > limit {
		c.Context().SetConnectionClose()
		return nil, tooLarge("the request body is over " + strconv.Itoa(limit) + " bytes")
	}
	c.Locals("body_read", true) // server.localsBodyRead: the connection may be reused
	return b, nil
}

func (n *Node) handleKeys(c *fiber.Ctx) error {
	doc, err := BuildServerKeys(n.o.ServerName, n.client.Keys(), time.Now(), n.o.KeyValidity)
	if err != nil {
		return answerErr(c, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(doc)
}

// authenticate checks the X-CryptTalk header and the allow/deny lists.
func (n *Node) authenticate(c *fiber.Ctx, body []byte) (string, error) {
	// Fiber's strings point into buffers that fasthttp reuses after the
	// handler; what is parsed from the header may be kept (key cache,
	// sender map), so it is copied first.
	origin, err := n.verifier.VerifyRequest(c.UserContext(), c.Method(), string(c.Request().RequestURI()), body,
		strings.Clone(c.Get(fiber.HeaderAuthorization)))
	if err != nil {
		return "", err
	}
	if !n.list.Allowed(origin) {
		return "", forbidden(ErrServerNotAllowed, origin+" is not allowed to federate with "+n.o.ServerName)
	}
	return origin, nil
}

// handleSend is PUT /send/{txnId} (docs/FEDERATION.md, "Transactions").
func (n *Node) handleSend(c *fiber.Ctx) error {
	ctx := c.UserContext()
	txnID := strings.Clone(c.Params("txnId"))
	if !ValidTxnID(txnID) {
		n.m.inbound.WithLabelValues("refused").Inc()
		return refuse(c, http.StatusBadRequest, codeInvalid, "txnId must be 1 to 255 of A-Z a-z 0-9 . _ ~ -")
	}
	body, err := readBody(c, MaxTransactionBody)
	if err != nil {
		n.m.inbound.WithLabelValues("refused").Inc()
		return answerErr(c, err)
	}
	origin, err := n.authenticate(c, body)
	if err != nil {
		n.m.inbound.WithLabelValues("refused").Inc()
		return answerErr(c, err)
	}
	if l := n.o.Limiter; l != nil {
		ok, retry, err := l.Allow(ctx, "fedtxn:"+origin, n.o.Config.OriginRateCount, n.o.Config.OriginRateWindow)
		if err != nil {
			return answerErr(c, err)
		}
		if !ok {
			n.m.inbound.WithLabelValues("limited").Inc()
			return answerErr(c, chat.RateLimited(retry))
		}
	}
	n.peerAlive(origin)
	if prev, err := n.o.Queue.GetInboundTxn(ctx, origin, txnID); err == nil {
		n.m.inbound.WithLabelValues("replay").Inc()
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(prev)
	} else if !errors.Is(err, store.ErrNotFound) {
		return answerErr(c, err)
	}
	result, err := n.receive(ctx, origin, body)
	if err != nil {
		outcome := "refused"
		var fe *Error
		if !errors.As(err, &fe) {
			outcome = "error" // ours: 503, retried by the sender
		}
		n.m.inbound.WithLabelValues(outcome).Inc()
		return answerErr(c, err)
	}
	if err := n.o.Queue.PutInboundTxn(ctx, origin, txnID, result); errors.Is(err, store.ErrConflict) {
		// A concurrent copy of this transaction recorded its result first.
		if prev, err := n.o.Queue.GetInboundTxn(ctx, origin, txnID); err == nil {
			result = prev
		}
	} else if err != nil {
		// The events are stored; a retransmission is answered from the
		// per-event idempotency instead of the recorded result.
		n.log.WarnContext(ctx, "federation transaction result not recorded", "origin", origin, "txn", txnID, "err", err)
	}
	n.m.inbound.WithLabelValues("ok").Inc()
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(result)
}

// receive verifies every event of the transaction first (one failure
// refuses the whole transaction, nothing stored: a correct sender never
// makes such an event), then hands them to chat (apply: in order within
// each conversation, conversations concurrently). chat's refusals
// are per-event results; its own failures (store down) fail the whole
// transaction with 503 so the sender retries, the events already applied
// being recognised by their id.
func (n *Node) receive(ctx context.Context, origin string, body []byte) ([]byte, error) {
	tx, err := n.verifier.ParseTransaction(origin, body)
	if err != nil {
		return nil, err
	}
	events := make([]*Event, len(tx.Events))
	for i, raw := range tx.Events {
		e, err := n.verifier.VerifyTransactionEvent(ctx, tx, raw)
		if err != nil {
			var fe *Error
			if errors.As(err, &fe) {
				cp := *fe
				cp.Msg = "event " + strconv.Itoa(i) + ": " + fe.Msg
				return nil, &cp
			}
			return nil, err
		}
		events[i] = e
	}
	results, err := n.apply(ctx, origin, events)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"results": results})
}

// applyConcurrency bounds the goroutines applying one transaction. Each
// Receive ends in a durable write; run side by side, those writes share
// the store's group commits (one disk sync for many) instead of paying one
// sync each, which capped a peer's delivery far below its sending rate.
const applyConcurrency = 16

// apply hands the events to chat: the events of one conversation one after
// another in transaction order (their order is the conversation's), those
// of different conversations concurrently. It returns once every started
// Receive has returned, so the caller records the transaction's result only
// after all its events are durable. A failure that fails the transaction
// (429, our own 5xx) stops further events from starting; of several, the
// one of the earliest event is returned, as applying in order would have.
func (n *Node) apply(ctx context.Context, origin string, events []*Event) (map[string]EventResult, error) {
	// The verifier checked conversation_id is the DM id of sender and
	// recipient, so it is the unit of order.
	var convs [][]int
	at := map[string]int{}
	for i, e := range events {
		j, ok := at[e.ConversationID]
		if !ok {
			j = len(convs)
			at[e.ConversationID] = j
			convs = append(convs, nil)
		}
		convs[j] = append(convs[j], i)
	}
	res := make([]*EventResult, len(events))
	errs := make([]error, len(events))
	var failed atomic.Bool
	one := func(i int) {
		defer func() {
			if r := recover(); r != nil {
				// Not the handler's goroutine: the server's recovery does not see it.
				errs[i] = fmt.Errorf("federation: applying event panicked: %v", r)
				failed.Store(true)
			}
		}()
		e := events[i]
		err := n.o.Chat.Receive(ctx, chat.RemoteEvent{EventID: e.EventID, Origin: e.Origin, Type: e.Type, Sender: e.Sender,
			Recipient: e.Recipient, ConversationID: e.ConversationID, OriginTS: e.OriginServerTS, Content: e.Content})
		var ce *chat.Error
		switch {
		case err == nil:
			res[i] = &EventResult{}
		case errors.As(err, &ce) && ce.Status == http.StatusTooManyRequests:
			// A limit that passes with time is not a verdict on the event:
			// the whole transaction is answered 429 and retried.
			errs[i] = err
			failed.Store(true)
		case errors.As(err, &ce) && ce.Status < 500:
			res[i] = &EventResult{Errcode: ce.Code, Msg: ce.Msg}
		default:
			n.log.WarnContext(ctx, "federation event not applied; the transaction fails", "origin", origin, "event", e.EventID, "err", err)
			errs[i] = err
			failed.Store(true)
		}
	}
	work := make(chan []int)
	var wg sync.WaitGroup
	for range min(applyConcurrency, len(convs)) {
		wg.Go(func() {
			for conv := range work {
				for _, i := range conv {
					if failed.Load() {
						break // the sender retries the transaction; what ran is recognised by event id
					}
					one(i)
				}
			}
		})
	}
	for _, conv := range convs {
		work <- conv
	}
	close(work)
	wg.Wait()
	results := make(map[string]EventResult, len(events))
	for i, e := range events {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if res[i] != nil {
			results[e.EventID] = *res[i]
		}
	}
	return results, nil
}

// handleProfile is GET /query/profile?user_id=.
func (n *Node) handleProfile(c *fiber.Ctx) error {
	if _, err := n.authenticate(c, nil); err != nil {
		return answerErr(c, err)
	}
	userID := strings.Clone(c.Query("user_id"))
	if ServerOf(userID) != n.o.ServerName {
		return refuse(c, http.StatusNotFound, chat.CodeNotFound, "user_id is not a user of "+n.o.ServerName)
	}
	p, err := n.o.Chat.LocalProfile(c.UserContext(), userID)
	if err != nil {
		return answerErr(c, err)
	}
	return c.JSON(p)
}

// handleMedia is GET /media/{fileId}: the bytes of a file sent by one of
// our users to a user of the asking server (chat decides), streamed.
func (n *Node) handleMedia(c *fiber.Ctx) error {
	origin, err := n.authenticate(c, nil)
	if err != nil {
		return answerErr(c, err)
	}
	ms, ok := n.o.Chat.(MediaSource)
	if !ok {
		return refuse(c, http.StatusNotFound, chat.CodeNotFound, "this server does not serve media")
	}
	d, err := ms.LocalMedia(c.UserContext(), origin, strings.Clone(c.Params("fileId")))
	if err != nil {
		return answerErr(c, err)
	}
	r, err := d.Open(c.UserContext(), 0)
	if err != nil {
		return answerErr(c, err)
	}
	c.Set(fiber.HeaderContentType, d.Mime)
	c.Set("X-Content-Type-Options", "nosniff")
	// fasthttp closes r once the body is sent.
	return c.SendStream(r, int(d.Size))
}
