package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

var crudCases = []testCase{
	{"CRUD/RoundTrip", testRoundTrip},
	{"CRUD/GetMissing", testGetMissing},
	{"CRUD/CreateExisting", testCreateExisting},
	{"CRUD/UpdateMissing", testUpdateMissing},
	{"CRUD/DeleteMissing", testDeleteMissing},
	{"CRUD/Exists", testExists},
	{"CRUD/CreateDefaultsStatus", testCreateDefaultsStatus},
	{"CRUD/InputsNotAliased", testInputsNotAliased},
	{"CRUD/UnknownFieldsPreserved", testUnknownFieldsPreserved},
	{"CRUD/Timestamps", testTimestamps},
}

// The seed's test_inmemory_storage_crud.
func testRoundTrip(t *testing.T, s flagcache.Store) {
	created := mustCreate(t, s, flag("test-flag", "Test Flag"))
	checkStored(t, created, "test-flag", 1)

	got := mustGet(t, s, "test-flag")
	checkStored(t, got, "test-flag", 1)
	sameDefinition(t, got.Definition, created.Definition)
	if got.Revision != created.Revision {
		t.Errorf("Get revision: got %d, want %d", got.Revision, created.Revision)
	}

	def := got.Definition.Clone()
	def.Status = flagcache.StatusActive
	def.Description = "now on"
	updated := mustUpdate(t, s, def, 1)
	checkStored(t, updated, "test-flag", 2)
	if updated.Revision <= created.Revision {
		t.Errorf("update revision %d not above create revision %d", updated.Revision, created.Revision)
	}
	got = mustGet(t, s, "test-flag")
	if got.Definition.Status != flagcache.StatusActive || got.Definition.Description != "now on" {
		t.Errorf("after update got status %q description %q", got.Definition.Status, got.Definition.Description)
	}
	sameDefinition(t, got.Definition, updated.Definition)

	del := mustDelete(t, s, "test-flag", 0)
	if del.Op != flagcache.OpDelete || del.ID != "test-flag" || del.Version != 3 || del.Revision <= updated.Revision {
		t.Errorf("Delete returned %+v, want op delete, version 3, revision > %d", del, updated.Revision)
	}
	wantNotFound(t, s, "test-flag")
}

func testGetMissing(t *testing.T, s flagcache.Store) {
	wantNotFound(t, s, "nope")
	mustCreate(t, s, flag("a", "A"))
	wantNotFound(t, s, "b")
}

func testCreateExisting(t *testing.T, s flagcache.Store) {
	mustCreate(t, s, flag("dup", "First"))
	_, err := s.Create(ctxFor(t), flag("dup", "Second"))
	wantErr(t, "second Create", err, flagcache.ErrAlreadyExists)
	got := mustGet(t, s, "dup")
	checkStored(t, got, "dup", 1)
	if got.Definition.Name != "First" {
		t.Errorf("name after failed create: got %q, want First", got.Definition.Name)
	}
}

func testUpdateMissing(t *testing.T, s flagcache.Store) {
	_, err := s.Update(ctxFor(t), flag("ghost", "Ghost"), 0)
	wantErr(t, "unconditional Update of missing", err, flagcache.ErrNotFound)
	_, err = s.Update(ctxFor(t), flag("ghost", "Ghost"), 1)
	wantErr(t, "conditional Update of missing", err, flagcache.ErrNotFound)
	wantNotFound(t, s, "ghost")
}

func testDeleteMissing(t *testing.T, s flagcache.Store) {
	_, err := s.Delete(ctxFor(t), "ghost", 0)
	wantErr(t, "Delete of missing", err, flagcache.ErrNotFound)
	mustCreate(t, s, flag("once", "Once"))
	mustDelete(t, s, "once", 1)
	_, err = s.Delete(ctxFor(t), "once", 0)
	wantErr(t, "second Delete", err, flagcache.ErrNotFound)
	_, err = s.Delete(ctxFor(t), "once", 2)
	wantErr(t, "conditional Delete of deleted", err, flagcache.ErrNotFound)
}

func testExists(t *testing.T, s flagcache.Store) {
	ctx := ctxFor(t)
	check := func(id string, want bool) {
		t.Helper()
		got, err := s.Exists(ctx, flagcache.ID(id))
		if err != nil || got != want {
			t.Fatalf("Exists(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	check("e", false)
	mustCreate(t, s, flag("e", "E"))
	check("e", true)
	mustDelete(t, s, "e", 0)
	check("e", false)
}

func testCreateDefaultsStatus(t *testing.T, s flagcache.Store) {
	got := mustCreate(t, s, flag("s", "S", withStatus("")))
	if got.Definition.Status != flagcache.StatusInactive {
		t.Errorf("Create status: got %q, want inactive", got.Definition.Status)
	}
	if st := mustGet(t, s, "s").Definition.Status; st != flagcache.StatusInactive {
		t.Errorf("Get status: got %q, want inactive", st)
	}
}

// A caller modifying the definition it passed in must not change the store.
// (Returned values may be shared, as tiered's cache shares them: callers
// must not modify those; see flagcache.Store.)
func testInputsNotAliased(t *testing.T, s flagcache.Store) {
	def := flag("c", "C", withTags("x"))
	mustCreate(t, s, def)
	def.Name = "changed after create"
	def.Metadata.Tags[0] = "changed"
	got := mustGet(t, s, "c")
	if got.Definition.Name != "C" || got.Definition.Metadata.Tags[0] != "x" {
		t.Fatalf("store changed through aliasing: name %q tags %v", got.Definition.Name, got.Definition.Metadata.Tags)
	}
	upd := got.Definition.Clone()
	upd.Name = "Updated"
	mustUpdate(t, s, upd, 1)
	upd.Name = "changed after update"
	if again := mustGet(t, s, "c"); again.Definition.Name != "Updated" {
		t.Fatalf("store changed through the updated definition: name %q", again.Definition.Name)
	}
}

const unknownFieldsJSON = `{
  "id": "unk", "name": "Unknown fields", "kind": "string", "default_value": "a",
  "variations": [{"value": "a", "label": "first"}, {"value": "b", "weight": 3}],
  "environments": {"production": {"enabled": true, "rollout": {"percent": 25}, "rules": [1, 2]}},
  "status": "active",
  "metadata": {"tags": ["t"], "owner": "o", "jira": "FLAG-1", "reviewers": ["x", "y"]},
  "rollout_strategy": {"kind": "gradual", "steps": [10, 50, 100]},
  "x_custom": null
}`

func testUnknownFieldsPreserved(t *testing.T, s flagcache.Store) {
	var def flagcache.Definition
	if err := json.Unmarshal([]byte(unknownFieldsJSON), &def); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, &def)
	got := mustGet(t, s, "unk")
	assertUnknown := func(d *flagcache.Definition) {
		t.Helper()
		for name, want := range map[string]string{
			"rollout_strategy": `{"kind":"gradual","steps":[10,50,100]}`,
			"x_custom":         `null`,
		} {
			if g := compact(t, d.Extra[name]); g != want {
				t.Errorf("top-level %s: got %s, want %s", name, g, want)
			}
		}
		if g := compact(t, d.Metadata.Extra["jira"]); g != `"FLAG-1"` {
			t.Errorf("metadata.jira: got %s", g)
		}
		if g := compact(t, d.Metadata.Extra["reviewers"]); g != `["x","y"]` {
			t.Errorf("metadata.reviewers: got %s", g)
		}
		env := d.Environments["production"]
		if g := compact(t, env.Extra["rollout"]); g != `{"percent":25}` {
			t.Errorf("environments.production.rollout: got %s", g)
		}
		if g := compact(t, env.Extra["rules"]); g != `[1,2]` {
			t.Errorf("environments.production.rules: got %s", g)
		}
		if len(d.Variations) != 2 || compact(t, d.Variations[0].Extra["label"]) != `"first"` || compact(t, d.Variations[1].Extra["weight"]) != `3` {
			t.Errorf("variation extras lost: %s", jsonOf(t, d.Variations))
		}
	}
	assertUnknown(got.Definition)

	// Read → modify a known field → write: the unknown ones survive.
	mod := got.Definition.Clone()
	mod.Name = "Renamed"
	mustUpdate(t, s, mod, got.Version)
	again := mustGet(t, s, "unk")
	if again.Definition.Name != "Renamed" {
		t.Errorf("name: got %q", again.Definition.Name)
	}
	assertUnknown(again.Definition)
	list := mustList(t, s, flagcache.Query{})
	if len(list) != 1 {
		t.Fatalf("List: got %d flags, want 1", len(list))
	}
	assertUnknown(list[0].Definition)
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if raw == nil {
		return "<missing>"
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("bad JSON %s: %v", raw, err)
	}
	return jsonOf(t, v)
}

// The store sets created_at and updated_at: UTC, microseconds; a caller's
// values are ignored; created_at survives updates.
func testTimestamps(t *testing.T, s flagcache.Store) {
	before := time.Now().Add(-time.Minute)
	def := flag("ts", "TS")
	bogus := time.Date(2001, 2, 3, 4, 5, 6, 789123456, time.FixedZone("x", 3600))
	def.Metadata.CreatedAt, def.Metadata.UpdatedAt = bogus, bogus
	created := mustCreate(t, s, def)
	md := created.Definition.Metadata
	checkStamp := func(what string, ts time.Time) {
		t.Helper()
		if ts.Location() != time.UTC {
			t.Errorf("%s: location %v, want UTC", what, ts.Location())
		}
		if ts.Nanosecond()%1000 != 0 {
			t.Errorf("%s: %v has sub-microsecond digits", what, ts)
		}
		if ts.Before(before) || ts.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s: %v is not the time of the write", what, ts)
		}
	}
	checkStamp("created_at", md.CreatedAt)
	checkStamp("updated_at", md.UpdatedAt)
	if !md.CreatedAt.Equal(md.UpdatedAt) {
		t.Errorf("on create: created_at %v != updated_at %v", md.CreatedAt, md.UpdatedAt)
	}
	got := mustGet(t, s, "ts")
	if !got.Definition.Metadata.CreatedAt.Equal(md.CreatedAt) || !got.Definition.Metadata.UpdatedAt.Equal(md.UpdatedAt) {
		t.Errorf("Get timestamps %v/%v differ from Create's %v/%v", got.Definition.Metadata.CreatedAt, got.Definition.Metadata.UpdatedAt, md.CreatedAt, md.UpdatedAt)
	}

	mod := got.Definition.Clone()
	mod.Metadata.CreatedAt = bogus
	updated := mustUpdate(t, s, mod, 1)
	umd := updated.Definition.Metadata
	if !umd.CreatedAt.Equal(md.CreatedAt) {
		t.Errorf("update changed created_at: got %v, want %v", umd.CreatedAt, md.CreatedAt)
	}
	checkStamp("updated_at after update", umd.UpdatedAt)
	if umd.UpdatedAt.Before(md.UpdatedAt) {
		t.Errorf("updated_at went back: %v before %v", umd.UpdatedAt, md.UpdatedAt)
	}
	if g := mustGet(t, s, "ts").Definition.Metadata; !g.UpdatedAt.Equal(umd.UpdatedAt) || !g.CreatedAt.Equal(md.CreatedAt) {
		t.Errorf("Get after update: %v/%v, want %v/%v", g.CreatedAt, g.UpdatedAt, md.CreatedAt, umd.UpdatedAt)
	}
}

func isConflict(err error) (*flagcache.VersionConflictError, bool) {
	var vc *flagcache.VersionConflictError
	ok := errors.As(err, &vc) && errors.Is(err, flagcache.ErrVersionConflict)
	return vc, ok
}
