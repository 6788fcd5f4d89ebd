package rediskv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
)

var (
	_ flagcache.Store         = (*Store)(nil)
	_ flagcache.Compactor     = (*Store)(nil)
	_ flagcache.HistoryReader = (*Store)(nil)
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Prefix starts every key, inside a hash tag: "{flagcache}:flags" and so
	// on. Default "flagcache". Stores with different prefixes share nothing.
	Prefix string
	// Retention is how long delete tombstones stay in the change feed;
	// default flagcache.DefaultChangeRetention.
	Retention time.Duration
	// Now is the clock for timestamps and retention; default time.Now.
	Now func() time.Time
	// History bounds the history kept of each flag; default everything.
	History flagcache.HistoryRetention
}

// Store is a flagcache.Store kept entirely in Redis. It is safe for
// concurrent use, also by many processes sharing one Redis.
type Store struct {
	client    redis.UniversalClient
	keys      keys
	retention time.Duration
	now       func() time.Time
	keep      flagcache.HistoryRetention
}

// New returns a Store on client (a single node, Sentinel or Cluster client).
// It does not touch the server.
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "flagcache"
	}
	if opts.Retention <= 0 {
		opts.Retention = flagcache.DefaultChangeRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{client: client, keys: newKeys(opts.Prefix), retention: opts.Retention, now: opts.Now, keep: opts.History}
}

// A live flag is, in the flags hash, an envelope the write script builds
// around the definition JSON, which is stored without created_at: the
// script splices in the created_at it keeps per id, so an update keeps it
// without a read before the compare-and-set:
//
//	{"v":<version>,"r":<revision>,"c":"<created_at>","d":<definition>}
//
// "c" is left out (or empty) by a writer that stores the definition as is,
// created_at and all. The definition is served as stored, whatever its
// shape (flagcache.DecodeStored).
type envelope struct {
	Version    int64           `json:"v"`
	Revision   int64           `json:"r"`
	CreatedAt  string          `json:"c"`
	Definition json.RawMessage `json:"d"`
}

// errNoEnvelope is a value of the flags hash that is not an envelope: a
// writer sharing the hash stored something else there.
var errNoEnvelope = errors.New("not an envelope")

func parseFlag(id flagcache.ID, raw string) (*flagcache.Stored, error) {
	e, ok := parseEnvelope(raw)
	if !ok {
		// Another layout of the same members: encoding/json (which stops
		// at 10,000 levels, and the scan above does not).
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("rediskv: flag %q: %w: %v", id, errNoEnvelope, err)
		}
	}
	if len(e.Definition) == 0 || e.Version < 1 {
		return nil, fmt.Errorf("rediskv: flag %q: %w: no definition or version", id, errNoEnvelope)
	}
	f := flagcache.DecodeStored(id, e.Definition, e.Version, e.Revision)
	if e.CreatedAt != "" {
		// One that is not a timestamp is left out: the definition is
		// served as it holds it.
		if t, err := time.Parse(time.RFC3339Nano, e.CreatedAt); err == nil {
			f.Definition.Metadata.CreatedAt = t
			f = flagcache.NewStored(f.Definition, e.Version, e.Revision)
		}
	}
	return f, nil
}

// decodeFlag is parseFlag reading a value that is no envelope as the
// flag the store's books (its version, the revision of its change) say
// is there: see notEnvelope.
func (s *Store) decodeFlag(ctx context.Context, id flagcache.ID, raw string) (*flagcache.Stored, error) {
	f, err := parseFlag(id, raw)
	if !errors.Is(err, errNoEnvelope) {
		return f, err
	}
	var version *redis.StringCmd
	var revision *redis.FloatCmd
	if _, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		version = p.HGet(ctx, s.keys.versions, string(id))
		revision = p.ZScore(ctx, s.keys.changes, string(id))
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate(ctx, err)
	}
	v, _ := version.Int64()
	return notEnvelope(id, raw, v, int64(revision.Val())), nil
}

// notEnvelope is the flag of a value of the flags hash that is no
// envelope, at the version and revision the store's books hold: the whole
// value served as its definition (flagcache.DecodeStored), marked, so one
// value another writer put there breaks no read of the others.
func notEnvelope(id flagcache.ID, raw string, version, revision int64) *flagcache.Stored {
	f := flagcache.DecodeStored(id, []byte(raw), max(version, 1), revision)
	f.Malformed = `invalid definition: the store holds no envelope {"v","r","d"} for it: served as the whole value`
	return f
}

// parseEnvelope reads the envelope the write script builds, without a
// JSON decoder.
func parseEnvelope(raw string) (e envelope, ok bool) {
	rest := raw
	if rest, ok = strings.CutPrefix(rest, `{"v":`); !ok {
		return e, false
	}
	if e.Version, rest, ok = leadingInt(rest); !ok {
		return e, false
	}
	if rest, ok = strings.CutPrefix(rest, `,"r":`); !ok {
		return e, false
	}
	if e.Revision, rest, ok = leadingInt(rest); !ok {
		return e, false
	}
	if after, found := strings.CutPrefix(rest, `,"c":"`); found {
		if e.CreatedAt, rest, ok = strings.Cut(after, `"`); !ok {
			return e, false
		}
	}
	if rest, ok = strings.CutPrefix(rest, `,"d":`); !ok {
		return e, false
	}
	d, ok := strings.CutSuffix(rest, "}")
	e.Definition = json.RawMessage(d)
	return e, ok
}

// leadingInt parses the decimal digits at the start of s.
func leadingInt(s string) (int64, string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	return n, s[i:], err == nil
}

// Get implements flagcache.Store.
func (s *Store) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	raw, err := s.client.HGet(ctx, s.keys.flags, string(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, flagcache.ErrNotFound
	}
	if err != nil {
		return nil, translate(ctx, err)
	}
	return s.decodeFlag(ctx, id, raw)
}

// GetMany implements flagcache.Store with one HMGET.
func (s *Store) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.ValidateIDs(ids); err != nil {
		return nil, err
	}
	flags, err := s.fetch(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[flagcache.ID]*flagcache.Stored, len(flags))
	for _, f := range flags {
		out[f.Definition.ID] = f
	}
	return out, nil
}

// fetch returns the live flags among ids, in the order of ids, skipping
// the missing ones.
func (s *Store) fetch(ctx context.Context, ids []flagcache.ID) ([]*flagcache.Stored, error) {
	if len(ids) == 0 {
		return []*flagcache.Stored{}, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = string(id)
	}
	vals, err := s.client.HMGet(ctx, s.keys.flags, fields...).Result()
	if err != nil {
		return nil, translate(ctx, err)
	}
	out := make([]*flagcache.Stored, 0, len(vals))
	for i, v := range vals {
		raw, ok := v.(string)
		if !ok {
			continue // missing
		}
		f, err := s.decodeFlag(ctx, ids[i], raw)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Exists implements flagcache.Store.
func (s *Store) Exists(ctx context.Context, id flagcache.ID) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := id.Validate(); err != nil {
		return false, err
	}
	ok, err := s.client.HExists(ctx, s.keys.flags, string(id)).Result()
	return ok, translate(ctx, err)
}

// Create implements flagcache.Store.
func (s *Store) Create(ctx context.Context, def *flagcache.Definition) (*flagcache.Stored, error) {
	def, actor, err := flagcache.PrepareWrite(ctx, def, 0)
	if err != nil {
		return nil, err
	}
	return s.put(ctx, "create", def, 0, actor)
}

// Update implements flagcache.Store: one EVALSHA that checks the version,
// keeps created_at and writes the flag, its indexes and the change log.
func (s *Store) Update(ctx context.Context, def *flagcache.Definition, expectedVersion int64) (*flagcache.Stored, error) {
	def, actor, err := flagcache.PrepareWrite(ctx, def, expectedVersion)
	if err != nil {
		return nil, err
	}
	return s.put(ctx, "update", def, expectedVersion, actor)
}

// Delete implements flagcache.Store.
func (s *Store) Delete(ctx context.Context, id flagcache.ID, expectedVersion int64) (flagcache.Change, error) {
	actor, err := flagcache.PrepareDelete(ctx, id, expectedVersion)
	if err != nil {
		return flagcache.Change{}, err
	}
	res, err := s.write(ctx, "delete", id, expectedVersion, s.now(), "", actor, nil)
	if err != nil {
		return flagcache.Change{}, err
	}
	return flagcache.Change{Revision: res.revision, Op: flagcache.OpDelete, ID: id, Version: res.version, Actor: actor}, nil
}

// put runs a create or an update of a definition from flagcache.PrepareWrite.
func (s *Store) put(ctx context.Context, op string, def *flagcache.Definition, expectedVersion int64, actor string) (*flagcache.Stored, error) {
	now := s.now()
	def.Stamp(now, now)
	body := *def
	body.Metadata.CreatedAt = time.Time{} // omitted: the script splices in the kept one
	res, err := s.write(ctx, op, def.ID, expectedVersion, now, string(body.AppendJSON(nil)), actor, indexMembers(def))
	if err != nil {
		return nil, err
	}
	if def.Metadata.CreatedAt, err = time.Parse(time.RFC3339Nano, res.createdAt); err != nil {
		return nil, fmt.Errorf("rediskv: flag %q: corrupt created_at %q", def.ID, res.createdAt)
	}
	return flagcache.NewStored(def, res.version, res.revision), nil
}

type writeResult struct {
	version, revision int64
	createdAt         string
}

// write runs the write script and maps its refusals to the contract's
// errors.
func (s *Store) write(ctx context.Context, op string, id flagcache.ID, expectedVersion int64, now time.Time, definition, actor string, members []string) (writeResult, error) {
	k := s.keys
	now = flagcache.Timestamp(now)
	args := make([]any, 0, 9+len(members))
	args = append(args, op, string(id), expectedVersion, now.Format(time.RFC3339Nano), now.UnixMicro(), definition)
	args = append(args, encodeActor(actor), s.keep.MaxVersions, s.pruneBefore(now))
	for _, m := range members {
		args = append(args, m)
	}
	reply, err := writeScript.Run(ctx, s.client,
		[]string{k.flags, k.versions, k.created, k.index, k.members(id), k.updated, k.changes, k.tombstones, k.state, k.actors, k.history(id)},
		args...).Slice()
	if err != nil {
		return writeResult{}, translate(ctx, err)
	}
	status, _ := reply[0].(string)
	switch status {
	case "ok":
		res := writeResult{version: toInt(reply[1]), revision: toInt(reply[2])}
		if len(reply) > 3 {
			res.createdAt, _ = reply[3].(string)
		}
		return res, nil
	case "exists":
		return writeResult{}, flagcache.ErrAlreadyExists
	case "notfound":
		return writeResult{}, flagcache.ErrNotFound
	case "conflict":
		return writeResult{}, &flagcache.VersionConflictError{ID: id, Expected: expectedVersion, Actual: toInt(reply[1])}
	}
	return writeResult{}, fmt.Errorf("rediskv: unexpected reply from the write script: %v", reply)
}

// toInt reads an integer reply, or a number sent back as a string.
func toInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil { // a score such as "1e+16"
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
		return n
	}
	return 0
}
