package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
)

// fidelityFlags are definitions a writer may create through the API that a
// careless codec changes: empty strings, arrays and objects, nulls, absent
// members, unknown members at every level, text that escapes differ on.
var fidelityFlags = []string{
	`{"id":"f-empty","name":"Empty values","description":"","kind":"boolean","default_value":false,"variations":[],"environments":{},"status":"active","metadata":{"tags":[],"owner":""}}`,
	`{"id":"f-nulls","name":"Nulls","description":null,"kind":"boolean","default_value":true,"variations":null,"environments":null,"status":"inactive","metadata":null}`,
	`{"id":"f-envs","name":"Environments","kind":"boolean","default_value":false,"environments":{"production":{},"staging":{"rules":[]},"qa":{"enabled":false,"x":{}}}}`,
	`{"zz":1,"id":"f-unknown","name":"Unknown everywhere","aa":{"n":[{}],"e":"","z":null},"kind":"json","default_value":{"a":[],"b":{},"c":null,"d":""},` +
		`"variations":[{"value":{"b":null},"label":""},{"value":[],"w":{}}],"environments":{"production":{"enabled":true,"w":[{"a":{}}],"n":null}},` +
		`"metadata":{"x":{},"tags":["t"],"y":[],"z":null},"status":"active"}`,
	`{"id":"f-text","name":"Text <&> \u00e9 \u2028 \"q\"","kind":"string","default_value":"a\"b\\c\u001f","variations":[{"value":""}]}`,
	`{"id":"f-minimal","name":"Minimal","kind":"number","default_value":0}`,
}

// oddExportRows are rows another writer (plain SQL) stored in shapes
// flagcache does not model: exported as stored, refused by import.
var oddExportRows = []struct{ id, definition string }{
	{"odd-name", `{"id":"odd-name","name":5,"kind":"boolean","default_value":true}`},
	{"odd-tags", `{"id":"odd-tags","name":"Odd tags","kind":"boolean","default_value":true,"metadata":{"tags":"t"}}`},
	{"odd-environments", `{"id":"odd-environments","name":"Odd envs","kind":"boolean","default_value":true,"environments":["production"]}`},
	{"odd-deep", `{"id":"odd-deep","name":"Deep","kind":"json","default_value":` + strings.Repeat(`{"a":`, 11000) + `1` + strings.Repeat(`}`, 11000) + `}`},
}

// exportedDefinitions runs export against d and returns each definition of
// the file by id, as its bytes; read with the codec's scanner, so a
// definition of any nesting is read.
func exportedDefinitions(t *testing.T, d *testDaemon, dir, name string) (path string, defs map[string]string) {
	t.Helper()
	path = filepath.Join(dir, name)
	d.ok(t, "", "export", "--file", path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defs = map[string]string{}
	err = flagcache.EachMember(data, func(member string, raw []byte) error {
		if member != "flags" {
			return nil
		}
		return flagcache.EachElement(raw, func(raw []byte) error {
			var def flagcache.Definition
			if err := def.UnmarshalJSON(raw); err != nil {
				return err
			}
			defs[string(def.ID)] = string(raw)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("reading the export %s: %v", path, err)
	}
	return path, defs
}

var stampRE = regexp.MustCompile(`"(created_at|updated_at)":"[^"]*"`)

// unstamped blanks the timestamps a store sets on every write, so that
// definitions written by two stores compare byte for byte.
func unstamped(def string) string { return stampRE.ReplaceAllString(def, `"$1":""`) }

// valueOf decodes a definition as a JSON value without what a store sets
// on write: the timestamps (and a metadata object left empty by removing
// them), and an absent or null status, which a write makes inactive.
func valueOf(t *testing.T, def string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(def))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %.200s: %v", def, err)
	}
	if md, ok := v["metadata"].(map[string]any); ok {
		delete(md, "created_at")
		delete(md, "updated_at")
	}
	if md, ok := v["metadata"].(map[string]any); v["metadata"] == nil || ok && len(md) == 0 {
		delete(v, "metadata")
	}
	if v["status"] == nil {
		v["status"] = "inactive"
	}
	return v
}

func sameValue(t *testing.T, what, got, want string) {
	t.Helper()
	if g, w := valueOf(t, got), valueOf(t, want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s: not the same JSON value:\n got %s\nwant %s", what, got, want)
	}
}

func idOf(t *testing.T, def string) string {
	t.Helper()
	var d flagcache.Definition
	if err := d.UnmarshalJSON([]byte(def)); err != nil {
		t.Fatal(err)
	}
	return string(d.ID)
}

// TestExportImportFidelity: definitions with empty values, nulls and
// unknown members at every level survive export and then import into a
// fresh store byte for byte on the stores that keep bytes (memory, the
// embedded bbolt file), the store's timestamps aside; as JSON values
// through Postgres jsonb. Rows another writer stored in shapes flagcache
// does not model are exported as stored and refused by import, each named,
// the others imported.
func TestExportImportFidelity(t *testing.T) {
	dir := t.TempDir()
	t.Run("bytes", func(t *testing.T) {
		src := startServe(t, nil, "--source", "memory")
		served := map[string]string{}
		for _, def := range fidelityFlags {
			want(t, src.do(t, "POST", "/v1/flags", def), 201, "")
			id := idOf(t, def)
			s := mustStored(t, src.do(t, "GET", "/v1/flags/"+id, ""))
			served[id] = string(s.Definition.AppendJSON(nil))
			if got := unstamped(served[id]); !strings.Contains(got, `"created_at":""`) {
				t.Fatalf("%s is served without the timestamps the store sets: %s", id, got)
			}
		}
		path, exported := exportedDefinitions(t, src, dir, "bytes.json")
		for id, s := range served {
			if exported[id] != s {
				t.Errorf("%s exported as\n%s\nserved as\n%s", id, exported[id], s)
			}
		}
		for _, dst := range []struct {
			name string
			args []string
		}{{"memory", []string{"--source", "memory"}}, {"embedded", nil}} {
			d := startServe(t, nil, dst.args...)
			if out := d.ok(t, "", "import", "--file", path); !strings.Contains(out, "created 6, updated 0, left 0 unchanged, 0 failed") {
				t.Fatalf("import into %s: %q", dst.name, out)
			}
			_, again := exportedDefinitions(t, d, dir, "bytes-"+dst.name+".json")
			for id, s := range exported {
				if got := unstamped(again[id]); got != unstamped(s) {
					t.Errorf("%s after export → import into %s:\n got %s\nwant %s", id, dst.name, got, unstamped(s))
				}
			}
			// And once more: an import of the same file changes nothing.
			if out := d.ok(t, "", "import", "--file", path); !strings.Contains(out, "left 6 unchanged") {
				t.Errorf("second import into %s: %q", dst.name, out)
			}
		}
	})

	t.Run("postgres", func(t *testing.T) {
		env := postgresEnv(t)
		src := startServe(t, env)
		raw := pgtest.RawWriter(t, env["FLAGCACHE_POSTGRES_SCHEMA"])
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		written := map[string]string{}
		for _, def := range fidelityFlags {
			id := idOf(t, def)
			if err := raw(ctx, flagcache.ID(id), []byte(def)); err != nil {
				t.Fatal(err)
			}
			written[id] = def
		}
		for _, row := range oddExportRows {
			if err := raw(ctx, flagcache.ID(row.id), []byte(row.definition)); err != nil {
				t.Fatal(err)
			}
		}
		path, exported := exportedDefinitions(t, src, dir, "pg.json")
		for id, def := range written {
			sameValue(t, id+" exported", exported[id], def)
		}
		for _, row := range oddExportRows {
			got, ok := exported[row.id]
			switch {
			case !ok:
				t.Errorf("%s is not in the export", row.id)
			case row.id == "odd-deep":
				if n := strings.Count(got, `{"a":`); n != 11000 {
					t.Errorf("odd-deep exported with %d levels, want 11000", n)
				}
			default:
				sameValue(t, row.id+" exported", got, row.definition)
			}
		}

		for _, dst := range []struct {
			name string
			env  map[string]string
			args []string
		}{{"memory", nil, []string{"--source", "memory"}}, {"postgres", postgresEnv(t), nil}} {
			d := startServe(t, dst.env, dst.args...)
			r := d.cli(t, "", "import", "--file", path)
			wantExit(t, r, 1, "4 of 10 flags failed")
			for _, row := range oddExportRows {
				if !strings.Contains(r.stderr, `"`+row.id+`": `) {
					t.Errorf("import into %s: the report does not name %s:\n%.2000s", dst.name, row.id, r.stderr)
				}
			}
			_, again := exportedDefinitions(t, d, dir, "pg-"+dst.name+".json")
			if len(again) != len(written) {
				t.Errorf("import into %s: %d flags, want %d", dst.name, len(again), len(written))
			}
			for id, def := range written {
				sameValue(t, id+" after export → import into "+dst.name, again[id], def)
			}
		}
	})
}
