package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

var validationCases = []testCase{
	{"Invalid/CreateRejected", testInvalidCreate},
	{"Invalid/UpdateRejected", testInvalidUpdate},
	{"Invalid/IDsRejectedEverywhere", testInvalidIDs},
	{"Invalid/NegativeVersions", testNegativeVersions},
	{"Invalid/Query", testInvalidQuery},
	{"Context/Cancelled", testCancelledContext},
}

// badDefinitions are definitions every store must refuse; field is the name
// the error must carry.
func badDefinitions() []struct {
	name, field string
	def         *flagcache.Definition
} {
	mod := func(f func(*flagcache.Definition)) *flagcache.Definition {
		d := flag("bad", "Bad")
		f(d)
		return d
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	return []struct {
		name, field string
		def         *flagcache.Definition
	}{
		{"empty id", "id", mod(func(d *flagcache.Definition) { d.ID = "" })},
		{"id with slash", "id", mod(func(d *flagcache.Definition) { d.ID = "a/b" })},
		{"id dot dot", "id", mod(func(d *flagcache.Definition) { d.ID = ".." })},
		{"id star", "id", mod(func(d *flagcache.Definition) { d.ID = "*" })},
		{"id 257 bytes", "id", mod(func(d *flagcache.Definition) { d.ID = flagcache.ID(strings.Repeat("a", 257)) })},
		{"id with newline", "id", mod(func(d *flagcache.Definition) { d.ID = "a\r\nb" })},
		{"id with NUL", "id", mod(func(d *flagcache.Definition) { d.ID = "a\x00b" })},
		{"id unicode", "id", mod(func(d *flagcache.Definition) { d.ID = "fläg" })},
		{"missing name", "name", mod(func(d *flagcache.Definition) { d.Name = "" })},
		{"name too long", "name", mod(func(d *flagcache.Definition) { d.Name = strings.Repeat("n", 257) })},
		{"missing kind", "kind", mod(func(d *flagcache.Definition) { d.Kind = "" })},
		{"unknown kind", "kind", mod(func(d *flagcache.Definition) { d.Kind = "enum" })},
		{"missing default", "default_value", mod(func(d *flagcache.Definition) { d.DefaultValue = nil })},
		{"boolean default is a string", "default_value", mod(func(d *flagcache.Definition) { d.DefaultValue = raw(`"true"`) })},
		{"number default is a bool", "default_value", mod(func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindNumber, raw(`true`), nil
		})},
		{"string default is a number", "default_value", mod(func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindString, raw(`1`), nil
		})},
		{"default not JSON", "default_value", mod(func(d *flagcache.Definition) { d.DefaultValue = raw(`tru`) })},
		{"variation of wrong kind", "variations[1].value", mod(func(d *flagcache.Definition) {
			d.Variations = []flagcache.Variation{{Value: raw(`true`)}, {Value: raw(`"no"`)}}
		})},
		{"unknown status", "status", mod(func(d *flagcache.Definition) { d.Status = "paused" })},
		{"bad environment name", "environments", mod(func(d *flagcache.Definition) {
			d.Environments = map[string]flagcache.Environment{"Prod!": {}}
		})},
	}
}

func wantInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	if !errors.Is(err, flagcache.ErrInvalidArgument) {
		t.Fatalf("%s: got %v, want ErrInvalidArgument", what, err)
	}
	if field != "" && !strings.Contains(err.Error(), field) {
		t.Errorf("%s: error %q does not name the field %q", what, err, field)
	}
}

func testInvalidCreate(t *testing.T, s flagcache.Store) {
	for _, tc := range badDefinitions() {
		_, err := s.Create(ctxFor(t), tc.def)
		wantInvalid(t, "Create "+tc.name, err, tc.field)
	}
	assertEmpty(t, s)
}

func testInvalidUpdate(t *testing.T, s flagcache.Store) {
	good := mustCreate(t, s, flag("bad", "Bad"))
	for _, tc := range badDefinitions() {
		if tc.field == "id" {
			continue // a different id is another flag; covered by IDsRejectedEverywhere
		}
		_, err := s.Update(ctxFor(t), tc.def, 0)
		wantInvalid(t, "Update "+tc.name, err, tc.field)
	}
	got := mustGet(t, s, "bad")
	checkStored(t, got, "bad", 1)
	sameDefinition(t, got.Definition, good.Definition)
}

func testInvalidIDs(t *testing.T, s flagcache.Store) {
	ctx := ctxFor(t)
	for _, id := range []flagcache.ID{"", "a b", "../etc", "*", "a\nb", flagcache.ID(strings.Repeat("x", 300))} {
		_, err := s.Get(ctx, id)
		wantInvalid(t, "Get "+string(id), err, "")
		_, err = s.Exists(ctx, id)
		wantInvalid(t, "Exists "+string(id), err, "")
		_, err = s.Delete(ctx, id, 0)
		wantInvalid(t, "Delete "+string(id), err, "")
		_, err = s.GetMany(ctx, []flagcache.ID{"ok", id})
		wantInvalid(t, "GetMany "+string(id), err, "")
	}
}

func testNegativeVersions(t *testing.T, s flagcache.Store) {
	def := flag("n", "N")
	mustCreate(t, s, def)
	_, err := s.Update(ctxFor(t), def, -1)
	wantInvalid(t, "Update expecting -1", err, "")
	_, err = s.Delete(ctxFor(t), "n", -1)
	wantInvalid(t, "Delete expecting -1", err, "")
	checkStored(t, mustGet(t, s, "n"), "n", 1)
}

func testInvalidQuery(t *testing.T, s flagcache.Store) {
	mustCreate(t, s, flag("q", "Q"))
	for _, tc := range []struct {
		name  string
		q     flagcache.Query
		field string
	}{
		{"unknown status", flagcache.Query{Status: "paused"}, "status"},
		{"negative offset", flagcache.Query{Offset: -1}, "offset"},
		{"negative limit", flagcache.Query{Limit: -5}, "limit"},
		{"bad environment", flagcache.Query{Environment: "PROD"}, "environment"},
		{"empty tag", flagcache.Query{Tags: []string{""}}, "tag"},
	} {
		_, err := s.List(ctxFor(t), tc.q)
		wantInvalid(t, "List "+tc.name, err, tc.field)
		_, err = s.Count(ctxFor(t), tc.q)
		wantInvalid(t, "Count "+tc.name, err, tc.field)
	}
	_, err := s.Changes(ctxFor(t), -1, 0)
	wantInvalid(t, "Changes after -1", err, "")
	_, err = s.Changes(ctxFor(t), 0, -1)
	wantInvalid(t, "Changes limit -1", err, "")
}

// assertEmpty checks that nothing was written: no flags, revision 0.
func assertEmpty(t *testing.T, s flagcache.Store) {
	t.Helper()
	n, err := s.Count(ctxFor(t), flagcache.Query{IncludeArchived: true})
	if err != nil || n != 0 {
		t.Errorf("Count after rejected writes = %d, %v; want 0", n, err)
	}
	feed, err := s.Changes(ctxFor(t), 0, 0)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	if feed.Revision != 0 || len(feed.Changes) != 0 {
		t.Errorf("rejected writes moved the feed: revision %d, %d changes", feed.Revision, len(feed.Changes))
	}
}

func testCancelledContext(t *testing.T, s flagcache.Store) {
	existing := mustCreate(t, s, flag("c", "C"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"Get":     func() error { _, err := s.Get(ctx, "c"); return err },
		"GetMany": func() error { _, err := s.GetMany(ctx, []flagcache.ID{"c"}); return err },
		"List":    func() error { _, err := s.List(ctx, flagcache.Query{}); return err },
		"Count":   func() error { _, err := s.Count(ctx, flagcache.Query{}); return err },
		"Create":  func() error { _, err := s.Create(ctx, flag("new", "New")); return err },
		"Update": func() error {
			d := existing.Definition.Clone()
			d.Name = "cancelled"
			_, err := s.Update(ctx, d, 1)
			return err
		},
		"Delete":        func() error { _, err := s.Delete(ctx, "c", 0); return err },
		"Exists":        func() error { _, err := s.Exists(ctx, "c"); return err },
		"ModifiedSince": func() error { _, err := s.ModifiedSince(ctx, time.Time{}); return err },
		"Changes":       func() error { _, err := s.Changes(ctx, 0, 0); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want context.Canceled", name, err)
		}
	}
	got := mustGet(t, s, "c")
	checkStored(t, got, "c", 1)
	if got.Definition.Name != "C" {
		t.Errorf("cancelled Update was written: name %q", got.Definition.Name)
	}
	wantNotFound(t, s, "new")
	feed, err := s.Changes(ctxFor(t), 0, 0)
	if err != nil || feed.Revision != existing.Revision {
		t.Errorf("cancelled writes moved the revision: %v, %v; want %d", feed, err, existing.Revision)
	}
}
