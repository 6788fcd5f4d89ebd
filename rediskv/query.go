package rediskv

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
)

// A query is planned as terms over the index: a flag matches when it is in
// every term, and it is in a term when it is in any of the term's ranges
// (one range per value; only tags have several). The default exclusion of
// archived flags is the "unarchived" range, so no query subtracts.
type term []string // range prefixes

func plan(q flagcache.Query) []term {
	var terms []term
	switch {
	case q.Status != "":
		terms = append(terms, term{rangePrefix(codeStatus, string(q.Status))})
	case !q.IncludeArchived:
		terms = append(terms, term{rangePrefix(codeUnarchived, "")})
	}
	if q.Environment != "" {
		terms = append(terms, term{rangePrefix(codeEnv, q.Environment)})
	}
	if len(q.Tags) > 0 {
		var t term
		for _, tag := range q.Tags {
			if p := rangePrefix(codeTag, tag); !slices.Contains(t, p) {
				t = append(t, p)
			}
		}
		terms = append(terms, t)
	}
	if q.Owner != "" {
		terms = append(terms, term{rangePrefix(codeOwner, q.Owner)})
	}
	if len(terms) == 0 {
		terms = append(terms, term{rangePrefix(codeName, "")})
	}
	return terms
}

// lexRange returns the ZRANGEBYLEX bounds of the members starting with
// prefix, which always ends in sep ("\x00\x01"): up to "\x00\x02" exclusive.
func lexRange(prefix string) (lo, hi string) {
	return "[" + prefix, "(" + prefix[:len(prefix)-1] + "\x02"
}

// List implements flagcache.Store. A query of one range pages in Redis;
// others intersect their ranges (read in one MULTI, so from one snapshot)
// in Go. The page is then read with one HMGET; a flag changed in between is
// served as it is now if it still matches, and left out if it does not.
func (s *Store) List(ctx context.Context, q flagcache.Query) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	page, err := s.page(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := make([]flagcache.ID, len(page))
	for i, key := range page {
		ids[i] = idOf(key)
	}
	flags, err := s.fetch(ctx, ids)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(flags, func(f *flagcache.Stored) bool { return !q.Match(f.Definition) }), nil
}

// page returns the sort keys of the flags on the page q asks for.
func (s *Store) page(ctx context.Context, q flagcache.Query) ([]string, error) {
	terms := plan(q)
	if len(terms) > 1 || len(terms[0]) > 1 {
		all, err := s.intersect(ctx, terms)
		return pageOf(all, q), err
	}
	prefix := terms[0][0]
	lo, hi := lexRange(prefix)
	by := &redis.ZRangeBy{Min: lo, Max: hi, Offset: int64(q.Offset), Count: int64(q.Limit)}
	if q.Limit == 0 {
		by.Count = -1 // all, from Offset on
	}
	members, err := s.client.ZRangeByLex(ctx, s.keys.index, by).Result()
	if err != nil {
		return nil, translate(ctx, err)
	}
	for i, m := range members {
		members[i] = m[len(prefix):]
	}
	return members, nil
}

func pageOf(keys []string, q flagcache.Query) []string {
	if q.Offset >= len(keys) {
		return nil
	}
	keys = keys[q.Offset:]
	if q.Limit > 0 && q.Limit < len(keys) {
		keys = keys[:q.Limit]
	}
	return keys
}

// Count implements flagcache.Store with the same plan as List.
func (s *Store) Count(ctx context.Context, q flagcache.Query) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := q.Validate(); err != nil {
		return 0, err
	}
	terms := plan(q)
	if len(terms) == 1 && len(terms[0]) == 1 {
		lo, hi := lexRange(terms[0][0])
		n, err := s.client.ZLexCount(ctx, s.keys.index, lo, hi).Result()
		return int(n), translate(ctx, err)
	}
	all, err := s.intersect(ctx, terms)
	return len(all), err
}

// intersect returns the sort keys of the flags in every term, sorted.
func (s *Store) intersect(ctx context.Context, terms []term) ([]string, error) {
	var cmds [][]*redis.StringSliceCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range terms {
			var tc []*redis.StringSliceCmd
			for _, prefix := range t {
				lo, hi := lexRange(prefix)
				tc = append(tc, p.ZRangeByLex(ctx, s.keys.index, &redis.ZRangeBy{Min: lo, Max: hi}))
			}
			cmds = append(cmds, tc)
		}
		return nil
	})
	if err != nil {
		return nil, translate(ctx, err)
	}
	// count[key] = how many terms hold key; each term counts once.
	count := make(map[string]int)
	for i, tc := range cmds {
		for j, cmd := range tc {
			for _, m := range cmd.Val() {
				key := m[len(terms[i][j]):]
				if count[key] == i {
					count[key] = i + 1
				}
			}
		}
	}
	var keys []string
	for key, n := range count {
		if n == len(terms) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// ModifiedSince implements flagcache.Store from the updated_at index.
func (s *Store) ModifiedSince(ctx context.Context, t time.Time) ([]*flagcache.Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Stored times are whole µs, so updated_at > t ⇔ µs(updated_at) > ⌊µs(t)⌋.
	zs, err := s.client.ZRangeByScoreWithScores(ctx, s.keys.updated, &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(t.UnixMicro(), 10), Max: "+inf",
	}).Result()
	if err != nil {
		return nil, translate(ctx, err)
	}
	flagIDs := make([]flagcache.ID, len(zs))
	for i, z := range zs {
		flagIDs[i] = flagcache.ID(z.Member.(string))
	}
	return s.fetchModified(ctx, flagIDs)
}

// fetchModified returns the live flags among ids ordered by their updated
// index, read in one transaction with their flags: the index is their
// order (Stored.Modified) where a row another writer stored says another
// updated_at, or none, and a flag updated again since the index was read
// is ordered where it is now.
func (s *Store) fetchModified(ctx context.Context, ids []flagcache.ID) ([]*flagcache.Stored, error) {
	if len(ids) == 0 {
		return []*flagcache.Stored{}, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = string(id)
	}
	var vals *redis.SliceCmd
	var scores *redis.FloatSliceCmd
	if _, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		vals = p.HMGet(ctx, s.keys.flags, fields...)
		scores = p.ZMScore(ctx, s.keys.updated, fields...)
		return nil
	}); err != nil {
		return nil, translate(ctx, err)
	}
	flags := make([]*flagcache.Stored, 0, len(ids))
	for i, v := range vals.Val() {
		raw, ok := v.(string)
		if !ok {
			continue // deleted since
		}
		f, err := s.decodeFlag(ctx, ids[i], raw)
		if err != nil {
			return nil, err
		}
		if at := time.UnixMicro(int64(scores.Val()[i])).UTC(); !at.Equal(f.Definition.Metadata.UpdatedAt) {
			f.Modified = at
		}
		flags = append(flags, f)
	}
	slices.SortFunc(flags, func(a, b *flagcache.Stored) int {
		if c := a.ModifiedAt().Compare(b.ModifiedAt()); c != 0 {
			return c
		}
		return cmp.Compare(a.Definition.ID, b.Definition.ID)
	})
	return flags, nil
}
