package storetest

import (
	"testing"

	"github.com/flagcache/flagcache"
)

var versionCases = []testCase{
	{"Version/SeedConflict", testSeedVersionConflict},
	{"Version/ConflictReportsActual", testConflictReportsActual},
	{"Version/UnconditionalUpdate", testUnconditionalUpdate},
	{"Version/DeleteWithExpectedVersion", testDeleteWithExpected},
	{"Version/DeleteConflict", testDeleteConflict},
	{"Version/RecreateContinuesVersion", testRecreateContinues},
	{"Version/PerFlagCounters", testPerFlagCounters},
}

// The seed's test_version_conflict.
func testSeedVersionConflict(t *testing.T, s flagcache.Store) {
	def := flag("test-flag", "Test Flag")
	mustCreate(t, s, def)
	upd := def.Clone()
	upd.Status = flagcache.StatusActive
	mustUpdate(t, s, upd, 1)
	_, err := s.Update(ctxFor(t), upd, 1)
	if _, ok := isConflict(err); !ok {
		t.Fatalf("second Update with version 1: got %v, want a version conflict", err)
	}
}

func testConflictReportsActual(t *testing.T, s flagcache.Store) {
	def := flag("v", "V")
	mustCreate(t, s, def)
	for v := int64(1); v < 4; v++ {
		mustUpdate(t, s, def, v)
	}
	for _, expected := range []int64{1, 3, 5, 99} {
		d := def.Clone()
		d.Name = "loser"
		_, err := s.Update(ctxFor(t), d, expected)
		vc, ok := isConflict(err)
		if !ok {
			t.Fatalf("Update expecting %d: got %v, want *VersionConflictError", expected, err)
		}
		if vc.Expected != expected || vc.Actual != 4 {
			t.Errorf("conflict: got expected %d actual %d, want %d and 4", vc.Expected, vc.Actual, expected)
		}
	}
	got := mustGet(t, s, "v")
	checkStored(t, got, "v", 4)
	if got.Definition.Name != "V" {
		t.Errorf("a losing update was written: name %q", got.Definition.Name)
	}
}

func testUnconditionalUpdate(t *testing.T, s flagcache.Store) {
	def := flag("u", "U")
	mustCreate(t, s, def)
	mustUpdate(t, s, def, 1)
	d := def.Clone()
	d.Name = "Forced"
	got := mustUpdate(t, s, d, 0)
	checkStored(t, got, "u", 3)
	if g := mustGet(t, s, "u"); g.Definition.Name != "Forced" || g.Version != 3 {
		t.Errorf("after unconditional update: name %q version %d", g.Definition.Name, g.Version)
	}
}

func testDeleteWithExpected(t *testing.T, s flagcache.Store) {
	def := flag("d", "D")
	mustCreate(t, s, def)
	mustUpdate(t, s, def, 1)
	del := mustDelete(t, s, "d", 2)
	if del.Version != 3 {
		t.Errorf("tombstone version: got %d, want 3", del.Version)
	}
	wantNotFound(t, s, "d")
}

func testDeleteConflict(t *testing.T, s flagcache.Store) {
	def := flag("d", "D")
	mustCreate(t, s, def)
	mustUpdate(t, s, def, 1)
	_, err := s.Delete(ctxFor(t), "d", 1)
	vc, ok := isConflict(err)
	if !ok {
		t.Fatalf("Delete expecting 1: got %v, want version conflict", err)
	}
	if vc.Expected != 1 || vc.Actual != 2 {
		t.Errorf("conflict: expected %d actual %d, want 1 and 2", vc.Expected, vc.Actual)
	}
	checkStored(t, mustGet(t, s, "d"), "d", 2)
}

// A re-created flag continues above its tombstone, so a version (and an
// ETag) never names two contents of one id.
func testRecreateContinues(t *testing.T, s flagcache.Store) {
	def := flag("r", "R")
	mustCreate(t, s, def)
	mustUpdate(t, s, def, 1)
	del := mustDelete(t, s, "r", 2) // tombstone at 3
	again := mustCreate(t, s, flag("r", "R again"))
	checkStored(t, again, "r", del.Version+1)
	if again.Revision <= del.Revision {
		t.Errorf("re-create revision %d not above delete revision %d", again.Revision, del.Revision)
	}
	_, err := s.Update(ctxFor(t), def, 1)
	if vc, ok := isConflict(err); !ok || vc.Actual != 4 {
		t.Errorf("stale update after re-create: got %v, want conflict with actual 4", err)
	}
	upd := mustUpdate(t, s, again.Definition, 4)
	checkStored(t, upd, "r", 5)
}

func testPerFlagCounters(t *testing.T, s flagcache.Store) {
	a, b := flag("a", "A"), flag("b", "B")
	mustCreate(t, s, a)
	mustUpdate(t, s, a, 1)
	mustUpdate(t, s, a, 2)
	got := mustCreate(t, s, b)
	checkStored(t, got, "b", 1)
	checkStored(t, mustUpdate(t, s, b, 1), "b", 2)
	checkStored(t, mustGet(t, s, "a"), "a", 3)
}
