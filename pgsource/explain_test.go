package pgsource_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/pgsource"
)

// TestExplainUsesSeedIndexes plans List and Count on 10,000 flags with the
// exact SQL and arguments the Store runs, and checks that each selective
// filter goes through the seed's index for it.
func TestExplainUsesSeedIndexes(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	mustFill(t, schema, 10_000)
	conn := mustConnIn(t, schema)
	if n, err := s.Count(ctxFor(t), flagcache.Query{IncludeArchived: true}); err != nil || n != 10_000 {
		t.Fatalf("Count: got %d, %v; want 10000", n, err)
	}

	tests := []struct {
		name  string
		q     flagcache.Query
		index string
	}{
		{"tag", flagcache.Query{Tags: []string{"tag-7"}, Limit: 100}, "idx_feature_flags_tags"},
		{"tags any of", flagcache.Query{Tags: []string{"tag-7", "tag-8"}, Limit: 100}, "idx_feature_flags_tags"},
		{"owner", flagcache.Query{Owner: "team-7", Limit: 100}, "idx_feature_flags_owner"},
		{"owner, second page", flagcache.Query{Owner: "team-7", Offset: 100, Limit: 100}, "idx_feature_flags_owner"},
		{"status", flagcache.Query{Status: flagcache.StatusDeprecated, Limit: 100}, "idx_feature_flags_status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, build := range []struct {
				name string
				fn   func(flagcache.Query) (string, []any)
			}{{"List", pgsource.ListStatement}, {"Count", pgsource.CountStatement}} {
				sql, args := build.fn(tt.q)
				var plan []byte
				if err := conn.QueryRow(ctxFor(t), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&plan); err != nil {
					t.Fatalf("%s: EXPLAIN: %v", build.name, err)
				}
				if got := indexesIn(t, plan); !slices.Contains(got, tt.index) {
					t.Errorf("%s: plan uses indexes %v, want %s\nSQL: %s\nplan: %s", build.name, got, tt.index, sql, plan)
				}
			}
		})
	}
}

// indexesIn returns the "Index Name" of every node of an EXPLAIN (FORMAT
// JSON) plan.
func indexesIn(t *testing.T, plan []byte) []string {
	t.Helper()
	var doc []struct {
		Plan node `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &doc); err != nil || len(doc) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", plan, err)
	}
	var out []string
	var walk func(n node)
	walk = func(n node) {
		if n.IndexName != "" {
			out = append(out, n.IndexName)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	return out
}

type node struct {
	IndexName string `json:"Index Name"`
	Plans     []node `json:"Plans"`
}
