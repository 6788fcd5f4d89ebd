package boltsource

import "github.com/flagcache/flagcache"

// PutRaw writes definition as the live record of id behind the Store's
// validation, as another writer of the file could: the next version and
// revision, the change feed and the indexes kept as for any write. It is
// the raw-write hook of the tests (odd rows, issue 14).
func PutRaw(s *Store, id flagcache.ID, definition []byte) error {
	return s.update(func(b buckets) error {
		prev, err := b.getRecord(id)
		if err != nil {
			return err
		}
		var version int64 = 1
		if prev != nil {
			version = prev.Version + 1
		}
		rev, err := b.nextRevision()
		if err != nil {
			return err
		}
		return b.replace(id, prev, &record{Definition: definition, Version: version, Revision: rev})
	})
}
