package rediskv

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts. They are package-level values run with Script.Run:
// EVALSHA, falling back to EVAL when the server answers NOSCRIPT (after a
// SCRIPT FLUSH, a restart or a failover), so the script cache needs no care.
// Every key a script touches is passed in KEYS; no script builds a key name.
var (
	//go:embed lua/write.lua
	writeLua string
	//go:embed lua/compact.lua
	compactLua string
	//go:embed lua/changes.lua
	changesLua string
	//go:embed lua/put_if_newer.lua
	putIfNewerLua string

	writeScript      = redis.NewScript(writeLua)
	compactScript    = redis.NewScript(compactLua + "\nreturn compact(KEYS[1], KEYS[2], KEYS[3], ARGV[1])\n")
	changesScript    = redis.NewScript(compactLua + "\n" + changesLua)
	putIfNewerScript = redis.NewScript(putIfNewerLua)
)
