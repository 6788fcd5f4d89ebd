package flagcache

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// HistoryEntry is one version of a flag as its write left it: the version
// and store-wide revision, the operation, who wrote it and when (the
// store's commit time), and the full definition it stored. A delete keeps
// its tombstone version and has no definition.
type HistoryEntry struct {
	Version    int64       `json:"version"`
	Revision   int64       `json:"revision"`
	Op         Op          `json:"op"`
	Actor      string      `json:"actor"`
	At         time.Time   `json:"at"`
	Definition *Definition `json:"definition,omitempty"`
}

// HistoryPage is a page of a flag's history, newest first. Next is the
// before cursor of the next, older page; 0 when no older version is kept.
type HistoryPage struct {
	Versions []HistoryEntry `json:"versions"`
	Next     int64          `json:"next,omitempty"`
}

// HistoryReader is the history read of the Store contract: every backend,
// tiered and the client implement it, and Store embeds it.
type HistoryReader interface {
	// History returns the kept versions of id, newest first: those below
	// before (0 = from the newest), at most limit of them (0 = all). A
	// deleted flag keeps its history, delete included, and a re-created one
	// continues it. It returns ErrNotFound if id was never written, and
	// ErrInvalidArgument for a bad id or a negative before or limit.
	History(ctx context.Context, id ID, before int64, limit int) (*HistoryPage, error)

	// GetVersion returns version n of id as that write stored it. It
	// returns an error matching ErrNotFound, naming the version, if the
	// version never existed, has left the retention or is a delete (which
	// stores no definition), and ErrInvalidArgument for a bad id or n < 1.
	GetVersion(ctx context.Context, id ID, version int64) (*Stored, error)
}

// HistoryRetention bounds what a store keeps of each flag's history. The
// zero value keeps everything. The newest version of a flag (its current
// definition, or its delete) is always kept, whatever the bounds say, so a
// flag ever written has a history and the feed an actor.
type HistoryRetention struct {
	// MaxAge drops versions committed longer ago than this; 0: any age.
	MaxAge time.Duration
	// MaxVersions keeps at most this many newest versions per flag; 0: any
	// number.
	MaxVersions int
}

// Validate returns an *InvalidError for a negative bound.
func (r HistoryRetention) Validate() error {
	if r.MaxAge < 0 {
		return Invalid("history.max_age", "must not be negative")
	}
	if r.MaxVersions < 0 {
		return Invalid("history.max_versions", "must not be negative")
	}
	return nil
}

// Keeps reports whether the retention keeps, at now, the version of rank
// rank (0 = a flag's newest) committed at at.
func (r HistoryRetention) Keeps(rank int, at, now time.Time) bool {
	switch {
	case rank == 0:
		return true
	case r.MaxVersions > 0 && rank >= r.MaxVersions:
		return false
	case r.MaxAge > 0 && at.Before(now.Add(-r.MaxAge)):
		return false
	}
	return true
}

// Retain returns the entries of newestFirst (one flag's history, newest
// first) that r keeps at now, in place.
func (r HistoryRetention) Retain(newestFirst []HistoryEntry, now time.Time) []HistoryEntry {
	out := newestFirst[:0]
	for i, e := range newestFirst {
		if r.Keeps(i, e.At, now) {
			out = append(out, e)
		}
	}
	return out
}

// CheckHistoryPage returns an *InvalidError for a negative before or limit.
func CheckHistoryPage(before int64, limit int) error {
	if before < 0 {
		return Invalid("before", "must not be negative")
	}
	if limit < 0 {
		return Invalid("limit", "must not be negative")
	}
	return nil
}

// CheckVersionNumber returns an *InvalidError for a version below 1.
func CheckVersionNumber(version int64) error {
	if version < 1 {
		return Invalid("version", "must be 1 or more")
	}
	return nil
}

// PageHistory cuts the page of before and limit out of a flag's retained
// history, newest first (the stores that filter in memory use it).
func PageHistory(newestFirst []HistoryEntry, before int64, limit int) *HistoryPage {
	page := &HistoryPage{Versions: []HistoryEntry{}}
	for _, e := range newestFirst {
		if before > 0 && e.Version >= before {
			continue
		}
		if limit > 0 && len(page.Versions) == limit {
			page.Next = page.Versions[len(page.Versions)-1].Version
			break
		}
		page.Versions = append(page.Versions, e)
	}
	return page
}

// HistoryPageOf is History for a store that reads a flag's whole retained
// history, newest first: ErrNotFound when there is none, else the page of
// before and limit.
func HistoryPageOf(newestFirst []HistoryEntry, before int64, limit int) (*HistoryPage, error) {
	if len(newestFirst) == 0 {
		return nil, ErrNotFound
	}
	return PageHistory(newestFirst, before, limit), nil
}

// VersionOf is GetVersion for a store that reads a flag's whole retained
// history: the entry of version as a Stored, or VersionNotFound.
func VersionOf(id ID, history []HistoryEntry, version int64) (*Stored, error) {
	for _, e := range history {
		if e.Version == version {
			return e.StoredVersion(id)
		}
	}
	return nil, VersionNotFound(id, version, WhyNotKept)
}

// RetainedHistory is a HistoryReader over a store's read of a flag's
// whole retained history, newest first: History and GetVersion check
// their arguments, read it, and answer with HistoryPageOf and VersionOf.
type RetainedHistory func(ctx context.Context, id ID) ([]HistoryEntry, error)

// History implements HistoryReader.
func (r RetainedHistory) History(ctx context.Context, id ID, before int64, limit int) (*HistoryPage, error) {
	if err := CheckHistoryPage(before, limit); err != nil {
		return nil, err
	}
	h, err := r(ctx, id)
	if err != nil {
		return nil, err
	}
	return HistoryPageOf(h, before, limit)
}

// GetVersion implements HistoryReader.
func (r RetainedHistory) GetVersion(ctx context.Context, id ID, version int64) (*Stored, error) {
	if err := CheckVersionNumber(version); err != nil {
		return nil, err
	}
	h, err := r(ctx, id)
	if err != nil {
		return nil, err
	}
	return VersionOf(id, h, version)
}

// VersionNotFound is the error of a GetVersion that finds no definition:
// it matches ErrNotFound and names the version.
func VersionNotFound(id ID, version int64, why string) error {
	return fmt.Errorf("%w: version %d of flag %q %s", ErrNotFound, version, id, why)
}

// Why a version is not found, for VersionNotFound.
const (
	WhyNotKept  = "is not in its history (never written, or past the history retention)"
	WhyDeletion = "is its deletion, which has no definition"
)

// StoredVersion returns the entry's version as a Stored, or the error of
// GetVersion for a delete.
func (e *HistoryEntry) StoredVersion(id ID) (*Stored, error) {
	if e.Op == OpDelete || e.Definition == nil {
		return nil, VersionNotFound(id, e.Version, WhyDeletion)
	}
	return NewStored(e.Definition, e.Version, e.Revision), nil
}

// Actors. Every write records one: the name a caller attached to its
// context with WithActor, else ActorUnknown. The HTTP API attaches the
// name of the request's token, or ActorAnonymous when the daemon runs
// without auth; Postgres records "sql:" and the database role for writes
// that do not come through flagcache (SQLActorPrefix), so that prefix is
// reserved.
const (
	ActorUnknown   = "unknown"
	ActorAnonymous = "anonymous"
	SQLActorPrefix = "sql:"
	MaxActorLen    = 128
)

type actorKey struct{}

// WithActor returns a context whose writes are recorded as made by name.
// Stores refuse (ErrInvalidArgument, nothing written) a write whose actor
// does not pass ValidateActor.
func WithActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}

// ActorFrom returns the actor attached to ctx with WithActor, or "".
func ActorFrom(ctx context.Context) string {
	name, _ := ctx.Value(actorKey{}).(string)
	return name
}

// ValidateActor returns an *InvalidError unless name is 1–128 bytes of
// printable UTF-8 and does not start with the reserved "sql:".
func ValidateActor(name string) error {
	switch {
	case name == "" || len(name) > MaxActorLen:
		return Invalid("actor", "must be 1 to %d bytes", MaxActorLen)
	case !utf8.ValidString(name) || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return Invalid("actor", "%q must be printable UTF-8", truncate(name, 32))
	case strings.HasPrefix(name, SQLActorPrefix):
		return Invalid("actor", "%q: the prefix %q is reserved for database roles", truncate(name, 32), SQLActorPrefix)
	}
	return nil
}

// WriteActor returns the actor a write with ctx records: the one attached
// with WithActor, else ActorUnknown. It fails with an *InvalidError for an
// attached name that does not pass ValidateActor.
func WriteActor(ctx context.Context) (string, error) {
	name, ok := ctx.Value(actorKey{}).(string)
	if !ok {
		return ActorUnknown, nil
	}
	if err := ValidateActor(name); err != nil {
		return "", err
	}
	return name, nil
}
