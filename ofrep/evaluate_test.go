package ofrep_test

import (
	"encoding/json"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/ofrep"
)

func stored(t *testing.T, def string) *flagcache.Stored {
	t.Helper()
	var d flagcache.Definition
	if err := json.Unmarshal([]byte(def), &d); err != nil {
		t.Fatal(err)
	}
	return flagcache.DecodeStored(d.ID, []byte(def), 4, 40)
}

// TestEvaluateForeignRows covers rows a write through flagcache cannot
// create but another writer's row can hold.
func TestEvaluateForeignRows(t *testing.T) {
	cases := []struct {
		name, def    string
		reason, code string
		value        string
	}{
		{"no kind", `{"id":"f","default_value":true,"environments":{"production":{"enabled":true}}}`, "", "PARSE_ERROR", ""},
		{"unknown kind", `{"id":"f","kind":"percent","default_value":5,"environments":{"production":{"enabled":true}}}`, "", "PARSE_ERROR", ""},
		{"value not of its kind", `{"id":"f","kind":"boolean","default_value":"yes","environments":{"production":{"enabled":true}}}`, "", "PARSE_ERROR", ""},
		{"no default value", `{"id":"f","kind":"string","environments":{"production":{"enabled":true}}}`, "", "PARSE_ERROR", ""},
		{"number string", `{"id":"f","kind":"number","default_value":"3","environments":{"production":{"enabled":true}}}`, "", "PARSE_ERROR", ""},
		{"integral beyond int64", `{"id":"f","kind":"number","default_value":1e20,"environments":{"production":{"enabled":true}}}`, "STATIC", "", "1e+20"},
		{"negative integral", `{"id":"f","kind":"number","default_value":-7.0,"environments":{"production":{"enabled":true}}}`, "STATIC", "", "-7"},
		{"disabled with rules", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":{"enabled":false,"rollout":50}}}`, "DISABLED", "", ""},
		{"rollout", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":{"enabled":true,"rollout":50}}}`, "", "GENERAL", ""},
		{"boolean null", `{"id":"f","kind":"boolean","default_value":null,"environments":{"production":{"enabled":true}}}`, "", "PARSE_ERROR", ""},
		{"number null", `{"id":"f","kind":"number","default_value":null,"environments":{"production":{"enabled":true}}}`, "", "PARSE_ERROR", ""},
		{"number an array", `{"id":"f","kind":"number","default_value":[1],"environments":{"production":{"enabled":true}}}`, "", "PARSE_ERROR", ""},
		{"environment a string", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":"on"}}`, "", "PARSE_ERROR", ""},
		{"environment an array", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":[true]}}`, "", "PARSE_ERROR", ""},
		{"enabled a string", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":{"enabled":"yes"}}}`, "", "PARSE_ERROR", ""},
		{"enabled a number", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":{"enabled":1}}}`, "", "PARSE_ERROR", ""},
		{"environment null", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":null}}`, "DISABLED", "", ""},
		{"enabled null", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":{"enabled":null}}}`, "DISABLED", "", ""},
		{"enabled twice", `{"id":"f","kind":"boolean","default_value":true,"environments":{"production":{"enabled":"x","enabled":true}}}`, "STATIC", "", "true"},
		{"variation without key", `{"id":"f","kind":"boolean","default_value":true,"variations":[{"value":true}],"environments":{"production":{"enabled":true}}}`, "STATIC", "", "true"},
	}
	for _, c := range cases {
		e := ofrep.Evaluate("f", stored(t, c.def), "production", false)
		if e.Reason != c.reason || e.ErrorCode != c.code || string(e.JSON()) != c.value || e.Variant != "" {
			t.Errorf("%s: got reason %q code %q value %s variant %q (%s), want %q %q %s", c.name,
				e.Reason, e.ErrorCode, e.JSON(), e.Variant, e.ErrorDetails, c.reason, c.code, c.value)
		}
	}
	if e := ofrep.Evaluate("f", &flagcache.Stored{Version: 1}, "production", false); e.ErrorCode != "PARSE_ERROR" {
		t.Errorf("a Stored without a definition: got %+v, want PARSE_ERROR", e)
	}
}
