package rediskv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/flagcache/flagcache"
)

// Changes implements flagcache.Store with one script run: it compacts the
// tombstones older than the retention, checks the cursor against the
// horizon and reads the page, all atomically, so every change's flag is the
// one its revision wrote.
func (s *Store) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := flagcache.CheckCursor(after, limit); err != nil {
		return nil, err
	}
	k := s.keys
	reply, err := changesScript.Run(ctx, s.client,
		[]string{k.changes, k.tombstones, k.state, k.flags, k.versions, k.actors},
		microsBefore(s.now().Add(-s.retention)), after, limit).Slice()
	if err != nil {
		return nil, translate(ctx, err)
	}
	if len(reply) < 2 || (len(reply)-2)%5 != 0 {
		return nil, fmt.Errorf("rediskv: unexpected reply from the changes script: %d values", len(reply))
	}
	if reply[1] == "resync" {
		return nil, flagcache.ErrResyncNeeded
	}
	feed := &flagcache.ChangeFeed{Changes: make([]flagcache.Change, 0, (len(reply)-2)/5), Revision: toInt(reply[0])}
	for i := 2; i < len(reply); i += 5 {
		id, _ := reply[i].(string)
		c := flagcache.Change{Revision: toInt(reply[i+1]), Op: flagcache.OpDelete, ID: flagcache.ID(id), Version: toInt(reply[i+3])}
		if raw, ok := reply[i+4].(string); ok {
			c.Actor = decodeActor(raw)
		}
		if raw, ok := reply[i+2].(string); ok {
			flag, err := parseFlag(c.ID, raw)
			if errors.Is(err, errNoEnvelope) {
				flag, err = notEnvelope(c.ID, raw, c.Version, c.Revision), nil
			}
			if err != nil {
				return nil, err
			}
			c.Op, c.Version, c.Flag = flagcache.OpUpsert, flag.Version, flag
		}
		feed.Changes = append(feed.Changes, c)
	}
	return feed, nil
}

// Compact implements flagcache.Compactor.
func (s *Store) Compact(ctx context.Context, before time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := s.keys
	err := compactScript.Run(ctx, s.client, []string{k.changes, k.tombstones, k.state}, microsBefore(before)).Err()
	return translate(ctx, err)
}

// microsBefore returns the exclusive µs bound for "deleted before t":
// deleted_at is whole µs, so deleted_at < t ⇔ µs(deleted_at) < ⌈µs(t)⌉.
func microsBefore(t time.Time) string {
	us := t.UnixMicro()
	if t.Sub(time.UnixMicro(us)) > 0 {
		us++
	}
	return strconv.FormatInt(us, 10)
}
