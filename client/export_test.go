package client

import "github.com/flagcache/flagcache"

// Peek returns what the local cache holds for id, coherent or not:
// the flag (nil for a tombstone), its version, and whether there is an
// entry at all.
func Peek(c *Client, id flagcache.ID) (*flagcache.Stored, int64, bool) {
	e, ok := c.cache.peek(id)
	return e.stored, e.version, ok
}

// SetBeforeInstall installs the seam that runs between a Get's remote read
// and the install of its answer.
func SetBeforeInstall(c *Client, f func(flagcache.ID)) { c.beforeInstall = f }
