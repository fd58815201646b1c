// Command ctws is a minimal WebSocket client for Crypt-Talk's /ws, for the
// README's walk-through and for debugging: it authenticates with a token,
// sends each line of stdin as a frame, and prints every frame it receives.
//
//	ctws -url ws://localhost:5000/ws -token "$TOKEN" [-since '{"!conv":3}'] [-wait 2s]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fasthttp/websocket"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ctws:", err)
		os.Exit(1)
	}
}

func run(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("ctws", flag.ContinueOnError)
	url := fs.String("url", "ws://localhost:5000/ws", "WebSocket URL")
	token := fs.String("token", os.Getenv("TOKEN"), "access token (default $TOKEN)")
	since := fs.String("since", "", `JSON object of conversation_id -> seq to replay after, e.g. {"!abc":3}`)
	wait := fs.Duration("wait", 2*time.Second, "how long to keep printing after stdin ends (0: until closed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("a token is required (-token or $TOKEN)")
	}
	conn, _, err := websocket.DefaultDialer.Dial(*url, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	auth := map[string]any{"token": *token}
	if *since != "" {
		var s map[string]int64
		if err := json.Unmarshal([]byte(*since), &s); err != nil {
			return fmt.Errorf("-since: %w", err)
		}
		auth["since"] = s
	}
	if err := conn.WriteJSON(map[string]any{"event": "auth", "data": auth}); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				done <- err
				return
			}
			fmt.Fprintln(out, string(b))
		}
	}()
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if line := sc.Bytes(); len(line) > 0 {
			if err := conn.WriteMessage(websocket.TextMessage, line); err != nil {
				return err
			}
		}
	}
	select {
	case err := <-done:
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure {
			return nil
		}
		return err
	case <-waitFor(*wait):
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		return nil
	}
}

func waitFor(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	return time.After(d)
}
