package flagcache_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
)

// fidelityDocs are definitions as another writer may have stored them:
// empty values, nulls, absent members and unknown members at every level.
var fidelityDocs = []string{
	`{"id":"x","name":"X","description":"","kind":"boolean","default_value":false,"variations":[],"environments":{},"metadata":{"tags":[],"owner":""}}`,
	`{"id":"x","name":"X","description":null,"kind":"boolean","default_value":null,"variations":null,"environments":null,"status":null,"metadata":null}`,
	`{"id":"x","name":"X","metadata":{"tags":[],"owner":null,"created_at":"2026-11-25T10:00:00.123456Z"}}`,
	`{"id":"x","name":"X","environments":{"prod":{},"dev":{"rules":[]},"stage":null}}`,
	`{"id":"x"}`,
	`{"zz":1,"id":"x","aa":{"n":[{}]},"name":"X","kind":"json","default_value":{"a":[]},"variations":[{},{"value":{"b":null},"label":""},{"value":null}],"environments":{"p":{"enabled":true,"w":[{"a":{}}]}},"metadata":{"x":{},"tags":["t"],"y":[]},"status":"active"}`,
	`{ "id" : "x",
	   "name": "X",  "metadata": { "tags": [ "a" ] , "owner":"o" } }`,
	`{"id":"x","name":"a<b>&\u2028","kind":"string","default_value":"\u00e9"}`,
	`{"id":"x","metadata":{"created_at":"2026-11-25T12:00:00+02:00","updated_at":"2026-11-25T10:00:00Z"}}`,
}

// oddDocs are definitions in shapes flagcache does not model.
var oddDocs = []string{
	`{"id":"x","name":5,"kind":"boolean","default_value":true}`,
	`{"id":"x","name":"X","metadata":{"created_at":"yesterday","updated_at":12,"tags":"t","owner":["o"]}}`,
	`{"id":"x","name":"X","environments":["production"],"variations":{"a":1}}`,
	`{"id":"x","name":"X","environments":{"p":5,"q":{"enabled":"yes"}},"variations":[true,null,{"value":1}]}`,
	`{"id":"x","name":"X","metadata":[1,2]}`,
	`{"id":"x","name":"X","kind":{"k":1},"status":7}`,
	`{"id":"x","name":"X","kind":"boolean","default_value":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
	`["not","an","object"]`,
	`"a string"`,
	`null`,
}

func TestDefinitionServedAsStored(t *testing.T) {
	for _, doc := range append(append([]string{}, fidelityDocs...), oddDocs...) {
		var d flagcache.Definition
		if err := d.UnmarshalJSON([]byte(doc)); err != nil {
			t.Errorf("%.80s: %v", doc, err)
			continue
		}
		if got := string(d.AppendJSON(nil)); got != doc {
			t.Errorf("served as\n%.200s\nwant\n%.200s", got, doc)
		}
		if got := string(d.Clone().AppendJSON(nil)); got != doc {
			t.Errorf("clone served as\n%.200s\nwant\n%.200s", got, doc)
		}
	}
}

// Through encoding/json (which compacts): the same JSON.
func TestDefinitionJSONFidelity(t *testing.T) {
	for _, doc := range fidelityDocs {
		var d flagcache.Definition
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(json.RawMessage(doc))
		if string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

// A read → modify → write through the Go types keeps every member it did
// not touch as it was, where it was.
func TestDefinitionModifyKeepsTheRest(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		modify   func(*flagcache.Definition)
	}{
		{`{"zz":1,"id":"x","name":"X","description":"","variations":[],"environments":{"p":{"r":1}},"metadata":{"tags":[],"owner":null,"k":{}}}`,
			`{"zz":1,"id":"x","name":"Y","description":"","variations":[],"environments":{"p":{"r":1}},"metadata":{"tags":[],"owner":null,"k":{}}}`,
			func(d *flagcache.Definition) { d.Name = "Y" }},
		{`{"id":"x","environments":{"b":{"r":1},"a":{}}}`,
			`{"id":"x","environments":{"b":{"r":1,"enabled":true},"a":{},"c":{"enabled":false}}}`,
			func(d *flagcache.Definition) {
				e := d.Environments["b"]
				e.Enabled = true
				d.Environments["b"] = e
				d.Environments["c"] = flagcache.Environment{}
			}},
		{`{"id":"x","name":"X","metadata":{"tags":["a"]}}`,
			`{"id":"x","name":"X","metadata":{"tags":["a","b"]}}`,
			func(d *flagcache.Definition) { d.Metadata.Tags = append(d.Metadata.Tags, "b") }},
		{`{"id":"x","name":"X","status":"active"}`,
			`{"id":"x","name":"X","kind":"boolean","status":"active"}`,
			func(d *flagcache.Definition) { d.Kind = flagcache.KindBoolean }},
		{`{"id":"x","name":5,"metadata":{"tags":"t","owner":"o"}}`,
			`{"id":"x","name":"N","metadata":{"tags":"t","owner":"p"}}`,
			func(d *flagcache.Definition) { d.Name = "N"; d.Metadata.Owner = "p" }},
		{`{"id":"x","description":"d","variations":[{"value":1,"l":2},{"value":3}]}`,
			`{"id":"x","variations":[{"value":3}]}`,
			func(d *flagcache.Definition) { d.Description = ""; d.Variations = d.Variations[1:] }},
		{`{"id":"x","a":1,"b":2}`,
			`{"id":"x","b":3,"c":4}`,
			func(d *flagcache.Definition) {
				delete(d.Extra, "a")
				d.Extra["b"] = json.RawMessage("3")
				d.Extra["c"] = json.RawMessage("4")
			}},
	} {
		var d flagcache.Definition
		if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
			t.Fatal(err)
		}
		c := d.Clone()
		tc.modify(c)
		if got := string(c.AppendJSON(nil)); got != tc.want {
			t.Errorf("%s modified:\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if got := string(d.AppendJSON(nil)); got != tc.in {
			t.Errorf("modifying a clone changed the original: %s", got)
		}
	}
}

// The timestamps a store sets go where a new field goes, so a store that
// keeps created_at apart (rediskv) serves the bytes it returned on write.
func TestDefinitionStampPlacement(t *testing.T) {
	var d flagcache.Definition
	in := `{"id":"x","name":"X","metadata":{"updated_at":"2020-01-01T00:00:00Z","k":1,"created_at":"2020-01-01T00:00:00Z","owner":"o"}}`
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	d.Stamp(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), now)
	want := `{"id":"x","name":"X","metadata":{"k":1,"owner":"o","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-11-25T10:00:00.123456Z"}}`
	full := string(d.AppendJSON(nil))
	if full != want {
		t.Fatalf("stamped:\n got %s\nwant %s", full, want)
	}
	// Without created_at, read back, created_at set again: the same bytes.
	body := d.Clone()
	body.Metadata.CreatedAt = time.Time{}
	var back flagcache.Definition
	if err := json.Unmarshal(body.AppendJSON(nil), &back); err != nil {
		t.Fatal(err)
	}
	back.Metadata.CreatedAt = d.Metadata.CreatedAt
	if got := string(back.AppendJSON(nil)); got != want {
		t.Errorf("created_at spliced back:\n got %s\nwant %s", got, want)
	}
	// A zero created time (a stored flag without a usable created_at) is now.
	d.Stamp(time.Time{}, now)
	if !d.Metadata.CreatedAt.Equal(flagcache.Timestamp(now)) {
		t.Errorf("Stamp(zero, now): created_at %v", d.Metadata.CreatedAt)
	}
}

func TestDecodeStored(t *testing.T) {
	for _, tc := range []struct{ raw, want, malformed string }{
		{`{"name":"X"}`, `{"id":"k","name":"X"}`, "kind"},
		// The row's key is the id; one the definition says otherwise is marked.
		{`{"id":"other","name":"X","kind":"boolean","default_value":true}`, `{"id":"k","name":"X","kind":"boolean","default_value":true}`, "id"},
		{`{"id":5,"name":"X","kind":"boolean","default_value":true}`, `{"id":"k","name":"X","kind":"boolean","default_value":true}`, "id"},
		{`{"name":"X","kind":"boolean","default_value":true}`, `{"id":"k","name":"X","kind":"boolean","default_value":true}`, ""},
		{"{\"id\":\"k\",\"name\":\"\xffX\",\"kind\":\"boolean\",\"default_value\":true}", "{\"id\":\"k\",\"name\":\"\uFFFDX\",\"kind\":\"boolean\",\"default_value\":true}", "UTF-8"},
		{`null`, `null`, "definition"},
		{`{"id":"k","name":"X","kind":"boolean","default_value":true,"metadata":{"created_at":"?"}}`, `{"id":"k","name":"X","kind":"boolean","default_value":true,"metadata":{"created_at":"?"}}`, "metadata.created_at"},
		{`[1]`, `[1]`, "definition"},
		{`{"id":"k","name":`, `"{\"id\":\"k\",\"name\":"`, "definition"},
	} {
		s := flagcache.DecodeStored("k", []byte(tc.raw), 2, 5)
		if got := string(s.Definition.AppendJSON(nil)); got != tc.want {
			t.Errorf("%s: served as %s, want %s", tc.raw, got, tc.want)
		}
		if s.Definition.ID != "k" || s.Version != 2 || s.ETag != `"v2"` || s.Revision != 5 {
			t.Errorf("%s: %+v", tc.raw, s)
		}
		if (tc.malformed == "") != (s.Malformed == "") || !strings.Contains(s.Malformed, tc.malformed) {
			t.Errorf("%s: Malformed %q, want one naming %q", tc.raw, s.Malformed, tc.malformed)
		}
		// Through the wire (a cache tier, the client) it stays the same flag.
		var back flagcache.Stored
		if err := back.UnmarshalJSON(s.AppendJSON(nil)); err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if back.Definition == nil || string(back.Definition.AppendJSON(nil)) != tc.want || back.Definition.ID != "k" || back.Malformed != s.Malformed {
			t.Errorf("%s: through JSON %+v, want the definition %s with id k", tc.raw, back, tc.want)
		}
	}
}

func TestCompactJSON(t *testing.T) {
	in := " { \"a\" : [ 1 , \"x y\\\" z\" ] ,\n\t\"b\": {} } "
	if got, want := string(flagcache.CompactJSON([]byte(in))), `{"a":[1,"x y\" z"],"b":{}}`; got != want {
		t.Errorf("CompactJSON(%q) = %s, want %s", in, got, want)
	}
}
