package flagcache

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Stored is a definition as a store holds it: the definition, its version
// (1 on create, +1 per write of this id, continuing across delete and
// re-create), the ETag naming that version, and the store-wide revision of
// the write that produced it.
//
// Malformed is empty for a definition flagcache models; for one stored by
// another writer in a shape it does not (a member of another type, a
// missing kind, anything Validate refuses but the timestamps a store
// sets, an id that is not the row's key, bytes that are not UTF-8), it
// says why, naming the field. Such a flag is still served as
// stored, listed and in the change feed. NewStored sets it.
type Stored struct {
	Definition *Definition `json:"definition"`
	Version    int64       `json:"version"`
	ETag       string      `json:"etag"`
	Revision   int64       `json:"revision"`
	Malformed  string      `json:"malformed,omitempty"`

	// Modified is when the store's own books say the flag was last
	// written, set by ModifiedSince and ModifiedSincePage only where that
	// is not metadata.updated_at: a row another writer stored with another
	// updated_at, or none, which Postgres orders by its updated_at column
	// and Redis by its index. Not part of the JSON; see ModifiedAt.
	Modified time.Time `json:"-"`
}

// ModifiedAt is the time ModifiedSince selects and orders the flag by, and
// so the since of the cursor (with the id) that continues a page ending
// with it: Modified when a store set it, else metadata.updated_at.
func (s *Stored) ModifiedAt() time.Time {
	if !s.Modified.IsZero() || s.Definition == nil {
		return s.Modified
	}
	return s.Definition.Metadata.UpdatedAt
}

// ETag returns the entity tag of a version: "v3" in double quotes.
func ETag(version int64) string {
	return `"v` + strconv.FormatInt(version, 10) + `"`
}

// ParseETag returns the version an entity tag names, accepting `"v3"` and
// the weak form `W/"v3"` (If-None-Match compares weakly). If-Match compares
// strongly: a caller implementing it must treat a weak tag as never
// matching before asking ParseETag for the version.
func ParseETag(tag string) (int64, error) {
	if len(tag) > 2 && tag[:2] == "W/" {
		tag = tag[2:]
	}
	if len(tag) < 4 || tag[0] != '"' || tag[1] != 'v' || tag[len(tag)-1] != '"' {
		return 0, Invalid("If-Match", "%s is not an entity tag of the form \"v3\"", truncate(tag, 32))
	}
	// Only the form ETag makes: "v03" or "v+3" would name version 3 too,
	// and entity tags compare as strings.
	digits := tag[2 : len(tag)-1]
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || v < 1 || digits[0] < '1' || digits[0] > '9' {
		return 0, Invalid("If-Match", "%s is not an entity tag of the form \"v3\"", truncate(tag, 32))
	}
	return v, nil
}

// NewStored returns a Stored for def at version and revision, with its ETag
// and Malformed.
func NewStored(def *Definition, version, revision int64) *Stored {
	return &Stored{Definition: def, Version: version, ETag: ETag(version), Revision: revision, Malformed: malformed(def)}
}

// DecodeStored is how a store reads a definition it holds as JSON: decoded
// as Definition.UnmarshalJSON does (never failing on a member of a type
// flagcache does not model, whatever its nesting), with the id of the row
// it was stored under whatever the JSON says. Bytes that are not one JSON
// value are served as a JSON string of them, and bytes that are not UTF-8
// with U+FFFD for each run of invalid bytes (JSON is UTF-8: served as stored,
// they would make every response holding them invalid JSON), both marked
// Malformed. An id member that is not the row's id is served as the row's
// id, marked Malformed naming it; an absent one is added, as a PUT without
// one stores it. raw is not kept.
func DecodeStored(id ID, raw []byte, version, revision int64) *Stored {
	raw = bytes.TrimSpace(raw)
	var served *InvalidError
	if utf8.Valid(raw) {
		raw = bytes.Clone(raw)
	} else {
		raw = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
		served = &InvalidError{Field: "definition", Reason: "not valid UTF-8 (each run of invalid bytes served as U+FFFD)"}
	}
	def := new(Definition)
	if def.decode(raw) != nil || !wholeValue(def.src.raw) {
		def.decodeInvalid(raw)
	}
	if s := def.src; served == nil && s.odd == "" && s.present&1 != 0 && s.id != id { // defFields[0] is the id
		served = &InvalidError{Field: "id", Reason: fmt.Sprintf("stored as %q, not the flag's key (served as %q)", truncate(string(s.id), 64), id)}
		if s.id == "" {
			served.Reason = fmt.Sprintf("stored as a value that is not a string (served as %q)", id)
		}
	}
	def.src.served = served
	def.ID = id
	return NewStored(def, version, revision)
}

// Op is the kind of write a Change records.
type Op string

// The operations of the change feed.
const (
	OpUpsert Op = "upsert"
	OpDelete Op = "delete"
)

// Change is one entry of the change feed: the latest write of one id. Flag is
// the stored flag for an upsert and nil for a delete, whose Version is the
// tombstone's version. Actor is who made the write (see WithActor); empty
// only from a store that records none.
type Change struct {
	Revision int64   `json:"revision"`
	Op       Op      `json:"op"`
	ID       ID      `json:"id"`
	Version  int64   `json:"version"`
	Actor    string  `json:"actor,omitempty"`
	Flag     *Stored `json:"flag,omitempty"`
}

// ChangeFeed is a page of the change feed and the store's current revision.
type ChangeFeed struct {
	Changes  []Change `json:"changes"`
	Revision int64    `json:"revision"`
}

// DefaultChangeRetention is how long deletes stay in the change feed.
const DefaultChangeRetention = 7 * 24 * time.Hour

// Store is the storage contract every backend, the tiered composition and
// the HTTP client implement. All methods honour ctx: a cancelled context
// returns an error matching ctx.Err() and writes nothing.
//
// Errors match the sentinels of this package with errors.Is: a backend that
// cannot be reached returns ErrUnavailable (wrapping the cause), never a raw
// driver error; bad input returns ErrInvalidArgument (an *InvalidError naming
// the field) and writes nothing. A store never keeps a reference to a
// definition passed in. Returned values are the caller's to keep and the
// store never modifies them afterwards, but they may be shared with other
// callers (tiered's cache shares them): treat them as read-only and Clone
// before modifying.
type Store interface {
	// Get returns the flag with id. It returns ErrNotFound if the flag does
	// not exist or was deleted.
	Get(ctx context.Context, id ID) (*Stored, error)

	// GetMany returns the flags that exist among ids, keyed by id. Missing
	// ids are absent from the map; duplicates are allowed. An invalid id
	// fails the whole call with ErrInvalidArgument.
	GetMany(ctx context.Context, ids []ID) (map[ID]*Stored, error)

	// List returns the flags matching q, ordered by name then id (bytewise).
	// It returns ErrInvalidArgument for a bad query (see Query.Validate).
	List(ctx context.Context, q Query) ([]*Stored, error)

	// Count returns how many flags List would return for q without Offset
	// and Limit: the same filters, exactly.
	Count(ctx context.Context, q Query) (int, error)

	// Create stores a new flag at the next version of its id (1, or one
	// above the tombstone of a deleted flag) and sets created_at and
	// updated_at. It returns ErrAlreadyExists if the id exists and
	// ErrInvalidArgument if def does not validate.
	Create(ctx context.Context, def *Definition) (*Stored, error)

	// Update replaces the flag def.ID. With expectedVersion > 0 it is a
	// compare-and-set: if the current version differs it returns a
	// *VersionConflictError with the actual version. expectedVersion 0 is
	// unconditional. created_at is kept from the stored flag and updated_at
	// set. It returns ErrNotFound if the flag does not exist and
	// ErrInvalidArgument if def does not validate.
	Update(ctx context.Context, def *Definition, expectedVersion int64) (*Stored, error)

	// Delete removes the flag id, leaving a tombstone at the next version so
	// a re-created flag continues above it. With expectedVersion > 0 it is a
	// compare-and-set like Update. It returns the delete's change-feed entry,
	// ErrNotFound if the flag does not exist, or a *VersionConflictError.
	Delete(ctx context.Context, id ID, expectedVersion int64) (Change, error)

	// Exists reports whether the flag id exists.
	Exists(ctx context.Context, id ID) (bool, error)

	// ModifiedSince returns the flags whose updated_at is strictly after t,
	// oldest first (ties by id).
	ModifiedSince(ctx context.Context, t time.Time) ([]*Stored, error)

	// Changes returns the changes with a revision above after, in revision
	// order, at most limit of them (0 = no limit), and the store's current
	// revision. The feed is compacted: an id appears once, at its latest
	// write; deletes appear as tombstones for the retention window. Page on
	// with after = the last revision returned. A cursor older than the
	// retained tombstones returns ErrResyncNeeded, and so does one above the
	// current revision (it belongs to another or a reset store); after = 0
	// (a full sync) never does. A negative after or limit is
	// ErrInvalidArgument.
	Changes(ctx context.Context, after int64, limit int) (*ChangeFeed, error)

	// History and GetVersion read the versions every write keeps (see
	// HistoryReader).
	HistoryReader
}

// Compactor is implemented by stores whose change log can be compacted on
// demand. Compact drops from the feed the tombstones of deletes made before
// t (the ids keep their versions, so a re-created flag still continues above
// them); a Changes cursor below the newest dropped tombstone's revision then gets
// ErrResyncNeeded. Stores also compact by themselves with their retention.
type Compactor interface {
	Compact(ctx context.Context, before time.Time) error
}
