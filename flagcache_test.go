package flagcache_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flagcache/flagcache"
)

func TestIDValidate(t *testing.T) {
	for _, tc := range []struct {
		id flagcache.ID
		ok bool
	}{
		{"a", true},
		{"new-checkout", true},
		{"Team_A:flag.v2-x", true},
		{flagcache.ID(strings.Repeat("a", 256)), true},
		{"9lives", true},
		{"", false},
		{flagcache.ID(strings.Repeat("a", 257)), false},
		{"-leading", false},
		{".hidden", false},
		{"..", false},
		{"a/b", false},
		{"a b", false},
		{"*", false},
		{"a\r\nb", false},
		{"a\x00", false},
		{"ünïcode", false},
		{"a?b", false},
		{"a%2F", false},
	} {
		err := tc.id.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, flagcache.ErrInvalidArgument) {
			t.Errorf("Validate(%q) error %v does not match ErrInvalidArgument", tc.id, err)
		}
	}
}

func TestDefinitionJSONRoundTrip(t *testing.T) {
	in := `{"id":"x","name":"X","description":"d","kind":"json","default_value":{"a":[1,2]},` +
		`"variations":[{"value":{"a":1},"name":"one"}],"environments":{"prod":{"enabled":true,"rules":[{"attr":"country"}]}},` +
		`"status":"active","metadata":{"tags":["t"],"owner":"o","created_at":"2026-11-25T10:00:00.123456Z",` +
		`"updated_at":"2026-11-25T10:00:00.123456Z","team":{"slack":"#flags"}},"z":1,"a":"first"}`
	var d flagcache.Definition
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, in, string(out)) {
		t.Errorf("round trip changed the document:\n in %s\nout %s", in, out)
	}
	c := d.Clone()
	c.Environments["prod"].Extra["rules"][0] = 'X'
	c.Metadata.Tags[0] = "changed"
	if again, _ := json.Marshal(&d); string(again) != string(out) {
		t.Errorf("Clone shares memory with the original")
	}
}

// A member whose name differs from a known field only in case is consumed
// by encoding/json's case-insensitive matching; it must not also come back
// as an extra field.
func TestDefinitionCaseFoldedNames(t *testing.T) {
	var d flagcache.Definition
	if err := json.Unmarshal([]byte(`{"id":"x","Name":"X"}`), &d); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(&d)
	if strings.Count(string(out), `ame"`) != 1 {
		t.Errorf("name duplicated: %s", out)
	}
}

func TestDefinitionReadAsStored(t *testing.T) {
	in := `{"id":"legacy","name":"Legacy","metadata":{}}` // no kind, no default: another writer's data
	var d flagcache.Definition
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	if out, _ := json.Marshal(&d); string(out) != in {
		t.Errorf("got %s, want %s", out, in)
	}
	if err := d.Validate(); !errors.Is(err, flagcache.ErrInvalidArgument) {
		t.Errorf("Validate of a definition without kind: %v", err)
	}
}

func TestValidateValues(t *testing.T) {
	for _, tc := range []struct {
		kind flagcache.Kind
		raw  string
		ok   bool
	}{
		{flagcache.KindBoolean, `true`, true},
		{flagcache.KindBoolean, `1`, false},
		{flagcache.KindString, `"x"`, true},
		{flagcache.KindString, `null`, false},
		{flagcache.KindNumber, `-1.5e3`, true},
		{flagcache.KindNumber, `"1"`, false},
		{flagcache.KindJSON, `{"a":1}`, true},
		{flagcache.KindJSON, `[1]`, true},
		{flagcache.KindJSON, `null`, false},
		{flagcache.KindJSON, `{`, false},
	} {
		d := &flagcache.Definition{ID: "x", Name: "X", Kind: tc.kind, DefaultValue: json.RawMessage(tc.raw)}
		err := d.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: Validate = %v, want ok=%v", tc.kind, tc.raw, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "default_value") {
			t.Errorf("%s %s: error %q does not name default_value", tc.kind, tc.raw, err)
		}
	}
}

func TestParseETag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{`"v1"`, 1, true},
		{`"v123"`, 123, true},
		{`W/"v7"`, 7, true},
		{`v1`, 0, false},
		{`"1"`, 0, false},
		{`"v0"`, 0, false},
		{`"v-1"`, 0, false},
		{`"vx"`, 0, false},
		{`*`, 0, false},
		{``, 0, false},
	} {
		got, err := flagcache.ParseETag(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseETag(%s) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && flagcache.ETag(got) != strings.TrimPrefix(tc.in, "W/") {
			t.Errorf("ETag(%d) = %s", got, flagcache.ETag(got))
		}
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatal(err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// The hand-written member scanner must agree with encoding/json: any input
// is either rejected or survives encode → decode unchanged.
func FuzzDefinitionRoundTrip(f *testing.F) {
	f.Add(`{"id":"x","name":"X","kind":"boolean","default_value":true}`)
	f.Add(`{"id":"a\"b","na\u006de":"q","environments":{"p":{"enabled":true,"r":[{"}":"]"}]}},"metadata":{"tags":["a","b\\"],"x":null}}`)
	f.Add(`{"variations":[{"value":{"a":[1,{"b":"]}"}]}},{"value":null,"w":1}],"z":{"nested":{"deep":[[],{}]}}}`)
	f.Add(`null`)
	f.Add(`{"metadata":{"created_at":"2026-11-25T10:00:00.123456Z"}}`)
	f.Fuzz(func(t *testing.T, in string) {
		var d flagcache.Definition
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			return
		}
		once, err := json.Marshal(&d)
		if err != nil {
			t.Fatalf("marshal of decoded %q: %v", in, err)
		}
		var again flagcache.Definition
		if err := json.Unmarshal(once, &again); err != nil {
			t.Fatalf("decode of our own encoding %s: %v", once, err)
		}
		twice, _ := json.Marshal(&again)
		if string(once) != string(twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}

// A member of a type flagcache does not model is no decoding error: the
// definition is served as stored, and Validate (every write) names it.
func TestDefinitionWrongTypes(t *testing.T) {
	for _, tc := range []struct{ in, field string }{
		{`{"id":"x","variations":{}}`, "variations"},
		{`{"id":"x","environments":[]}`, "environments"},
		{`{"id":"x","metadata":"m"}`, "metadata"},
		{`{"id":"x","metadata":{"tags":"t"}}`, "metadata.tags"},
		{`{"id":"x","metadata":{"tags":["a",5]}}`, "metadata.tags"},
		{`{"id":"x","metadata":{"owner":7}}`, "metadata.owner"},
		{`{"id":"x","name":5}`, "name"},
		{`{"id":"x","kind":true}`, "kind"},
		{`{"id":"x","status":["active"]}`, "status"},
		{`{"id":"x","environments":{"p":{"enabled":"yes"}}}`, "environments.p.enabled"},
		{`{"id":"x","environments":{"p":5}}`, "environments.p"},
		{`{"id":"x","variations":[true]}`, "variations[0]"},
	} {
		var d flagcache.Definition
		if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if out, _ := json.Marshal(&d); string(out) != tc.in {
			t.Errorf("%s: served as %s", tc.in, out)
		}
		var bad *flagcache.InvalidError
		if err := d.Validate(); !errors.As(err, &bad) || bad.Field != tc.field {
			t.Errorf("%s: Validate = %v, want an *InvalidError naming %s", tc.in, err, tc.field)
		}
		if m := flagcache.NewStored(&d, 1, 1).Malformed; !strings.Contains(m, tc.field) {
			t.Errorf("%s: Malformed = %q, want it to name %s", tc.in, m, tc.field)
		}
	}
}

// PrepareDelete refuses what every store's Delete refuses before writing
// anything, naming the field, and otherwise returns the actor to record.
func TestPrepareDelete(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		id       flagcache.ID
		expected int64
		actor    string // want, on success
		field    string // want an *InvalidError on it, or ...
		err      error  // ... this error
	}{
		{"unconditional", context.Background(), "f", 0, flagcache.ActorUnknown, "", nil},
		{"conditional, as alice", flagcache.WithActor(context.Background(), "alice"), "f", 3, "alice", "", nil},
		{"cancelled", cancelled, "f", 0, "", "", context.Canceled},
		{"bad id", context.Background(), "no spaces", 0, "", "id", nil},
		{"negative version", context.Background(), "f", -1, "", "expected_version", nil},
		{"bad actor", flagcache.WithActor(context.Background(), "sql:postgres"), "f", 0, "", "actor", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			actor, err := flagcache.PrepareDelete(tc.ctx, tc.id, tc.expected)
			var inv *flagcache.InvalidError
			switch {
			case tc.field != "":
				if !errors.As(err, &inv) || inv.Field != tc.field {
					t.Errorf("got %v, want an *InvalidError on %s", err, tc.field)
				}
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Errorf("got %v, want %v", err, tc.err)
				}
			case err != nil || actor != tc.actor:
				t.Errorf("got %q, %v; want %q", actor, err, tc.actor)
			}
		})
	}
}

// The README's layout table names every directory that holds Go code and
// every top-level directory, so a new package does not go unmentioned.
// Build output and local data (bin/, dist/, flagcache-data/: the
// top-level entries of .gitignore) are not the layout.
func TestReadmeLayout(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	gitignore, err := os.ReadFile(".gitignore")
	if err != nil {
		t.Fatal(err)
	}
	ignored := map[string]bool{}
	for _, line := range strings.Split(string(gitignore), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "/"); ok {
			ignored[strings.TrimSuffix(name, "/")] = true
		}
	}
	_, layout, _ := strings.Cut(string(readme), "\n## Layout\n")
	layout, _, _ = strings.Cut(layout, "\n## ")
	named := func(dir string) bool {
		return strings.Contains(layout, "`"+dir+"/`") || strings.Contains(layout, "`"+dir+"`") ||
			strings.Contains(layout, "`"+dir+"/") // a top-level directory by its packages
	}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || ignored[filepath.ToSlash(path)]):
			return filepath.SkipDir
		case d.IsDir() && path != "." && !strings.Contains(path, string(filepath.Separator)) && !named(path):
			t.Errorf("README layout does not name the directory %s/", path)
		case !d.IsDir() && strings.HasSuffix(path, ".go") && filepath.Dir(path) != "." && !named(filepath.ToSlash(filepath.Dir(path))):
			t.Errorf("README layout does not name the package %s/", filepath.ToSlash(filepath.Dir(path)))
			return fs.SkipDir // once per package
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
