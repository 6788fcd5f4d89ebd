package rediskv

import (
	"context"
	"strconv"

	"github.com/flagcache/flagcache"
)

// WriteRaw is the raw-write hook of the conformance suite: it stores raw as
// the next version of id the way another writer of the keys would — the
// write script's books (version, revision, feed, indexes from the
// definition as a read decodes it), then the envelope without "c", so the
// definition is served as it is, unvalidated and without timestamps.
func WriteRaw(s *Store, ctx context.Context, id flagcache.ID, raw []byte) error {
	if err := id.Validate(); err != nil {
		return err
	}
	def := flagcache.DecodeStored(id, raw, 1, 1).Definition
	op := "update"
	if live, err := s.client.HExists(ctx, s.keys.flags, string(id)).Result(); err != nil {
		return err
	} else if !live {
		op = "create"
	}
	res, err := s.write(ctx, op, id, 0, s.now(), "null", flagcache.ActorUnknown, indexMembers(def))
	if err != nil {
		return err
	}
	envelope := `{"v":` + strconv.FormatInt(res.version, 10) + `,"r":` + strconv.FormatInt(res.revision, 10) + `,"d":` + string(raw) + `}`
	return s.client.HSet(ctx, s.keys.flags, string(id), envelope).Err()
}
