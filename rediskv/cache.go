package rediskv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
)

// CacheOptions configure a Cache. The zero value is ready to use.
type CacheOptions struct {
	// Prefix starts every key: "<Prefix>:<id>". Default "flagcache:cache".
	// There is no hash tag: entries spread over the slots of a cluster.
	Prefix string
	// TTL is how long a cached flag lives; default 10 minutes.
	TTL time.Duration
	// TombstoneTTL is how long a delete tombstone lives; default TTL.
	TombstoneTTL time.Duration
	// Logger receives a warning for each corrupt entry read (and served as a
	// miss); default slog.Default().
	Logger *slog.Logger
}

// Cache is the shared Redis tier of tiered.Store: one key per flag holding
// the flag or a versioned tombstone. Writers and fillers install entries
// with PutIfNewer, which never moves an entry back to an older version.
// Safe for concurrent use.
type Cache struct {
	client       redis.UniversalClient
	prefix       string
	ttl          time.Duration
	tombstoneTTL time.Duration
	log          *slog.Logger
}

// Entry is a cached flag (Flag != nil) or a versioned tombstone
// (Flag == nil, Deleted == true).
type Entry struct {
	ID      flagcache.ID
	Version int64
	Deleted bool
	Flag    *flagcache.Stored
}

// NewCache returns a Cache on client. It does not touch the server.
func NewCache(client redis.UniversalClient, opts CacheOptions) *Cache {
	if opts.Prefix == "" {
		opts.Prefix = "flagcache:cache"
	}
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.TombstoneTTL <= 0 {
		opts.TombstoneTTL = opts.TTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Cache{client: client, prefix: opts.Prefix, ttl: opts.TTL, tombstoneTTL: opts.TombstoneTTL, log: opts.Logger}
}

func (c *Cache) key(id flagcache.ID) string { return c.prefix + ":" + string(id) }

// Get returns the entry of id; false on a miss. A value that is corrupt or
// of an unknown shape is a miss, logged, never served.
func (c *Cache) Get(ctx context.Context, id flagcache.ID) (Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, false, err
	}
	if err := id.Validate(); err != nil {
		return Entry{}, false, err
	}
	raw, err := c.client.Get(ctx, c.key(id)).Result()
	if errors.Is(err, redis.Nil) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, translate(ctx, err)
	}
	return c.decode(id, raw)
}

// GetMany returns the entries found among ids, in one round trip: a
// pipeline of GETs, which go-redis splits per node on a cluster (an MGET
// would need every key in one slot).
func (c *Cache) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.ValidateIDs(ids); err != nil {
		return nil, err
	}
	out := make(map[flagcache.ID]Entry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cmds := make(map[flagcache.ID]*redis.StringCmd, len(ids))
	_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			if cmds[id] == nil {
				cmds[id] = p.Get(ctx, c.key(id))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate(ctx, err)
	}
	for id, cmd := range cmds {
		raw, err := cmd.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, translate(ctx, err)
		}
		if e, ok, _ := c.decode(id, raw); ok {
			out[id] = e
		}
	}
	return out, nil
}

// PutIfNewer installs e only if its version is strictly newer than the
// entry there, flag or tombstone, and reports whether it did. The entry
// lives TTL (a tombstone TombstoneTTL).
func (c *Cache) PutIfNewer(ctx context.Context, e Entry) (installed bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	value, err := encodeEntry(e)
	if err != nil {
		return false, err
	}
	ttl := c.ttl
	if e.Deleted {
		ttl = c.tombstoneTTL
	}
	n, err := putIfNewerScript.Run(ctx, c.client, []string{c.key(e.ID)}, e.Version, value, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, translate(ctx, err)
	}
	return n == 1, nil
}

// An entry's value is a header the script reads without decoding JSON,
// "v=<version>;d=<0|1>;", followed by the Stored JSON of a flag or nothing
// for a tombstone.
func encodeEntry(e Entry) (string, error) {
	if err := e.ID.Validate(); err != nil {
		return "", err
	}
	if e.Version < 1 {
		return "", flagcache.Invalid("version", "must be at least 1")
	}
	header := "v=" + strconv.FormatInt(e.Version, 10)
	if e.Deleted {
		if e.Flag != nil {
			return "", flagcache.Invalid("flag", "a tombstone carries no flag")
		}
		return header + ";d=1;", nil
	}
	if e.Flag == nil || e.Flag.Definition == nil {
		return "", flagcache.Invalid("flag", "required unless deleted")
	}
	if e.Flag.Version != e.Version || e.Flag.Definition.ID != e.ID {
		return "", flagcache.Invalid("flag", "version %d of %q does not match the entry's %d of %q",
			e.Flag.Version, e.Flag.Definition.ID, e.Version, e.ID)
	}
	// As stored: neither HTML-escaped nor limited in nesting (json.Marshal).
	return header + ";d=0;" + string(e.Flag.AppendJSON(nil)), nil
}

// decode parses a cached value; anything unexpected is logged and a miss.
func (c *Cache) decode(id flagcache.ID, raw string) (Entry, bool, error) {
	e, err := decodeEntry(id, raw)
	if err != nil {
		c.log.Warn("rediskv: ignoring corrupt cache entry", "key", c.key(id), "err", err)
		return Entry{}, false, nil
	}
	return e, true, nil
}

func decodeEntry(id flagcache.ID, raw string) (Entry, error) {
	rest, ok := strings.CutPrefix(raw, "v=")
	if !ok {
		return Entry{}, errors.New("no version header")
	}
	digits, rest, ok := strings.Cut(rest, ";")
	version, err := strconv.ParseInt(digits, 10, 64)
	if !ok || err != nil || version < 1 {
		return Entry{}, fmt.Errorf("bad version %q", digits)
	}
	e := Entry{ID: id, Version: version}
	if body, ok := strings.CutPrefix(rest, "d=1;"); ok {
		if body != "" {
			return Entry{}, errors.New("tombstone with a body")
		}
		e.Deleted = true
		return e, nil
	}
	body, ok := strings.CutPrefix(rest, "d=0;")
	if !ok {
		return Entry{}, errors.New("no deleted marker")
	}
	var f flagcache.Stored
	if err := f.UnmarshalJSON([]byte(body)); err != nil {
		return Entry{}, err
	}
	if f.Definition == nil || f.Definition.ID != id || f.Version != version || f.ETag != flagcache.ETag(version) {
		return Entry{}, fmt.Errorf("flag does not match its header (id %q, version %d)", id, version)
	}
	e.Flag = &f
	return e, nil
}
