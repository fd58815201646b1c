package federation

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// maxIDLen bounds user ids and server names, as Matrix does (255 bytes).
const maxIDLen = 255

// ServerOf returns the server name of a user id "@localpart:server_name"
// (everything after the first colon, so a port stays with the server),
// or "" when userID does not have that shape.
func ServerOf(userID string) string {
	if len(userID) > maxIDLen || !strings.HasPrefix(userID, "@") {
		return ""
	}
	local, server, ok := strings.Cut(userID[1:], ":")
	if !ok || local == "" || server == "" || strings.ContainsAny(userID, " \t\r\n\x00") {
		return ""
	}
	return server
}

// DMConversationID derives a direct conversation's id from the two user
// ids alone, so both servers name it the same without agreeing first:
//
//	"!" + unpadded URL-safe base64( SHA-256( "crypttalk-dm" 0x00 lo 0x00 hi )[:18] )
//
// where lo and hi are the two user ids ordered by their UTF-8 bytes. It is
// the formula of chat.ConversationID (a test keeps the two equal), so a
// conversation that starts local and a federated one share one id.
func DMConversationID(a, b string) string {
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte("crypttalk-dm\x00" + a + "\x00" + b))
	return "!" + base64.RawURLEncoding.EncodeToString(sum[:18])
}
