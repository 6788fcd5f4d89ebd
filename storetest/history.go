package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

var historyCases = []testCase{
	{"History/NewestFirstAcrossDeleteAndRecreate", testHistoryNewestFirst},
	{"History/Paging", testHistoryPaging},
	{"History/GetVersion", testHistoryGetVersion},
	{"History/BadInput", testHistoryBadInput},
	{"History/ActorAndOp", testHistoryActorAndOp},
	{"History/ActorInChanges", testHistoryActorInChanges},
	{"History/BadActorWritesNothing", testHistoryBadActor},
	{"History/ConcurrentWriters", testHistoryConcurrentWriters},
}

// historyOf returns s's history read, or skips a store without one.
func historyOf(t *testing.T, s flagcache.Store) flagcache.HistoryReader {
	t.Helper()
	h, ok := s.(flagcache.HistoryReader)
	if !ok {
		t.Skipf("%T does not implement flagcache.HistoryReader", s)
	}
	return h
}

func mustHistory(t *testing.T, h flagcache.HistoryReader, id string, before int64, limit int) *flagcache.HistoryPage {
	t.Helper()
	page, err := h.History(ctxFor(t), flagcache.ID(id), before, limit)
	if err != nil {
		t.Fatalf("History(%s, %d, %d): %v", id, before, limit, err)
	}
	return page
}

func versionsOf(p *flagcache.HistoryPage) []int64 {
	out := make([]int64, len(p.Versions))
	for i, e := range p.Versions {
		out[i] = e.Version
	}
	return out
}

func wantVersions(t *testing.T, p *flagcache.HistoryPage, want ...int64) {
	t.Helper()
	got := versionsOf(p)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history versions: got %v, want %v", got, want)
	}
}

// writeHistory makes versions 1..4 of "h": create, update, delete,
// re-create, and returns what each write returned (nil for the delete).
func writeHistory(t *testing.T, s flagcache.Store) ([]*flagcache.Stored, flagcache.Change) {
	t.Helper()
	v1 := mustCreate(t, s, flag("h", "First"))
	v2 := mustUpdate(t, s, flag("h", "Second", withTags("x")), 1)
	del := mustDelete(t, s, "h", 2)
	v4 := mustCreate(t, s, flag("h", "Fourth", withOwner("team")))
	return []*flagcache.Stored{v1, v2, nil, v4}, del
}

// Every write keeps its full definition, version, revision and commit
// time; the delete keeps its tombstone without a definition; the
// re-created flag continues the same history.
func testHistoryNewestFirst(t *testing.T, s flagcache.Store) {
	h := historyOf(t, s)
	writes, del := writeHistory(t, s)
	mustCreate(t, s, flag("other", "Other"))
	page := mustHistory(t, h, "h", 0, 0)
	wantVersions(t, page, 4, 3, 2, 1)
	if page.Next != 0 {
		t.Errorf("next of the whole history: got %d, want 0", page.Next)
	}
	for i, e := range page.Versions {
		if i > 0 && e.Revision >= page.Versions[i-1].Revision {
			t.Errorf("version %d has revision %d, not below the newer version's %d", e.Version, e.Revision, page.Versions[i-1].Revision)
		}
		if e.At.IsZero() {
			t.Errorf("version %d has no commit time", e.Version)
		}
		w := writes[e.Version-1]
		if w == nil {
			if e.Op != flagcache.OpDelete || e.Definition != nil {
				t.Errorf("version 3: got op %s, definition %v; want the delete, without definition", e.Op, e.Definition)
			}
			if e.Revision != del.Revision {
				t.Errorf("delete revision: got %d, want %d", e.Revision, del.Revision)
			}
			continue
		}
		if e.Op != flagcache.OpUpsert {
			t.Errorf("version %d: got op %s, want upsert", e.Version, e.Op)
		}
		if e.Revision != w.Revision {
			t.Errorf("version %d revision: got %d, want %d", e.Version, e.Revision, w.Revision)
		}
		if e.Definition == nil {
			t.Fatalf("version %d has no definition", e.Version)
		}
		sameDefinition(t, e.Definition, w.Definition)
	}
}

func testHistoryPaging(t *testing.T, s flagcache.Store) {
	h := historyOf(t, s)
	writeHistory(t, s)
	p := mustHistory(t, h, "h", 0, 3)
	wantVersions(t, p, 4, 3, 2)
	if p.Next != 2 {
		t.Fatalf("next: got %d, want 2", p.Next)
	}
	p = mustHistory(t, h, "h", p.Next, 3)
	wantVersions(t, p, 1)
	if p.Next != 0 {
		t.Errorf("next of the last page: got %d, want 0", p.Next)
	}
	p = mustHistory(t, h, "h", 0, 4)
	wantVersions(t, p, 4, 3, 2, 1)
	if p.Next != 0 {
		t.Errorf("next of a page ending at version 1: got %d, want 0", p.Next)
	}
	wantVersions(t, mustHistory(t, h, "h", 3, 1), 2)
	wantVersions(t, mustHistory(t, h, "h", 99, 0), 4, 3, 2, 1)
	if p := mustHistory(t, h, "h", 1, 0); len(p.Versions) != 0 || p.Versions == nil {
		t.Errorf("history before version 1: got %#v, want an empty, non-nil page", p.Versions)
	}
}

func testHistoryGetVersion(t *testing.T, s flagcache.Store) {
	h := historyOf(t, s)
	writes, _ := writeHistory(t, s)
	for _, n := range []int64{1, 2, 4} {
		got, err := h.GetVersion(ctxFor(t), "h", n)
		if err != nil {
			t.Fatalf("GetVersion(h, %d): %v", n, err)
		}
		checkStored(t, got, "h", n)
		if got.Revision != writes[n-1].Revision {
			t.Errorf("GetVersion(h, %d) revision: got %d, want %d", n, got.Revision, writes[n-1].Revision)
		}
		sameDefinition(t, got.Definition, writes[n-1].Definition)
	}
	for _, n := range []int64{3, 5} {
		_, err := h.GetVersion(ctxFor(t), "h", n)
		wantErr(t, fmt.Sprintf("GetVersion(h, %d)", n), err, flagcache.ErrNotFound)
		if !strings.Contains(err.Error(), fmt.Sprintf("version %d", n)) {
			t.Errorf("GetVersion(h, %d): error %q does not name the version", n, err)
		}
	}
	_, err := h.GetVersion(ctxFor(t), "never", 1)
	wantErr(t, "GetVersion(never, 1)", err, flagcache.ErrNotFound)
}

func testHistoryBadInput(t *testing.T, s flagcache.Store) {
	h := historyOf(t, s)
	mustCreate(t, s, flag("h", "H"))
	_, err := h.History(ctxFor(t), "never", 0, 0)
	wantErr(t, "History of an id never written", err, flagcache.ErrNotFound)
	for _, c := range []struct {
		name   string
		id     flagcache.ID
		before int64
		limit  int
	}{
		{"bad id", "bad id", 0, 0},
		{"empty id", "", 0, 0},
		{"negative before", "h", -1, 0},
		{"negative limit", "h", 0, -1},
	} {
		_, err := h.History(ctxFor(t), c.id, c.before, c.limit)
		wantErr(t, "History with "+c.name, err, flagcache.ErrInvalidArgument)
	}
	for _, n := range []int64{0, -1} {
		_, err := h.GetVersion(ctxFor(t), "h", n)
		wantErr(t, fmt.Sprintf("GetVersion(h, %d)", n), err, flagcache.ErrInvalidArgument)
	}
	_, err = h.GetVersion(ctxFor(t), "bad id", 1)
	wantErr(t, "GetVersion of a bad id", err, flagcache.ErrInvalidArgument)
}

func as(t *testing.T, actor string) context.Context {
	return flagcache.WithActor(ctxFor(t), actor)
}

// Each version records who wrote it and how; a write without an actor is
// recorded as ActorUnknown (ActorAnonymous through the HTTP API of a daemon
// without auth).
func testHistoryActorAndOp(t *testing.T, s flagcache.Store) {
	h := historyOf(t, s)
	if _, err := s.Create(as(t, "alice"), flag("a", "A")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Update(as(t, "deploy bot"), flag("a", "A2"), 1); err != nil {
		t.Fatalf("Update: %v", err)
	}
	mustUpdate(t, s, flag("a", "A3"), 2)
	if _, err := s.Delete(as(t, "carol"), "a", 3); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Create(as(t, "dave@example.com"), flag("a", "A5")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := []struct {
		actor string
		op    flagcache.Op
	}{
		{"dave@example.com", flagcache.OpUpsert},
		{"carol", flagcache.OpDelete},
		{flagcache.ActorUnknown, flagcache.OpUpsert},
		{"deploy bot", flagcache.OpUpsert},
		{"alice", flagcache.OpUpsert},
	}
	page := mustHistory(t, h, "a", 0, 0)
	wantVersions(t, page, 5, 4, 3, 2, 1)
	for i, e := range page.Versions {
		if want[i].actor == flagcache.ActorUnknown && e.Actor == flagcache.ActorAnonymous {
			continue // an unnamed write through an API without auth
		}
		if e.Actor != want[i].actor || e.Op != want[i].op {
			t.Errorf("version %d: got %s by %q, want %s by %q", e.Version, e.Op, e.Actor, want[i].op, want[i].actor)
		}
	}
}

// The change feed names the actor of each id's latest write, deletes
// included.
func testHistoryActorInChanges(t *testing.T, s flagcache.Store) {
	historyOf(t, s)
	if _, err := s.Create(as(t, "alice"), flag("a", "A")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Create(as(t, "bob"), flag("b", "B")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Update(as(t, "carol"), flag("b", "B2"), 1); err != nil {
		t.Fatalf("Update: %v", err)
	}
	del, err := s.Delete(as(t, "dave"), "a", 1)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if del.Actor != "dave" {
		t.Errorf("Delete's change: actor %q, want dave", del.Actor)
	}
	got := map[flagcache.ID]string{}
	for _, c := range mustChanges(t, s, 0, 0).Changes {
		got[c.ID] = string(c.Op) + " by " + c.Actor
	}
	want := map[flagcache.ID]string{"a": "delete by dave", "b": "upsert by carol"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("change feed actors: got %v, want %v", got, want)
	}
}

// A write whose actor is not acceptable is refused before anything is
// written, with the same error everywhere.
func testHistoryBadActor(t *testing.T, s flagcache.Store) {
	h := historyOf(t, s)
	mustCreate(t, s, flag("a", "A"))
	for _, actor := range []string{"", "sql:postgres", "tab\there", strings.Repeat("x", flagcache.MaxActorLen+1)} {
		_, err := s.Create(as(t, actor), flag("b", "B"))
		wantErr(t, fmt.Sprintf("Create as %q", actor), err, flagcache.ErrInvalidArgument)
		_, err = s.Update(as(t, actor), flag("a", "A2"), 1)
		wantErr(t, fmt.Sprintf("Update as %q", actor), err, flagcache.ErrInvalidArgument)
		_, err = s.Delete(as(t, actor), "a", 1)
		wantErr(t, fmt.Sprintf("Delete as %q", actor), err, flagcache.ErrInvalidArgument)
	}
	wantNotFound(t, s, "b")
	checkStored(t, mustGet(t, s, "a"), "a", 1)
	wantVersions(t, mustHistory(t, h, "a", 0, 0), 1)
}

// Writers racing on one flag each get their own history entry: every
// acknowledged write is there once, by its writer, and versions and
// revisions grow together.
func testHistoryConcurrentWriters(t *testing.T, s flagcache.Store) {
	h := historyOf(t, s)
	const workers, each = 6, 5
	mustCreate(t, s, flag("hot", "Hot"))
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won = map[int64]string{} // version -> actor
		rev = map[int64]int64{}  // version -> revision
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actor := fmt.Sprintf("writer-%d", w)
			for i := range each {
				got, err := s.Update(as(t, actor), flag("hot", fmt.Sprintf("%s #%d", actor, i)), 0)
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				mu.Lock()
				if prev, dup := won[got.Version]; dup {
					t.Errorf("version %d acknowledged to %s and %s", got.Version, prev, actor)
				}
				won[got.Version], rev[got.Version] = actor, got.Revision
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	page := mustHistory(t, h, "hot", 0, 0)
	if len(page.Versions) != workers*each+1 {
		t.Fatalf("history holds %d versions, want %d", len(page.Versions), workers*each+1)
	}
	for i, e := range page.Versions {
		if want := int64(workers*each + 1 - i); e.Version != want {
			t.Fatalf("history position %d: version %d, want %d", i, e.Version, want)
		}
		if i > 0 && e.Revision >= page.Versions[i-1].Revision {
			t.Errorf("version %d: revision %d not below the next version's %d", e.Version, e.Revision, page.Versions[i-1].Revision)
		}
		if e.Version == 1 {
			continue
		}
		if e.Actor != won[e.Version] || e.Revision != rev[e.Version] {
			t.Errorf("version %d: by %q at revision %d, want by %q at %d", e.Version, e.Actor, e.Revision, won[e.Version], rev[e.Version])
		}
		if want := e.Actor + " #"; !strings.HasPrefix(e.Definition.Name, want) {
			t.Errorf("version %d by %s holds %q, another writer's definition", e.Version, e.Actor, e.Definition.Name)
		}
	}
}

// Clock is a settable clock for the retention cases.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// RetentionOptions configure a store made for a retention case. Clock is
// nil for the cases that do not need one.
type RetentionOptions struct {
	Retention flagcache.HistoryRetention
	Clock     *Clock
}

// NewRetainingStore returns a fresh, empty store keeping history by
// o.Retention and, when o.Clock is not nil, taking its time from it (a
// store that cannot take a clock returns nil then: the age cases skip).
type NewRetainingStore func(t *testing.T, o RetentionOptions) flagcache.Store

// RunRetention runs the history retention cases, each on its own store.
func RunRetention(t *testing.T, newStore NewRetainingStore) {
	t.Run("History/Retention/Versions", func(t *testing.T) {
		testRetentionVersions(t, newStore(t, RetentionOptions{Retention: flagcache.HistoryRetention{MaxVersions: 2}}))
	})
	t.Run("History/Retention/Age", func(t *testing.T) {
		clock := NewClock()
		s := newStore(t, RetentionOptions{Retention: flagcache.HistoryRetention{MaxAge: 90 * time.Minute}, Clock: clock})
		if s == nil {
			t.Skip("the store takes no clock")
		}
		testRetentionAge(t, s, clock)
	})
}

// MaxVersions 2 keeps each flag's two newest versions, a delete counting
// as one, and nothing of another flag.
func testRetentionVersions(t *testing.T, s flagcache.Store) {
	h := historyOf(t, s)
	mustCreate(t, s, flag("few", "Few"))
	mustCreate(t, s, flag("many", "M1"))
	for v := int64(1); v < 5; v++ {
		mustUpdate(t, s, flag("many", fmt.Sprintf("M%d", v+1)), v)
	}
	wantVersions(t, mustHistory(t, h, "many", 0, 0), 5, 4)
	wantVersions(t, mustHistory(t, h, "few", 0, 0), 1)
	for _, n := range []int64{1, 3} {
		_, err := h.GetVersion(ctxFor(t), "many", n)
		wantErr(t, fmt.Sprintf("GetVersion(many, %d) past the retention", n), err, flagcache.ErrNotFound)
		if !strings.Contains(err.Error(), fmt.Sprintf("version %d", n)) {
			t.Errorf("GetVersion(many, %d): error %q does not name the version", n, err)
		}
	}
	if got, err := h.GetVersion(ctxFor(t), "many", 4); err != nil || got.Definition.Name != "M4" {
		t.Fatalf("GetVersion(many, 4) = %v, %v; want M4", got, err)
	}
	mustDelete(t, s, "many", 5)
	p := mustHistory(t, h, "many", 0, 0)
	wantVersions(t, p, 6, 5)
	if p.Versions[0].Op != flagcache.OpDelete {
		t.Errorf("newest kept version: op %s, want delete", p.Versions[0].Op)
	}
	wantVersions(t, mustHistory(t, h, "few", 0, 0), 1)
}

// MaxAge drops versions committed longer ago than it, but never a flag's
// newest one.
func testRetentionAge(t *testing.T, s flagcache.Store, clock *Clock) {
	h := historyOf(t, s)
	mustCreate(t, s, flag("aged", "A1"))
	mustCreate(t, s, flag("still", "S1"))
	clock.Advance(time.Hour)
	mustUpdate(t, s, flag("aged", "A2"), 1)
	clock.Advance(time.Hour)
	mustUpdate(t, s, flag("aged", "A3"), 2)
	clock.Advance(20 * time.Minute) // A1 is 140 min old, A2 80, A3 20
	wantVersions(t, mustHistory(t, h, "aged", 0, 0), 3, 2)
	_, err := h.GetVersion(ctxFor(t), "aged", 1)
	wantErr(t, "GetVersion(aged, 1) past the retention", err, flagcache.ErrNotFound)
	wantVersions(t, mustHistory(t, h, "still", 0, 0), 1)

	clock.Advance(10 * time.Hour)
	wantVersions(t, mustHistory(t, h, "aged", 0, 0), 3)
	wantVersions(t, mustHistory(t, h, "still", 0, 0), 1)
	if _, err := h.GetVersion(ctxFor(t), "aged", 3); err != nil {
		t.Errorf("GetVersion of the newest version past the age: %v", err)
	}
	// A write after the expiry prunes, and what it keeps reads the same.
	mustUpdate(t, s, flag("aged", "A4"), 3)
	wantVersions(t, mustHistory(t, h, "aged", 0, 0), 4)
}
