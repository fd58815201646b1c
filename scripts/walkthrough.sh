#!/usr/bin/env bash
# The README's walk-through, runnable: register two users, chat over REST
# and WebSocket, read the history. BASE defaults to the `make run` server.
# test/e2e runs this script against a fresh server, so the README stays true.
set -euo pipefail
BASE=${BASE:-http://localhost:5000}
WS=${BASE/http/ws}/ws
CTWS=${CTWS:-go run ./cmd/ctws}
json() { curl -sS -H 'Content-Type: application/json' "$@"; }
token() { sed -E 's/.*"token":"([^"]+)".*/\1/'; }

# 1. Two accounts (the answer carries a bearer token).
ALICE=$(json -X POST "$BASE/api/auth/register" -d '{"username":"alice","email":"alice@example.org","password":"correct horse battery"}' | token)
BOB=$(json -X POST "$BASE/api/auth/register" -d '{"username":"bob","email":"bob@example.org","password":"correct horse battery"}' | token)

# 2. Alice writes to Bob over REST.
json -X POST "$BASE/api/messages/addmsg" -H "Authorization: Bearer $ALICE" \
  -d '{"to":"@bob:localhost","message":"hello bob","txn_id":"walk-1"}'
echo

# 3. Bob answers over the WebSocket; the ack carries the stored message.
echo '{"event":"send-msg","id":"1","data":{"to":"@alice:localhost","msg":"hi alice"}}' |
  $CTWS -url "$WS" -token "$BOB" -wait 1s

# 4. Alice reads the conversation (oldest first).
json -X POST "$BASE/api/messages/getmsg" -H "Authorization: Bearer $ALICE" -d '{"to":"@bob:localhost"}'
echo
