package redis

import (
	"embed"

	goredis "github.com/redis/go-redis/v9"
)

// The Lua scripts live in lua/ as plain files so they can be read, linted
// and tried with redis-cli --eval. goredis.Script runs them by SHA and
// loads them again by itself after a Redis restart emptied the script cache.
//
//go:embed lua/*.lua
var luaFS embed.FS

var (
	connectScript    = loadScript("connect.lua")
	disconnectScript = loadScript("disconnect.lua")
	onlineScript     = loadScript("online.lua")
	heartbeatScript  = loadScript("heartbeat.lua")
	limitScript      = loadScript("limit.lua")
	leaseScript      = loadScript("lease.lua")
)

// loadScript prepends lua/prelude.lua (shared helpers) to a script.
func loadScript(name string) *goredis.Script {
	prelude, err := luaFS.ReadFile("lua/prelude.lua")
	if err != nil {
		panic(err) // embedded at build time: only a broken build gets here
	}
	body, err := luaFS.ReadFile("lua/" + name)
	if err != nil {
		panic(err)
	}
	return goredis.NewScript(string(prelude) + "\n" + string(body))
}
