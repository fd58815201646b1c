package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/crypttalk/crypttalk/chat"
)

func (s *Server) addMsg(c *fiber.Ctx) error {
	var b struct {
		From    string `json:"from"`
		To      string `json:"to"`
		Message string `json:"message"`
		TxnID   string `json:"txn_id"`
	}
	if err := s.decode(c, &b); err != nil {
		return err
	}
	m, err := s.svc.Send(c.UserContext(), principal(c), chat.SendRequest{From: b.From, To: b.To, Text: b.Message, TxnID: b.TxnID})
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"msg": m})
}

func (s *Server) getMsg(c *fiber.Ctx) error {
	var b struct {
		From      string `json:"from"`
		To        string `json:"to"`
		BeforeSeq int64  `json:"before_seq"`
		AfterSeq  int64  `json:"after_seq"`
		Limit     int    `json:"limit"`
	}
	if err := s.decode(c, &b); err != nil {
		return err
	}
	msgs, err := s.svc.History(c.UserContext(), principal(c), chat.HistoryRequest{From: b.From, To: b.To, BeforeSeq: b.BeforeSeq, AfterSeq: b.AfterSeq, Limit: b.Limit})
	if err != nil {
		return err
	}
	return c.JSON(msgs)
}

func (s *Server) conversations(c *fiber.Ctx) error {
	convs, err := s.svc.Conversations(c.UserContext(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(convs)
}

func (s *Server) setTimer(c *fiber.Ctx) error {
	var b struct {
		Seconds int64  `json:"seconds"`
		Mode    string `json:"mode"`
	}
	if err := s.decode(c, &b); err != nil {
		return err
	}
	t, err := s.svc.SetTimer(c.UserContext(), principal(c), chat.TimerRequest{Peer: param(c, "peer"), Seconds: b.Seconds, Mode: b.Mode})
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"conversation_id": t.ConversationID, "seconds": t.Seconds, "mode": t.Mode, "timer": t})
}

func (s *Server) destroyConversation(c *fiber.Ctx) error {
	id, err := s.svc.DestroyConversation(c.UserContext(), principal(c), param(c, "peer"))
	if err != nil {
		return err
	}
	return ok(c, fiber.Map{"conversation_id": id})
}
