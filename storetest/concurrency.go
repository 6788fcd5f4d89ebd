package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/flagcache/flagcache"
)

var concurrencyCases = []testCase{
	{"Concurrency/RacingCAS", testRacingCAS},
	{"Concurrency/RacingCreate", testRacingCreate},
	{"Concurrency/RevisionsUnique", testRevisionsUnique},
}

// N goroutines race compare-and-set updates on one flag, each adding its
// own tag to what it read: exactly one winner per version, the final
// version is 1 + the number of wins, and no win is lost.
func testRacingCAS(t *testing.T, s flagcache.Store) {
	const workers, attempts = 8, 15
	mustCreate(t, s, flag("hot", "Hot"))
	var (
		mu       sync.Mutex
		versions []int64
		tokens   []string
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range attempts {
				cur, err := s.Get(ctxFor(t), "hot")
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				tok := fmt.Sprintf("w%d-%d", w, i)
				d := cur.Definition.Clone()
				d.Metadata.Tags = append(d.Metadata.Tags, tok)
				got, err := s.Update(ctxFor(t), d, cur.Version)
				if _, conflict := isConflict(err); conflict {
					continue
				}
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				if got.Version != cur.Version+1 {
					t.Errorf("won at version %d from %d", got.Version, cur.Version)
				}
				mu.Lock()
				versions = append(versions, got.Version)
				tokens = append(tokens, tok)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+2) {
			t.Fatalf("winning versions %v: want exactly 2..%d, one winner each", versions, len(versions)+1)
		}
	}
	final := mustGet(t, s, "hot")
	if final.Version != int64(1+len(versions)) {
		t.Errorf("final version %d, want 1 + %d wins", final.Version, len(versions))
	}
	for _, tok := range tokens {
		if !final.Definition.HasTag(tok) {
			t.Errorf("lost update: the winning write %s is not in the final flag", tok)
		}
	}
	if len(final.Definition.Metadata.Tags) != len(tokens) {
		t.Errorf("final flag has %d tags, want %d (a losing write landed)", len(final.Definition.Metadata.Tags), len(tokens))
	}
	if len(versions) == 0 {
		t.Errorf("no update won")
	}
}

func testRacingCreate(t *testing.T, s flagcache.Store) {
	const workers = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Create(ctxFor(t), flag("once", fmt.Sprintf("by %d", w)))
			switch {
			case err == nil:
				mu.Lock()
				wins++
				mu.Unlock()
			case !errors.Is(err, flagcache.ErrAlreadyExists):
				t.Errorf("Create: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d creates of one id won, want exactly 1", wins)
	}
	checkStored(t, mustGet(t, s, "once"), "once", 1)
}

// Concurrent writes to different flags get distinct, gapless revisions.
func testRevisionsUnique(t *testing.T, s flagcache.Store) {
	const workers, each = 6, 5
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		revs []int64
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				got, err := s.Create(ctxFor(t), flag(fmt.Sprintf("f%d-%d", w, i), "F"))
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				mu.Lock()
				revs = append(revs, got.Revision)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(revs)
	for i, r := range revs {
		if r != int64(i+1) {
			t.Fatalf("revisions of %d concurrent creates on an empty store: %v, want 1..%d", len(revs), revs, len(revs))
		}
	}
	feed := mustChanges(t, s, 0, 0)
	if len(feed.Changes) != workers*each || feed.Revision != int64(workers*each) {
		t.Errorf("feed: %d changes at revision %d, want %d", len(feed.Changes), feed.Revision, workers*each)
	}
	for i := 1; i < len(feed.Changes); i++ {
		if feed.Changes[i].Revision <= feed.Changes[i-1].Revision {
			t.Fatalf("feed out of order at %d", i)
		}
	}
}
