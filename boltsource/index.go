package boltsource

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/flagcache/flagcache"
)

// The indexes let List and Count read only what they return. They live in
// three buckets, written in the transaction of every write (replace):
//
//	index        entry key → empty
//	index_counts posting-list key → number of entries (8 bytes)
//	index_ids    id → the entry keys of the id (to remove them on its next write)
//	index_odd    id → empty, for live records whose summary does not decode
//
// An entry key is a posting-list key followed by the flag's place in List
// order:
//
//	dim (1 byte) · enc(value) · enc(status) · enc(name) · id
//
// where dim is dimAll (value ""), dimTag, dimOwner or dimEnv, and enc is an
// order-preserving, self-delimiting encoding of a string (enc). Within a
// posting list the keys sort by (name, id) bytewise, which is
// flagcache.CompareStored, so a page is a cursor walk; every posting list is
// split by status, so the status filter and the archived rule pick whole
// lists. A flag has one dimAll entry, one per distinct tag and environment,
// and one for a non-empty owner. A live flag also has one dimModified
// entry, keyed in ModifiedSince order (modifiedKey).
//
// The meta key "index" holds indexVersion and the store revision the
// indexes are current at. Open rebuilds the indexes, in one transaction,
// when the key is missing, names another version, or names another
// revision than the store's: a file written before the indexes existed, or
// by a binary that does not maintain them (an older flagcache: the format
// is unchanged, so it can still open the file), gets them rebuilt. The
// marker is written last (ensureIndex): a crash during the rebuild leaves
// none and the next Open starts over.
var (
	indexBucket       = []byte("index")
	indexCountsBucket = []byte("index_counts")
	indexIDsBucket    = []byte("index_ids")
	indexOddBucket    = []byte("index_odd")

	indexKey = []byte("index")
)

// indexVersion names the index layout and the rules that derive entries
// from a record (record.summary, flagcache.Query.Match). Change it when
// either changes: files indexed under another version are rebuilt on Open.
const indexVersion = 3 // 2: summaries decoded leniently (issue 14: members of another type are absent); 3: dimModified

const (
	dimAll   = 'a'
	dimTag   = 't'
	dimOwner = 'o'
	dimEnv   = 'e'
	// dimModified entries are modifiedKey(updated_at, id): the order of
	// ModifiedSince (modified.go), one per live flag, counted under "m".
	dimModified = 'm'
)

// enc appends s so that byte order of encodings is byte order of strings
// and an encoding ends where it says: 0x00 is escaped as 0x00 0xFF, and the
// string ends with 0x00 0x01.
func enc(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0, 0xff)
		} else {
			dst = append(dst, s[i])
		}
	}
	return append(dst, 0, 1)
}

// skipEnc returns the rest of k after one encoded string, or nil if k does
// not hold one.
func skipEnc(k []byte) []byte {
	for i := 0; i+1 < len(k); i++ {
		if k[i] == 0 {
			if k[i+1] == 1 {
				return k[i+2:]
			}
			i++
		}
	}
	return nil
}

// listKey is the key of the posting list of (dim, value, status).
func listKey(dim byte, value string, status flagcache.Status) []byte {
	return enc(enc([]byte{dim}, value), string(status))
}

// place is a flag's position in List order: enc(name) · id.
func place(name string, id flagcache.ID) []byte {
	return append(enc(nil, name), id...)
}

// placeID returns the id of a place.
func placeID(p []byte) flagcache.ID { return flagcache.ID(skipEnc(p)) }

// indexTx is the index buckets of one transaction.
type indexTx struct {
	entries, counts, ids, odd, meta *bolt.Bucket
}

func (b buckets) index() indexTx {
	tx := b.flags.Tx()
	return indexTx{
		entries: tx.Bucket(indexBucket),
		counts:  tx.Bucket(indexCountsBucket),
		ids:     tx.Bucket(indexIDsBucket),
		odd:     tx.Bucket(indexOddBucket),
		meta:    b.meta,
	}
}

// rebuildBatch is how many records one transaction of a rebuild indexes
// (addBatch), bounding the transaction's memory.
var rebuildBatch = 10_000 // a variable for the tests

// ensureIndex rebuilds the indexes unless the meta key says they are
// current (see indexBucket). Open calls it before handing out the Store.
// The first transaction drops the marker and the index buckets, the next
// ones index the records rebuildBatch at a time, and the last writes the
// marker: a crash or an error before the end leaves no marker, and the
// next Open starts over.
func ensureIndex(db *bolt.DB) error {
	var current bool
	err := db.Update(func(tx *bolt.Tx) error {
		b := open(tx)
		rev, err := b.counter(revisionKey)
		if err != nil {
			return err
		}
		if bytes.Equal(b.meta.Get(indexKey), indexMarker(rev)) && tx.Bucket(indexOddBucket) != nil {
			current = true
			return nil
		}
		if err := b.meta.Delete(indexKey); err != nil {
			return err
		}
		for _, name := range [][]byte{indexBucket, indexCountsBucket, indexIDsBucket, indexOddBucket} {
			if tx.Bucket(name) != nil {
				if err := tx.DeleteBucket(name); err != nil {
					return err
				}
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || current {
		return err
	}
	var last []byte // the last id indexed
	for done := false; !done; {
		err := db.Update(func(tx *bolt.Tx) error {
			b := open(tx)
			ix := b.index()
			c := b.flags.Cursor()
			k, v := c.First()
			if last != nil {
				if k, v = c.Seek(last); bytes.Equal(k, last) {
					k, v = c.Next()
				}
			}
			var ids []flagcache.ID
			var records []*record
			for ; k != nil && len(ids) < rebuildBatch; k, v = c.Next() {
				id := flagcache.ID(bytes.Clone(k))
				r, err := decodeRecord(id, v)
				if err != nil {
					return err
				}
				ids, records = append(ids, id), append(records, r)
			}
			if err := ix.addBatch(ids, records); err != nil {
				return err
			}
			if len(ids) > 0 {
				last = []byte(ids[len(ids)-1])
			}
			if k != nil {
				return nil
			}
			done = true
			rev, err := b.counter(revisionKey)
			if err != nil {
				return err
			}
			return b.meta.Put(indexKey, indexMarker(rev))
		})
		if err != nil {
			return fmt.Errorf("rebuilding the indexes: %w", err)
		}
	}
	return nil
}

func indexMarker(rev int64) []byte {
	return binary.BigEndian.AppendUint64(u64(indexVersion), uint64(rev))
}

// reindex replaces the index entries of id with those of r (none for a
// tombstone) and marks the indexes current at r's revision. replace calls it
// for every record it writes.
func (b buckets) reindex(id flagcache.ID, r *record) error {
	ix := b.index()
	if err := ix.remove(id); err != nil {
		return err
	}
	if err := ix.add(id, r); err != nil {
		return err
	}
	return b.meta.Put(indexKey, indexMarker(r.Revision))
}

// remove deletes the entries of id.
func (ix indexTx) remove(id flagcache.ID) error {
	if err := ix.odd.Delete([]byte(id)); err != nil {
		return err
	}
	owned := ix.ids.Get([]byte(id))
	if owned == nil {
		return nil
	}
	for len(owned) > 0 {
		listLen, n1 := binary.Uvarint(owned)
		keyLen, n2 := binary.Uvarint(owned[max(n1, 0):])
		if n1 <= 0 || n2 <= 0 || uint64(len(owned)-n1-n2) < keyLen || listLen > keyLen {
			return corrupt(id, fmt.Errorf("index_ids entry"))
		}
		key := owned[n1+n2 : n1+n2+int(keyLen)]
		if err := ix.entries.Delete(key); err != nil {
			return err
		}
		if err := ix.addCount(key[:listLen], -1); err != nil {
			return err
		}
		owned = owned[n1+n2+int(keyLen):]
	}
	return ix.ids.Delete([]byte(id))
}

// entry is one index key of a flag; list is the length of its posting-list
// prefix.
type entry struct {
	key  []byte
	list int
}

// entriesOf returns the index entries of a live r (none for a tombstone);
// odd is true when its summary does not decode.
func entriesOf(id flagcache.ID, r *record) (out []entry, odd bool) {
	if !r.live() {
		return nil, false
	}
	d, err := r.summary(id)
	if err != nil {
		return nil, true
	}
	at := place(d.Name, id)
	put := func(dim byte, value string) {
		list := listKey(dim, value, d.Status)
		out = append(out, entry{key: append(slices.Clip(list), at...), list: len(list)})
	}
	put(dimAll, "")
	tags := slices.Clone(d.Metadata.Tags)
	slices.Sort(tags)
	for _, t := range slices.Compact(tags) {
		put(dimTag, t)
	}
	if d.Metadata.Owner != "" {
		put(dimOwner, d.Metadata.Owner)
	}
	for env := range d.Environments {
		put(dimEnv, env)
	}
	out = append(out, entry{key: modifiedKey(d.Metadata.UpdatedAt, id), list: 1})
	return out, false
}

// owned encodes the entries of an id for index_ids.
func owned(entries []entry) []byte {
	var v []byte
	for _, e := range entries {
		v = binary.AppendUvarint(v, uint64(e.list))
		v = binary.AppendUvarint(v, uint64(len(e.key)))
		v = append(v, e.key...)
	}
	return v
}

// add puts the entries of a live r (nothing for a tombstone). A record
// whose summary does not decode goes to index_odd instead: List and Count
// scan while there is one (see indexedQuery), and report it as they report
// any other.
func (ix indexTx) add(id flagcache.ID, r *record) error {
	entries, odd := entriesOf(id, r)
	if odd {
		return ix.odd.Put([]byte(id), nil)
	}
	if entries == nil {
		return nil
	}
	for _, e := range entries {
		if err := ix.entries.Put(e.key, nil); err != nil {
			return err
		}
		if err := ix.addCount(e.key[:e.list], 1); err != nil {
			return err
		}
	}
	return ix.ids.Put([]byte(id), owned(entries))
}

// addBatch indexes records in bulk (a rebuild): the same keys as add, put
// in key order, so that bbolt appends to its nodes instead of moving them
// at every insert.
func (ix indexTx) addBatch(ids []flagcache.ID, records []*record) error {
	var all []entry
	counts := map[string]int64{}
	for i, id := range ids {
		entries, odd := entriesOf(id, records[i])
		if odd {
			if err := ix.odd.Put([]byte(id), nil); err != nil {
				return err
			}
			continue
		}
		if entries == nil {
			continue
		}
		if err := ix.ids.Put([]byte(id), owned(entries)); err != nil {
			return err
		}
		for _, e := range entries {
			counts[string(e.key[:e.list])]++
		}
		all = append(all, entries...)
	}
	slices.SortFunc(all, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	for _, e := range all {
		if err := ix.entries.Put(e.key, nil); err != nil {
			return err
		}
	}
	for _, list := range slices.Sorted(maps.Keys(counts)) {
		if err := ix.addCount([]byte(list), counts[list]); err != nil {
			return err
		}
	}
	return nil
}

func (ix indexTx) addCount(list []byte, delta int64) error {
	var n int64
	if v := ix.counts.Get(list); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n <= 0 {
		return ix.counts.Delete(list)
	}
	return ix.counts.Put(list, u64(uint64(n)))
}

func (ix indexTx) count(list []byte) int {
	v := ix.counts.Get(list)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

// filter is one dimension of a query: a flag passes if it has an entry
// under any of values (with its own status).
type filter struct {
	dim    byte
	values []string
	lists  [][]byte // posting lists of the allowed statuses
	size   int      // entries in lists
}

// plan returns the query's filters, each with its posting lists narrowed to
// the statuses q allows.
func (ix indexTx) plan(q flagcache.Query) []*filter {
	var filters []*filter
	if len(q.Tags) > 0 {
		tags := slices.Clone(q.Tags)
		slices.Sort(tags)
		filters = append(filters, &filter{dim: dimTag, values: slices.Compact(tags)})
	}
	if q.Owner != "" {
		filters = append(filters, &filter{dim: dimOwner, values: []string{q.Owner}})
	}
	if q.Environment != "" {
		filters = append(filters, &filter{dim: dimEnv, values: []string{q.Environment}})
	}
	if len(filters) == 0 {
		filters = append(filters, &filter{dim: dimAll, values: []string{""}})
	}
	for _, f := range filters {
		for _, v := range f.values {
			for _, list := range ix.statusLists(f.dim, v, q) {
				f.lists = append(f.lists, list)
				f.size += ix.count(list)
			}
		}
	}
	return filters
}

// statusLists returns the posting lists of (dim, value) whose status q
// allows: the one of q.Status, or every status present (from the counts),
// without archived unless q.IncludeArchived.
func (ix indexTx) statusLists(dim byte, value string, q flagcache.Query) [][]byte {
	if q.Status != "" {
		return [][]byte{listKey(dim, value, q.Status)}
	}
	prefix := enc([]byte{dim}, value)
	archived := listKey(dim, value, flagcache.StatusArchived)
	var lists [][]byte
	c := ix.counts.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if !q.IncludeArchived && bytes.Equal(k, archived) {
			continue
		}
		lists = append(lists, bytes.Clone(k))
	}
	return lists
}

// stream walks one posting list in List order.
type stream struct {
	c      *bolt.Cursor
	list   []byte
	status []byte // enc(status), the tail of list
	place  []byte // current place; nil when done
}

func (s *stream) set(k []byte) {
	if k == nil || !bytes.HasPrefix(k, s.list) {
		s.place = nil
		return
	}
	s.place = k[len(s.list):]
}

// indexedQuery answers q from the indexes: the ids of the page (when page)
// and the number of matches (when count), in List order. ok is false when
// the indexes cannot answer (a live record whose summary does not decode),
// and the caller scans instead.
//
// Cost: with one filter dimension (no filter, one tag, an owner or an
// environment, each with any status rule) Count reads one counter per
// status and List seeks once per status and reads Offset+Limit entries.
// With more (several tags, or tags and an owner, ...) the smallest
// dimension is walked and each of its entries is checked against the
// others with one key lookup each; Count then walks that dimension whole.
func (b buckets) indexedQuery(q flagcache.Query, page, count bool) (ids []flagcache.ID, n int, ok bool, err error) {
	ix := b.index()
	if k, _ := ix.odd.Cursor().First(); k != nil {
		return nil, 0, false, nil
	}
	filters := ix.plan(q)
	slices.SortStableFunc(filters, func(a, b *filter) int { return a.size - b.size })
	driver, checks := filters[0], filters[1:]
	if count && !page && len(checks) == 0 && len(driver.values) == 1 {
		return nil, driver.size, true, nil
	}
	streams := make([]*stream, len(driver.lists))
	for i, list := range driver.lists {
		s := &stream{c: ix.entries.Cursor(), list: list, status: skipEncTail(list)}
		k, _ := s.c.Seek(list)
		s.set(k)
		streams[i] = s
	}
	ids = []flagcache.ID{}
	var probe []byte
	for {
		var next *stream
		for _, s := range streams {
			if s.place != nil && (next == nil || bytes.Compare(s.place, next.place) < 0) {
				next = s
			}
		}
		if next == nil {
			break
		}
		at := bytes.Clone(next.place)
		status := next.status
		// The same flag under several tags: step every stream past it.
		for _, s := range streams {
			for s.place != nil && bytes.Equal(s.place, at) {
				k, _ := s.c.Next()
				s.set(k)
			}
		}
		matched := true
		for _, f := range checks {
			found := false
			for _, v := range f.values {
				probe = append(append(enc(append(probe[:0], f.dim), v), status...), at...)
				if ix.entries.Get(probe) != nil {
					found = true
					break
				}
			}
			if !found {
				matched = false
				break
			}
		}
		if !matched {
			continue
		}
		n++
		if page && n > q.Offset && (q.Limit == 0 || len(ids) < q.Limit) {
			ids = append(ids, placeID(at))
		}
		if !count && q.Limit > 0 && len(ids) == q.Limit {
			break
		}
	}
	return ids, n, true, nil
}

// skipEncTail returns the status part of a posting-list key: what follows
// its dim byte and encoded value.
func skipEncTail(list []byte) []byte { return skipEnc(list[1:]) }

// indexedList is List from the indexes; ok false means scan.
func (b buckets) indexedList(q flagcache.Query) ([]*flagcache.Stored, bool, error) {
	ids, _, ok, err := b.indexedQuery(q, true, false)
	if err != nil || !ok {
		return nil, ok, err
	}
	page := make([]*flagcache.Stored, len(ids))
	for i, id := range ids {
		r, err := b.getRecord(id)
		if err != nil {
			return nil, true, err
		}
		if r == nil || !r.live() {
			return nil, true, corrupt(id, errDangling)
		}
		if page[i], err = r.stored(id); err != nil {
			return nil, true, err
		}
	}
	return page, true, nil
}

// indexedCount is Count from the indexes; ok false means scan.
func (b buckets) indexedCount(q flagcache.Query) (int, bool, error) {
	_, n, ok, err := b.indexedQuery(q, false, true)
	return n, ok, err
}
