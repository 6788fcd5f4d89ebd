package rediskv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
)

// Each id's history is a sorted set "{prefix}:history:<id>", version ->
// entry, written by the write script in the same run as the write. An
// entry is the JSON
//
//	{"t": commit time µs, "v": version, "r": revision, "a": actor,
//	 "o": "upsert" | "delete", "c": created_at, "d": definition}
//
// with "t" first, so the script prunes by age without decoding, and "c"
// and "d" only for an upsert (the definition stored without created_at, as
// in the flags hash).
type historyEntry struct {
	At         int64                 `json:"t"`
	Version    int64                 `json:"v"`
	Revision   int64                 `json:"r"`
	Actor      string                `json:"a"`
	Op         flagcache.Op          `json:"o"`
	CreatedAt  time.Time             `json:"c"`
	Definition *flagcache.Definition `json:"d"`
}

// history returns the key of id's history, built in Go from a validated
// id like the members key.
func (k keys) history(id flagcache.ID) string {
	return k.histories + string(id)
}

// encodeActor returns the actor as a JSON string, which the script splices
// into the entry as it is.
func encodeActor(actor string) string {
	b, _ := json.Marshal(actor)
	return string(b)
}

func decodeActor(raw string) string {
	var a string
	if json.Unmarshal([]byte(raw), &a) != nil {
		return ""
	}
	return a
}

// pruneBefore is the script's age bound for a write at now: entries older
// than the retention's MaxAge, in µs; 0 when age bounds nothing.
func (s *Store) pruneBefore(now time.Time) int64 {
	if s.keep.MaxAge <= 0 {
		return 0
	}
	return now.Add(-s.keep.MaxAge).UnixMicro()
}

// retained returns the history of id that the retention keeps now, newest
// first. A flag stored before history existed has none yet: its live
// version stands for it, by ActorUnknown.
func (s *Store) retained(ctx context.Context, id flagcache.ID) ([]flagcache.HistoryEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := id.Validate(); err != nil {
		return nil, err
	}
	stop := int64(-1)
	if s.keep.MaxVersions > 0 {
		stop = int64(s.keep.MaxVersions) - 1
	}
	raws, err := s.client.ZRevRange(ctx, s.keys.history(id), 0, stop).Result()
	if err != nil {
		return nil, translate(ctx, err)
	}
	if len(raws) == 0 {
		return s.unrecorded(ctx, id)
	}
	out := make([]flagcache.HistoryEntry, 0, len(raws))
	for _, raw := range raws {
		var e historyEntry
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			return nil, fmt.Errorf("rediskv: history of %q: corrupt entry: %w", id, err)
		}
		he := flagcache.HistoryEntry{Version: e.Version, Revision: e.Revision, Op: e.Op, Actor: e.Actor, At: time.UnixMicro(e.At).UTC()}
		if e.Op == flagcache.OpUpsert && e.Definition != nil {
			e.Definition.Metadata.CreatedAt = e.CreatedAt
			he.Definition = e.Definition
		}
		out = append(out, he)
	}
	return s.keep.Retain(out, s.now()), nil
}

// unrecorded returns the entry standing for a live flag without history.
func (s *Store) unrecorded(ctx context.Context, id flagcache.ID) ([]flagcache.HistoryEntry, error) {
	raw, err := s.client.HGet(ctx, s.keys.flags, string(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, translate(ctx, err)
	}
	f, err := s.decodeFlag(ctx, id, raw)
	if err != nil {
		return nil, err
	}
	return []flagcache.HistoryEntry{{Version: f.Version, Revision: f.Revision, Op: flagcache.OpUpsert,
		Actor: flagcache.ActorUnknown, At: f.Definition.Metadata.UpdatedAt, Definition: f.Definition}}, nil
}

// History implements flagcache.HistoryReader.
func (s *Store) History(ctx context.Context, id flagcache.ID, before int64, limit int) (*flagcache.HistoryPage, error) {
	return flagcache.RetainedHistory(s.retained).History(ctx, id, before, limit)
}

// GetVersion implements flagcache.HistoryReader.
func (s *Store) GetVersion(ctx context.Context, id flagcache.ID, version int64) (*flagcache.Stored, error) {
	return flagcache.RetainedHistory(s.retained).GetVersion(ctx, id, version)
}
