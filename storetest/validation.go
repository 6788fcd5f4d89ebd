package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	{"Invalid/HostileValues", testHostileValues},
	{"Invalid/HostileFilters", testHostileFilters},
	{"Valid/BoundaryValues", testBoundaryValues},
	{"Bounds/ModifiedSincePaged", testModifiedSincePaged},
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

// nested returns a JSON value nesting n levels: n-1 arrays around {}.
func nested(n int) json.RawMessage {
	return json.RawMessage(strings.Repeat("[", n-1) + "{}" + strings.Repeat("]", n-1))
}

// hostileDefinitions are definitions that encoding/json accepts but that
// the backends could not store alike (Postgres refuses NUL, lone
// surrogates and huge numbers; deep values break every wrapper and
// decoder above them), and keys that case-fold to a known field: every
// store must refuse them all with an error naming the field.
func hostileDefinitions() []struct {
	name, field string
	def         *flagcache.Definition
} {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	mod := func(f func(*flagcache.Definition)) *flagcache.Definition {
		d := flag("bad", "Bad")
		f(d)
		return d
	}
	jsonKind := func(v json.RawMessage) *flagcache.Definition {
		return mod(func(d *flagcache.Definition) { d.Kind, d.DefaultValue, d.Variations = flagcache.KindJSON, v, nil })
	}
	number := func(v string) *flagcache.Definition {
		return mod(func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindNumber, raw(v), nil
		})
	}
	extra := func(key string, v json.RawMessage) *flagcache.Definition {
		return mod(func(d *flagcache.Definition) { d.Extra = map[string]json.RawMessage{key: v} })
	}
	meta := func(key string, v json.RawMessage) *flagcache.Definition {
		return mod(func(d *flagcache.Definition) { d.Metadata.Extra = map[string]json.RawMessage{key: v} })
	}
	huge := strings.Repeat("9", 5000)
	return []struct {
		name, field string
		def         *flagcache.Definition
	}{
		// Depth: 64 levels at most, the definition's own object counted.
		{"default 64 deep", "default_value", jsonKind(nested(flagcache.MaxDepth))},
		{"default 9990 deep", "default_value", jsonKind(nested(9990))},
		{"variation 62 deep", "variations[0].value", mod(func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue = flagcache.KindJSON, raw(`{}`)
			d.Variations = []flagcache.Variation{{Value: nested(flagcache.MaxDepth - 2)}}
		})},
		{"unknown field 64 deep", "rules", extra("rules", nested(flagcache.MaxDepth))},
		{"metadata field 63 deep", "metadata.notes", meta("notes", nested(flagcache.MaxDepth-1))},
		{"environment field 62 deep", "environments.prod.rules", mod(func(d *flagcache.Definition) {
			d.Environments = map[string]flagcache.Environment{"prod": {Extra: map[string]json.RawMessage{"rules": nested(flagcache.MaxDepth - 2)}}}
		})},
		// Strings.
		{"NUL in name", "name", mod(func(d *flagcache.Definition) { d.Name = "a\x00b" })},
		{"NUL in description", "description", mod(func(d *flagcache.Definition) { d.Description = "a\x00b" })},
		{"NUL in owner", "metadata.owner", mod(func(d *flagcache.Definition) { d.Metadata.Owner = "a\x00b" })},
		{"NUL in tag", "metadata.tags", mod(func(d *flagcache.Definition) { d.Metadata.Tags = []string{"a\x00b"} })},
		{"invalid UTF-8 in description", "description", mod(func(d *flagcache.Definition) { d.Description = "a\xffb" })},
		{"invalid UTF-8 in owner", "metadata.owner", mod(func(d *flagcache.Definition) { d.Metadata.Owner = "a\xffb" })},
		{"NUL in a string default", "default_value", mod(func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindString, raw(`"a\u0000b"`), nil
		})},
		{"lone high surrogate in a string default", "default_value", mod(func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindString, raw(`"a\ud800b"`), nil
		})},
		{"lone low surrogate in json", "default_value", jsonKind(raw(`{"k":"\udc00"}`))},
		{"lone surrogate in a member name", "default_value", jsonKind(raw(`{"\ud83d":1}`))},
		{"NUL in an unknown field", "note", extra("note", raw(`"\u0000"`))},
		{"lone surrogate in an unknown field", "note", extra("note", raw(`["\ud800\u0041"]`))},
		{"invalid UTF-8 in an unknown field", "note", extra("note", raw("\"\xff\xfe\""))},
		{"invalid UTF-8 in a metadata field", "metadata.note", meta("note", raw("{\"\xc3\":1}"))},
		{"NUL in an unknown field's name", "a", extra("a\x00b", raw(`1`))},
		// Numbers.
		{"number 1e999999", "default_value", number(`1e999999`)},
		{"number -1e309", "default_value", number(`-1e309`)},
		{"number of 5000 digits", "default_value", number(huge)},
		{"number underflowing", "default_value", number(`1e-999999`)},
		{"number 300 zeros then 1", "default_value", number("0." + strings.Repeat("0", 300) + "1e-100")},
		{"huge number in json", "default_value", jsonKind(raw(`{"n":` + huge + `}`))},
		{"zero written out in 1,002 characters", "default_value", number(`0e-1000`)},
		{"a float64 written out in 421 characters", "default_value", number(`1.` + strings.Repeat("0", 99) + `e-320`)},
		{"huge number in an unknown field", "weight", extra("weight", raw(`1e999999`))},
		// Keys that case-fold to a known field.
		{"Default_Value", "Default_Value", extra("Default_Value", raw(`true`))},
		{"KIND", "KIND", extra("KIND", raw(`"string"`))},
		{"ID", "ID", extra("ID", raw(`"other"`))},
		{"Metadata", "Metadata", extra("Metadata", raw(`{}`))},
		{"metadata Owner", "metadata.Owner", meta("Owner", raw(`"mallory"`))},
		{"metadata TAGS", "metadata.TAGS", meta("TAGS", raw(`["x"]`))},
		{"variation VALUE", "variations[1].VALUE", mod(func(d *flagcache.Definition) {
			d.Variations[1].Extra = map[string]json.RawMessage{"VALUE": raw(`true`)}
		})},
		{"environment Enabled", "environments.prod.Enabled", mod(func(d *flagcache.Definition) {
			d.Environments = map[string]flagcache.Environment{"prod": {Extra: map[string]json.RawMessage{"Enabled": raw(`true`)}}}
		})},
		// Text past what every backend's index holds (Postgres' btree on
		// owner, bbolt's keys of the tag and owner indexes).
		{"owner of 257 bytes", "metadata.owner", mod(func(d *flagcache.Definition) { d.Metadata.Owner = strings.Repeat("o", flagcache.MaxNameLen+1) })},
		{"tag of 257 bytes", "metadata.tags", mod(func(d *flagcache.Definition) {
			d.Metadata.Tags = []string{"ok", strings.Repeat("t", flagcache.MaxNameLen+1)}
		})},
		// Decoded from JSON, so that a string's escapes and bytes are kept
		// as sent: a decoder that would turn them into U+FFFD must not hide
		// them from validation.
		{"escaped lone surrogate in name", "name", decoded(`"name":"a\ud800"`)},
		{"escaped lone surrogate in description", "description", decoded(`"name":"N","description":"\udfff"`)},
		{"escaped lone surrogate in owner", "metadata.owner", decoded(`"name":"N","metadata":{"owner":"\ud800"}`)},
		{"escaped lone surrogate in a tag", "metadata.tags", decoded(`"name":"N","metadata":{"tags":["ok","\udc00"]}`)},
		{"invalid UTF-8 bytes in name", "name", decoded("\"name\":\"a\xffb\"")},
		{"lone surrogate in an environment member's name", "environments.prod", decoded(`"name":"N","environments":{"prod":{"\ud800":1}}`)},
		{"lone surrogate in an unknown field's name", "", decoded(`"name":"N","\ud800":1`)},
		// Member names given twice: backends that keep the text keep both,
		// Postgres' jsonb keeps the last, and decoders disagree on which
		// one wins (or refuse the document).
		{"name twice", "name", decoded(`"name":"A","name":"B"`)},
		{"unknown field twice", "x", decoded(`"name":"N","x":1,"x":2`)},
		{"member twice in a json default", "default_value", mod(func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindJSON, raw(`{"on":true,"on":false}`), nil
		})},
		{"member twice, once escaped, in an unknown field", "rules", extra("rules", raw(`[{"a":1,"\u0061":2}]`))},
		{"environment twice", "environments.prod", decoded(`"name":"N","environments":{"prod":{"enabled":true},"prod":{"enabled":false}}`)},
		{"enabled twice", "environments.prod.enabled", decoded(`"name":"N","environments":{"prod":{"enabled":true,"enabled":false}}`)},
		{"owner twice", "metadata.owner", decoded(`"name":"N","metadata":{"owner":"a","owner":"b"}`)},
		{"many members, the last twice", "rules", extra("rules", raw(`{`+manyMembers(100)+`,"m0":1}`))},
	}
}

// decoded returns the boolean flag "bad" decoded from JSON with members
// (its name among them) added after its id, kind and default_value.
func decoded(members string) *flagcache.Definition {
	var d flagcache.Definition
	if err := json.Unmarshal([]byte(`{"id":"bad","kind":"boolean","default_value":true,`+members+`}`), &d); err != nil {
		panic(err)
	}
	return &d
}

// manyMembers returns n members "m0":0 … of a JSON object, comma-separated.
func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"m%d":%d`, i, i)
	}
	return b.String()
}

func testHostileValues(t *testing.T, s flagcache.Store) {
	for _, tc := range hostileDefinitions() {
		_, err := s.Create(ctxFor(t), tc.def)
		wantInvalid(t, "Create "+tc.name, err, tc.field)
	}
	assertEmpty(t, s)
	good := mustCreate(t, s, flag("bad", "Bad"))
	for _, tc := range hostileDefinitions() {
		_, err := s.Update(ctxFor(t), tc.def, 0)
		wantInvalid(t, "Update "+tc.name, err, tc.field)
	}
	got := mustGet(t, s, "bad")
	checkStored(t, got, "bad", 1)
	sameDefinition(t, got.Definition, good.Definition)
}

// testHostileFilters: list filters every backend could not compare alike
// are refused, naming the parameter.
func testHostileFilters(t *testing.T, s flagcache.Store) {
	mustCreate(t, s, flag("q", "Q"))
	for _, tc := range []struct {
		name  string
		q     flagcache.Query
		field string
	}{
		{"NUL in owner", flagcache.Query{Owner: "a\x00"}, "owner"},
		{"invalid UTF-8 in owner", flagcache.Query{Owner: "\xff"}, "owner"},
		{"NUL in tag", flagcache.Query{Tags: []string{"ok", "a\x00"}}, "tag"},
		{"invalid UTF-8 in tag", flagcache.Query{Tags: []string{"\xc3"}}, "tag"},
	} {
		_, err := s.List(ctxFor(t), tc.q)
		wantInvalid(t, "List "+tc.name, err, tc.field)
		_, err = s.Count(ctxFor(t), tc.q)
		wantInvalid(t, "Count "+tc.name, err, tc.field)
	}
}

// testBoundaryValues: what is just inside the bounds is stored and read
// back on every backend.
func testBoundaryValues(t *testing.T, s flagcache.Store) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	defs := []*flagcache.Definition{
		flag("deep", "Deep", func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindJSON, nested(flagcache.MaxDepth-1), nil
			d.Extra = map[string]json.RawMessage{"rules": nested(flagcache.MaxDepth - 1)}
		}),
		flag("numbers", "Numbers", func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindNumber, raw(`1.7976931348623157e308`), nil
			d.Extra = map[string]json.RawMessage{"small": raw(`5e-324`), "least": raw(`-4.9406564584124654e-324`), "large": raw(`1e308`),
				"zero": raw(`-0.0e-10`), "int": raw(strings.Repeat("9", 200))}
		}),
		flag("labels", strings.Repeat("n", flagcache.MaxNameLen), func(d *flagcache.Definition) {
			d.Metadata.Owner = strings.Repeat("\u00e9", flagcache.MaxNameLen/2)
			d.Metadata.Tags = []string{strings.Repeat("t", flagcache.MaxNameLen)}
			d.Extra = map[string]json.RawMessage{"rules": raw(`{` + manyMembers(100) + `}`)}
		}),
		flag("text", "Text \u00e9\U0001F600", func(d *flagcache.Definition) {
			d.Kind, d.DefaultValue, d.Variations = flagcache.KindString, raw(`"pair \ud83d\ude00 and \u00e9"`), nil
			d.Extra = map[string]json.RawMessage{"Note": raw(`"not a known field"`), "kinds": raw(`1`)}
			d.Metadata.Extra = map[string]json.RawMessage{"Tag": raw(`1`)}
		}),
	}
	for _, def := range defs {
		created := mustCreate(t, s, def)
		got := mustGet(t, s, string(def.ID))
		sameDefinition(t, got.Definition, created.Definition)
		// What a store gives back is a valid write as it stands, however
		// the backend re-wrote it (Postgres' jsonb writes 1e308 out as 309
		// digits): a client's read → write round trip is never refused.
		if got.Malformed != "" {
			t.Errorf("%s read back malformed: %s", def.ID, got.Malformed)
		}
		if _, err := s.Update(ctxFor(t), got.Definition, got.Version); err != nil {
			t.Errorf("%s written back as read: %v", def.ID, err)
		}
	}
}

// testModifiedSincePaged: flagcache.ModifiedSincePage (the store's own
// pager, or the fallback over ModifiedSince) pages through exactly what
// ModifiedSince returns, in its order, each page at most its limit.
func testModifiedSincePaged(t *testing.T, s flagcache.Store) {
	ctx := ctxFor(t)
	for _, id := range []string{"m3", "m1", "m5", "m2", "m4", "m7", "m6"} {
		mustCreate(t, s, flag(id, "M "+id))
	}
	d := flag("m1", "M m1 again")
	if _, err := s.Update(ctx, d, 0); err != nil {
		t.Fatal(err)
	}
	ids := func(flags []*flagcache.Stored) (out []string) {
		for _, f := range flags {
			out = append(out, string(f.Definition.ID))
		}
		return out
	}
	all, err := s.ModifiedSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var paged []*flagcache.Stored
	since, after := time.Time{}, flagcache.ID("")
	for range 10 {
		page, err := flagcache.ModifiedSincePage(ctx, s, since, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("a page of limit 3 has %d flags", len(page))
		}
		paged = append(paged, page...)
		if len(page) < 3 {
			break
		}
		last := page[len(page)-1]
		since, after = last.Definition.Metadata.UpdatedAt, last.Definition.ID
	}
	if got, want := strings.Join(ids(paged), ","), strings.Join(ids(all), ","); got != want || len(all) != 7 {
		t.Errorf("paged ModifiedSince = %s, ModifiedSince = %s (want 7 flags)", got, want)
	}
	mid := all[2].Definition.Metadata.UpdatedAt
	rest, err := s.ModifiedSince(ctx, mid)
	if err != nil {
		t.Fatal(err)
	}
	page, err := flagcache.ModifiedSincePage(ctx, s, mid, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ids(page), ","), strings.Join(ids(rest), ","); got != want {
		t.Errorf("ModifiedSincePage(since, no id) = %s, ModifiedSince(since) = %s", got, want)
	}
	_, err = flagcache.ModifiedSincePage(ctx, s, mid, "not ok", 10)
	wantInvalid(t, "ModifiedSincePage with a bad after_id", err, "after_id")
}
