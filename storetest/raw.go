package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/flagcache/flagcache"
)

// Raw is the raw-write hook of a store under test: Write stores raw as the
// definition of id behind the store's back, the way another writer sharing
// its storage would (SQL for Postgres, a key for Redis, a record for bbolt
// and memstore): unvalidated, as the next version of id, with no timestamps
// set. A backend that cannot hold some bytes (Postgres jsonb and bytes that
// are not JSON) returns an error matching errors.ErrUnsupported, and the
// case skips them.
//
// A factory registers it with SetRaw for the store it returns; the cases of
// fidelity and of rows flagcache does not model (raw.go) skip a store
// without one.
type Raw struct {
	Write func(ctx context.Context, id flagcache.ID, raw []byte) error
	// ValueEqual says the store serves the JSON value it holds, not its
	// bytes (Postgres jsonb, or anything behind the HTTP API, which
	// re-encodes): definitions are then compared as JSON values.
	ValueEqual bool
}

var raws sync.Map // *testing.T -> Raw

// SetRaw registers the raw-write hook of the store a NewStore factory is
// about to return for t (the t the factory was given).
func SetRaw(t *testing.T, r Raw) {
	raws.Store(t, r)
	t.Cleanup(func() { raws.Delete(t) })
}

func rawFor(t *testing.T) (Raw, bool) {
	r, ok := raws.Load(t)
	if !ok {
		return Raw{}, false
	}
	return r.(Raw), true
}

type rawCase struct {
	name string
	fn   func(t *testing.T, s flagcache.Store, raw Raw)
}

var rawCases = []rawCase{
	{"Fidelity/ServedAsStored", testServedAsStored},
	{"Fidelity/ReadModifyWrite", testRawReadModifyWrite},
	{"OddRows/EveryReadPath", testOddRowsEveryReadPath},
	{"OddRows/Filters", testOddRowsFilters},
	{"OddRows/WritesStayValidated", testOddRowsWritesValidated},
	{"OddRows/NotJSON", testOddRowsNotJSON},
	{"OddRows/ModifiedSincePaged", testOddRowsModifiedSincePaged},
	{"OddRows/TextNoBackendShares", testOddRowsText},
}

// fidelityRows are definitions (the id is added first) with empty values,
// nulls, absent members and unknown members at every level.
var fidelityRows = []string{
	`"name":"Empty values","description":"","kind":"boolean","default_value":false,"variations":[],"environments":{},"status":"active","metadata":{"tags":[],"owner":""}`,
	`"name":"Nulls","description":null,"kind":"boolean","default_value":true,"variations":null,"environments":null,"status":null,"metadata":null`,
	`"name":"Legacy banner","kind":"boolean","default_value":false,"metadata":{"tags":[],"owner":null,"created_at":"2026-11-25T10:00:00.123456Z"}`,
	`"name":"Environments","kind":"boolean","default_value":false,"environments":{"production":{},"staging":{"rules":[]},"dev":null,"qa":{"enabled":false,"x":{}}}`,
	`"name":"Absent everything"`,
	`"zz":1,"name":"Unknown everywhere","aa":{"n":[{}]},"kind":"json","default_value":{"a":[]},"variations":[{},{"value":{"b":null},"label":""},{"value":null}],"environments":{"production":{"enabled":true,"w":[{"a":{}}]}},"metadata":{"x":{},"tags":["t"],"y":[]},"status":"active"`,
	`"name":"Text <&> \u00e9 \u2028","kind":"string","default_value":"a\"b\\c"`,
	`"name":"Offset timestamps","kind":"boolean","default_value":false,"metadata":{"created_at":"2026-11-25T12:00:00+02:00","updated_at":"2026-11-25T10:00:00Z"}`,
	`"name":"Edge timestamps","kind":"boolean","default_value":false,"metadata":{"created_at":"0001-01-01T00:00:00Z","updated_at":"9999-12-31T23:59:59.999999Z"}`,
	`"name":"Twice","name":"Second","kind":"boolean","default_value":true,"environments":{"production":{"enabled":false},"production":{"enabled":true}},"metadata":{"tags":["a"],"tags":["b"]}`,
	`"name":"\ud83d\ude00 😀 \u2028 \ufffd \uffff","kind":"string","default_value":"\u00e9e\u0301"`,
	// A megabyte (decimal: a write of it still fits the API's 1 MiB body).
	`"name":"Megabyte","kind":"string","default_value":"` + strings.Repeat("x", 1000*1000) + `"`,
}

// oddRow is a definition in a shape flagcache does not model.
type oddRow struct {
	name string
	body string // after the id
	// doc, when set, is the whole definition instead, and served what it
	// is served as when not doc; %ID% in them stands for the flag's id.
	doc, served string
}

var oddRows = []oddRow{
	{name: "created_at-not-a-timestamp", body: `"name":"Odd created","kind":"boolean","default_value":true,"metadata":{"created_at":"yesterday","updated_at":12}`},
	{name: "tags-a-string", body: `"name":"Odd tags","kind":"boolean","default_value":true,"metadata":{"tags":"t","owner":5}`},
	{name: "tags-mixed", body: `"name":"Odd mixed tags","kind":"boolean","default_value":true,"metadata":{"tags":["t",5]}`},
	{name: "environments-an-array", body: `"name":"Odd environments","kind":"boolean","default_value":true,"environments":["production"]`},
	{name: "environment-not-an-object", body: `"name":"Odd environment","kind":"boolean","default_value":true,"environments":{"production":5,"staging":{"enabled":"yes"}}`},
	{name: "name-a-number", body: `"name":5,"kind":"boolean","default_value":true`},
	{name: "missing-kind", body: `"name":"No kind","default_value":true`},
	{name: "kind-unknown", body: `"name":"Odd kind","kind":"colour","default_value":"red","status":"someday"`},
	{name: "variations-an-object", body: `"name":"Odd variations","kind":"boolean","default_value":true,"variations":{"on":true}`},
	{name: "variation-not-an-object", body: `"name":"Odd variation","kind":"boolean","default_value":true,"variations":[true,false]`},
	{name: "metadata-an-array", body: `"name":"Odd metadata","kind":"boolean","default_value":true,"metadata":["m"]`},
	{name: "status-a-number", body: `"name":"Odd status","kind":"boolean","default_value":true,"status":3`},
	{name: "nested-deeper-than-writes", body: `"name":"Deep","kind":"json","default_value":` + strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100)},
	{name: "nested-deeper-than-encoding-json", body: `"name":"Deeper","kind":"json","default_value":` + strings.Repeat(`{"a":`, 11000) + `1` + strings.Repeat(`}`, 11000)},
	{name: "tags-and-owner-objects", body: `"name":"Odd objects","kind":"boolean","default_value":true,"metadata":{"tags":{"t":true},"owner":{"team":"5"}}`},
	{name: "tags-numbers", body: `"name":"Odd tag numbers","kind":"boolean","default_value":true,"metadata":{"tags":[1,2]}`},
	{name: "metadata-a-string", body: `"name":"Odd metadata string","kind":"boolean","default_value":true,"metadata":"m"`},
	{name: "default-not-of-its-kind", body: `"name":"Odd default","kind":"boolean","default_value":{"a":1}`},
	{name: "kind-a-number", body: `"name":"Odd kind number","kind":1,"default_value":true`},
	{name: "id-not-the-key",
		doc:    `{"id":"someone-else","name":"Odd id","kind":"boolean","default_value":true}`,
		served: `{"id":"%ID%","name":"Odd id","kind":"boolean","default_value":true}`},
	{name: "id-a-number", doc: `{"name":"Odd id number","id":5,"kind":"boolean","default_value":true}`,
		served: `{"name":"Odd id number","id":"%ID%","kind":"boolean","default_value":true}`},
	{name: "null", doc: `null`},
	{name: "empty-object", doc: `{}`, served: `{"id":"%ID%"}`},
	{name: "a-string", doc: `"flag"`},
}

func (r oddRow) raw(id string) string {
	if r.doc != "" {
		return strings.ReplaceAll(r.doc, "%ID%", id)
	}
	return `{"id":"` + id + `",` + r.body + `}`
}

// servedAs is what the row is served as: as stored, but for an id that
// is not the flag's key.
func (r oddRow) servedAs(id string) string {
	if r.served != "" {
		return strings.ReplaceAll(r.served, "%ID%", id)
	}
	return r.raw(id)
}

// wantServed checks that got serves raw: byte for byte, or as a JSON
// value for a store that keeps values.
func wantServed(t *testing.T, raw Raw, where string, got *flagcache.Stored, want string) {
	t.Helper()
	if got == nil || got.Definition == nil {
		t.Errorf("%s: no flag", where)
		return
	}
	g := string(got.Definition.AppendJSON(nil))
	if g == want {
		return
	}
	if raw.ValueEqual && jsonValueEqual(g, want) {
		return
	}
	t.Errorf("%s: served as\n%.300s\nstored\n%.300s", where, g, want)
}

// jsonValueEqual compares two JSON texts as values: objects as sets of
// members, numbers as written. It parses them itself, as encoding/json
// stops at 10,000 levels.
func jsonValueEqual(a, b string) bool {
	x, okA := parseValue(a)
	y, okB := parseValue(b)
	return okA && okB && jsonEqualValues(x, y)
}

// parseValue parses a JSON text into maps, slices, and strings for the
// scalars (a string keeps its quotes, so "1" and 1 differ).
func parseValue(s string) (any, bool) {
	p := &parser{s: s}
	v, ok := p.value()
	p.space()
	return v, ok && p.i == len(s)
}

type parser struct {
	s string
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *parser) value() (any, bool) {
	p.space()
	if p.i >= len(p.s) {
		return nil, false
	}
	switch p.s[p.i] {
	case '{':
		m := map[string]any{}
		p.i++
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == '}' && len(m) == 0 {
				p.i++
				return m, true
			}
			k, ok := p.value()
			ks, isString := k.(string)
			p.space()
			if !ok || !isString || p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, false
			}
			p.i++
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			m[ks] = v
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return m, true
			}
			return nil, false
		}
	case '[':
		l := []any{}
		p.i++
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ']' && len(l) == 0 {
				p.i++
				return l, true
			}
			v, ok := p.value()
			if !ok {
				return nil, false
			}
			l = append(l, v)
			p.space()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return l, true
			}
			return nil, false
		}
	case '"':
		start := p.i
		for p.i++; p.i < len(p.s) && p.s[p.i] != '"'; p.i++ {
			if p.s[p.i] == '\\' {
				p.i++
			}
		}
		if p.i >= len(p.s) {
			return nil, false
		}
		p.i++
		var str string
		if err := json.Unmarshal([]byte(p.s[start:p.i]), &str); err != nil {
			return nil, false
		}
		return strconv.Quote(str), true
	}
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(",]} \t\r\n", p.s[p.i]) < 0 {
		p.i++
	}
	tok := p.s[start:p.i]
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return f, true
	}
	return tok, tok == "true" || tok == "false" || tok == "null"
}

func jsonEqualValues(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqualValues(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqualValues(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func mustRaw(t *testing.T, raw Raw, id, doc string) {
	t.Helper()
	if err := raw.Write(ctxFor(t), flagcache.ID(id), []byte(doc)); err != nil {
		t.Fatalf("raw write of %s: %v", id, err)
	}
}

func testServedAsStored(t *testing.T, s flagcache.Store, raw Raw) {
	want := map[string]string{}
	var all []flagcache.ID
	for i, body := range fidelityRows {
		id := fmt.Sprintf("fid-%d", i)
		doc := `{"id":"` + id + `",` + body + `}`
		mustRaw(t, raw, id, doc)
		want[id] = doc
		all = append(all, flagcache.ID(id))
	}
	for _, id := range all {
		wantServed(t, raw, "Get "+string(id), mustGet(t, s, string(id)), want[string(id)])
	}
	many, err := s.GetMany(ctxFor(t), all)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	for _, id := range all {
		wantServed(t, raw, "GetMany "+string(id), many[id], want[string(id)])
	}
	list := mustList(t, s, flagcache.Query{IncludeArchived: true})
	if len(list) != len(all) {
		t.Fatalf("List: %d flags, want %d", len(list), len(all))
	}
	for _, f := range list {
		wantServed(t, raw, "List "+string(f.Definition.ID), f, want[string(f.Definition.ID)])
	}
	feed := mustChanges(t, s, 0, 0)
	for _, c := range feed.Changes {
		wantServed(t, raw, "Changes "+string(c.ID), c.Flag, want[string(c.ID)])
	}
	// The ones that validate are no Malformed rows.
	for _, id := range []string{"fid-0", "fid-6"} {
		if m := mustGet(t, s, id).Malformed; m != "" {
			t.Errorf("%s: Malformed %q for a definition that validates", id, m)
		}
	}
}

// A read → modify → write through the Go types keeps every member it did
// not touch; only the store's own timestamps (and the default status) are
// added.
func testRawReadModifyWrite(t *testing.T, s flagcache.Store, raw Raw) {
	for i, body := range fidelityRows {
		id := fmt.Sprintf("rmw-%d", i)
		doc := `{"id":"` + id + `",` + body + `}`
		mustRaw(t, raw, id, doc)
		got := mustGet(t, s, id)
		if got.Definition.Validate() != nil {
			continue // only definitions that validate can be written back
		}
		mod := got.Definition.Clone()
		mod.Description = "changed"
		upd := mustUpdate(t, s, mod, got.Version)
		again := mustGet(t, s, id)
		for _, f := range []*flagcache.Stored{upd, again} {
			var served, stored map[string]any
			if err := json.Unmarshal(f.Definition.AppendJSON(nil), &served); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(doc), &stored); err != nil {
				t.Fatal(err)
			}
			stored["description"] = "changed"
			if stored["status"] == nil {
				stored["status"] = "inactive"
			}
			md, _ := stored["metadata"].(map[string]any)
			if md == nil {
				md = map[string]any{}
				stored["metadata"] = md
			}
			smd, _ := served["metadata"].(map[string]any)
			for _, ts := range []string{"created_at", "updated_at"} {
				if _, ok := smd[ts]; !ok {
					t.Errorf("%s: the write did not set metadata.%s", id, ts)
				}
				md[ts] = smd[ts]
			}
			if !jsonEqualValues(normalize(served), normalize(stored)) {
				t.Errorf("%s after read → modify → write:\n got %s\nwant %s", id, jsonOf(t, served), jsonOf(t, stored))
			}
		}
	}
}

// normalize turns a value decoded by encoding/json into parseValue's form.
func normalize(v any) any {
	b, _ := json.Marshal(v)
	out, _ := parseValue(string(b))
	return out
}

// seedNormal creates valid flags next to the odd rows.
func seedNormal(t *testing.T, s flagcache.Store) []string {
	mustCreate(t, s, flag("normal-a", "Normal A", withTags("t"), withOwner("5"), withEnvs("production")))
	mustCreate(t, s, flag("normal-b", "Normal B", withStatus(flagcache.StatusActive)))
	return []string{"normal-a", "normal-b"}
}

func testOddRowsEveryReadPath(t *testing.T, s flagcache.Store, raw Raw) {
	normal := seedNormal(t, s)
	want := map[string]string{}
	var oddIDs []string
	for _, r := range oddRows {
		id := "odd-" + r.name
		mustRaw(t, raw, id, r.raw(id))
		want[id] = r.servedAs(id)
		oddIDs = append(oddIDs, id)
	}
	all := append(slices.Clone(normal), oddIDs...)

	for _, id := range oddIDs {
		got, err := s.Get(ctxFor(t), flagcache.ID(id))
		if err != nil {
			t.Errorf("Get(%s): %v", id, err)
			continue
		}
		wantServed(t, raw, "Get "+id, got, want[id])
		if got.Malformed == "" {
			t.Errorf("Get(%s): not marked Malformed", id)
		}
		if ok, err := s.Exists(ctxFor(t), flagcache.ID(id)); !ok || err != nil {
			t.Errorf("Exists(%s) = %v, %v", id, ok, err)
		}
	}
	idList := make([]flagcache.ID, len(all))
	for i, id := range all {
		idList[i] = flagcache.ID(id)
	}
	many, err := s.GetMany(ctxFor(t), idList)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	if len(many) != len(all) {
		t.Errorf("GetMany: %d flags, want %d", len(many), len(all))
	}
	for _, id := range oddIDs {
		wantServed(t, raw, "GetMany "+id, many[flagcache.ID(id)], want[id])
	}

	list := mustList(t, s, flagcache.Query{})
	if g := sortedIDs(list); !equalStrings(g, sorted(all)) {
		t.Errorf("List: got %v, want %v", g, sorted(all))
	}
	if !slices.IsSortedFunc(list, flagcache.CompareStored) {
		t.Errorf("List out of order: %v", ids(list))
	}
	for _, f := range list {
		if w, ok := want[string(f.Definition.ID)]; ok {
			wantServed(t, raw, "List "+string(f.Definition.ID), f, w)
		}
	}
	page := mustList(t, s, flagcache.Query{Offset: 1, Limit: 3})
	if g, w := ids(page), ids(list[1:4]); !equalStrings(g, w) {
		t.Errorf("List page: got %v, want %v", g, w)
	}
	if n, err := s.Count(ctxFor(t), flagcache.Query{}); err != nil || n != len(all) {
		t.Errorf("Count = %d, %v; want %d", n, err, len(all))
	}

	feed := mustChanges(t, s, 0, 0)
	var fed []string
	for _, c := range feed.Changes {
		fed = append(fed, string(c.ID))
		if w, ok := want[string(c.ID)]; ok {
			wantServed(t, raw, "Changes "+string(c.ID), c.Flag, w)
		}
	}
	if !equalStrings(sorted(fed), sorted(all)) {
		t.Errorf("Changes: got %v, want %v", fed, all)
	}
	// Paging the feed one change at a time passes every row.
	after, n := int64(0), 0
	for {
		p := mustChanges(t, s, after, 1)
		if len(p.Changes) == 0 {
			break
		}
		after = p.Changes[0].Revision
		n++
	}
	if n != len(all) {
		t.Errorf("Changes one by one: %d changes, want %d", n, len(all))
	}

	mod, err := s.ModifiedSince(ctxFor(t), flagcache.Timestamp(mustGet(t, s, "normal-a").Definition.Metadata.UpdatedAt).Add(-1))
	if err != nil {
		t.Fatalf("ModifiedSince: %v", err)
	}
	if g := ids(mod); !slices.Contains(g, "normal-a") || !slices.Contains(g, "normal-b") {
		t.Errorf("ModifiedSince: %v lacks the normal flags", g)
	}

	// An odd row can be replaced by a valid definition, and deleted.
	upd := mustUpdate(t, s, flag("odd-name-a-number", "Fixed"), 0)
	if upd.Malformed != "" || upd.Version != 2 {
		t.Errorf("Update over an odd row: version %d, Malformed %q", upd.Version, upd.Malformed)
	}
	mustDelete(t, s, "odd-tags-a-string", 0)
	wantNotFound(t, s, "odd-tags-a-string")
}

func testOddRowsFilters(t *testing.T, s flagcache.Store, raw Raw) {
	seedNormal(t, s)
	for _, r := range oddRows {
		id := "odd-" + r.name
		mustRaw(t, raw, id, r.raw(id))
	}
	for _, tc := range []struct {
		q    flagcache.Query
		want []string
	}{
		// tags "t" (a string) and ["t", 5] are not tags.
		{flagcache.Query{Tags: []string{"t"}}, []string{"normal-a"}},
		// owner 5 (a number) is not the owner "5".
		{flagcache.Query{Owner: "5"}, []string{"normal-a"}},
		// environments ["production"] defines none; {"production": 5} does.
		{flagcache.Query{Environment: "production"}, []string{"normal-a", "odd-environment-not-an-object"}},
		{flagcache.Query{Environment: "staging"}, []string{"odd-environment-not-an-object"}},
		{flagcache.Query{Status: flagcache.StatusActive}, []string{"normal-b"}},
		{flagcache.Query{Status: flagcache.StatusInactive}, []string{"normal-a"}},
	} {
		got := mustList(t, s, tc.q)
		if g := sortedIDs(got); !equalStrings(g, sorted(tc.want)) {
			t.Errorf("List(%+v): got %v, want %v", tc.q, g, tc.want)
		}
		if n, err := s.Count(ctxFor(t), tc.q); err != nil || n != len(tc.want) {
			t.Errorf("Count(%+v) = %d, %v; want %d", tc.q, n, err, len(tc.want))
		}
	}
}

// A definition read from an odd row and written back unchanged is refused
// naming the odd member; once fixed it is written.
func testOddRowsWritesValidated(t *testing.T, s flagcache.Store, raw Raw) {
	mustRaw(t, raw, "odd", `{"id":"odd","name":"Odd","kind":"boolean","default_value":true,"metadata":{"tags":"t","created_at":"yesterday"}}`)
	got := mustGet(t, s, "odd")
	mod := got.Definition.Clone()
	mod.Description = "changed"
	_, err := s.Update(ctxFor(t), mod, got.Version)
	var bad *flagcache.InvalidError
	if !errors.As(err, &bad) || bad.Field != "metadata.tags" {
		t.Fatalf("Update with tags a string: %v, want an *InvalidError naming metadata.tags", err)
	}
	if again := mustGet(t, s, "odd"); again.Version != got.Version {
		t.Fatalf("a refused write changed the flag: version %d", again.Version)
	}
	mod.Metadata.Tags = []string{"t"}
	upd := mustUpdate(t, s, mod, got.Version)
	if upd.Malformed != "" || !slices.Equal(upd.Definition.Metadata.Tags, []string{"t"}) || upd.Definition.Metadata.CreatedAt.IsZero() {
		t.Errorf("fixed write: Malformed %q, tags %v, created_at %v", upd.Malformed, upd.Definition.Metadata.Tags, upd.Definition.Metadata.CreatedAt)
	}
}

// Bytes that are not JSON (bbolt, Redis and memory can hold them) are
// served as a JSON string of them, marked, and break nothing else.
func testOddRowsNotJSON(t *testing.T, s flagcache.Store, raw Raw) {
	mustCreate(t, s, flag("normal", "Normal"))
	err := raw.Write(ctxFor(t), "garbage", []byte(`{"id":"garbage","name":`))
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("the store holds only JSON")
	}
	if err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, "garbage")
	if got.Malformed == "" {
		t.Errorf("not marked Malformed")
	}
	if d := string(got.Definition.AppendJSON(nil)); d != `"{\"id\":\"garbage\",\"name\":"` {
		t.Errorf("served as %s", d)
	}
	if g := sortedIDs(mustList(t, s, flagcache.Query{})); !equalStrings(g, []string{"garbage", "normal"}) {
		t.Errorf("List: %v", g)
	}
	if feed := mustChanges(t, s, 0, 0); len(feed.Changes) != 2 {
		t.Errorf("Changes: %d changes, want 2", len(feed.Changes))
	}
}

// Paging ModifiedSince on from the last flag of each page (its
// Stored.ModifiedAt and id, the cursor GET /v1/flags:modifiedSince sends
// as next) passes every flag ModifiedSince returns, once and in its order,
// and ends, whatever updated_at the rows another writer stored say: none,
// not a timestamp, long ago, far ahead, with an offset.
func testOddRowsModifiedSincePaged(t *testing.T, s flagcache.Store, raw Raw) {
	seedNormal(t, s)
	for i, md := range []string{
		``,
		`,"metadata":{"updated_at":"yesterday"}`,
		`,"metadata":{"created_at":"2000-01-01T00:00:00Z","updated_at":"2000-01-01T00:00:00Z"}`,
		`,"metadata":{"updated_at":"9999-12-31T23:59:59.999999Z"}`,
		`,"metadata":{"updated_at":"2030-01-01T00:00:00+14:00"}`,
		`,"metadata":"m"`,
	} {
		id := fmt.Sprintf("mod-%d", i)
		mustRaw(t, raw, id, `{"id":"`+id+`","name":"M","kind":"boolean","default_value":true`+md+`}`)
	}
	mustCreate(t, s, flag("normal-c", "Normal C"))
	ctx := ctxFor(t)
	since := time.Unix(0, 0)
	all, err := s.ModifiedSince(ctx, since)
	if err != nil {
		t.Fatalf("ModifiedSince: %v", err)
	}
	if g := ids(all); !slices.Contains(g, "normal-a") || !slices.Contains(g, "normal-c") {
		t.Fatalf("ModifiedSince(%v) = %v: the flags written through the store are missing", since, g)
	}
	for _, limit := range []int{1, 2} {
		var got []string
		cur, after := since, flagcache.ID("")
		for range len(all) + 2 {
			page, err := flagcache.ModifiedSincePage(ctx, s, cur, after, limit)
			if err != nil {
				t.Fatalf("ModifiedSincePage(%v, %q, %d): %v", cur, after, limit, err)
			}
			got = append(got, ids(page)...)
			if len(page) < limit {
				break
			}
			last := page[len(page)-1]
			cur, after = last.ModifiedAt(), last.Definition.ID
		}
		if want := ids(all); !equalStrings(got, want) {
			t.Errorf("paged by %d: got %v, want ModifiedSince's %v", limit, got, want)
		}
	}
}

// Text that not every backend can hold (bbolt, Redis and memory can):
// bytes that are not UTF-8, NUL, a lone surrogate. Each row is served
// marked, in valid JSON (invalid byte sequences as U+FFFD: JSON is
// UTF-8), and every collection holding it is valid JSON; a write of the
// same bytes is refused.
func testOddRowsText(t *testing.T, s flagcache.Store, raw Raw) {
	mustCreate(t, s, flag("normal", "Normal"))
	rows := map[string]string{
		"bad-utf8":       "{\"id\":\"bad-utf8\",\"name\":\"bad \xff\xfe utf8\",\"kind\":\"boolean\",\"default_value\":true,\"x\":\"\xc3\"}",
		"nul":            `{"id":"nul","name":"nul \u0000","kind":"string","default_value":"\u0000"}`,
		"lone-surrogate": `{"id":"lone-surrogate","name":"lone \ud800","kind":"string","default_value":"\udfff"}`,
	}
	var held []flagcache.ID
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		err := raw.Write(ctxFor(t), flagcache.ID(id), []byte(rows[id]))
		if errors.Is(err, errors.ErrUnsupported) {
			continue
		}
		if err != nil {
			t.Fatalf("raw write of %s: %v", id, err)
		}
		held = append(held, flagcache.ID(id))
	}
	if len(held) == 0 {
		t.Skip("the store holds none of these texts")
	}
	valid := func(where string, b []byte) {
		t.Helper()
		if !utf8.Valid(b) || !json.Valid(b) {
			t.Errorf("%s is not valid JSON: %q", where, b)
		}
	}
	for _, id := range held {
		got := mustGet(t, s, string(id))
		if got.Malformed == "" {
			t.Errorf("%s: not marked Malformed", id)
		}
		valid("Get "+string(id), got.AppendJSON(nil))
	}
	if id := flagcache.ID("bad-utf8"); slices.Contains(held, id) {
		if got := mustGet(t, s, string(id)); got.Definition.Name != "bad \ufffd utf8" {
			t.Errorf("bad-utf8: name %q, want the run of invalid bytes as one U+FFFD", got.Definition.Name)
		}
	}
	list := mustList(t, s, flagcache.Query{})
	if len(list) != len(held)+1 {
		t.Errorf("List: %v, want the %d rows and normal", ids(list), len(held))
	}
	for _, f := range list {
		valid("List "+string(f.Definition.ID), f.AppendJSON(nil))
	}
	feed := mustChanges(t, s, 0, 0)
	valid("Changes", feed.AppendJSON(nil))

	var d flagcache.Definition
	if err := d.UnmarshalJSON([]byte(strings.Replace(rows["bad-utf8"], "bad-utf8", "written", 1))); err != nil {
		t.Fatal(err)
	}
	_, err := s.Create(ctxFor(t), &d)
	wantInvalid(t, "Create of a definition that is not UTF-8", err, "name")
}

func sortedIDs(flags []*flagcache.Stored) []string { return sorted(ids(flags)) }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
