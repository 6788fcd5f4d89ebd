package flagcache_test

import (
	"encoding/json"
	"testing"

	"github.com/flagcache/flagcache"
)

const benchDefinition = `{"id":"new-checkout","name":"New checkout","description":"Routes users to the new checkout flow",
"kind":"boolean","default_value":false,"variations":[{"value":true},{"value":false}],
"environments":{"production":{"enabled":true},"staging":{"enabled":false},"dev":{"enabled":true}},
"status":"active","metadata":{"tags":["checkout","payments"],"owner":"team-payments",
"created_at":"2026-11-25T10:00:00.123456Z","updated_at":"2026-11-25T10:00:00.123456Z"}}`

func BenchmarkDefinitionUnmarshal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var d flagcache.Definition
		if err := json.Unmarshal([]byte(benchDefinition), &d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDefinitionMarshal(b *testing.B) {
	var d flagcache.Definition
	if err := json.Unmarshal([]byte(benchDefinition), &d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(&d); err != nil {
			b.Fatal(err)
		}
	}
}
