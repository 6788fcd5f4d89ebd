package pgsource_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/pgsource"
)

// seedDDL is the seed spec's "Database Schema" section, verbatim.
const seedDDL = `
-- PostgreSQL schema for feature flags
CREATE TABLE feature_flags (
    id VARCHAR(256) PRIMARY KEY,
    definition JSONB NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Indexes for efficient querying
CREATE INDEX idx_feature_flags_status ON feature_flags ((definition->>'status'));
CREATE INDEX idx_feature_flags_updated_at ON feature_flags (updated_at);
CREATE INDEX idx_feature_flags_tags ON feature_flags USING GIN ((definition->'metadata'->'tags'));
CREATE INDEX idx_feature_flags_owner ON feature_flags ((definition->'metadata'->>'owner'));

-- Trigger for updated_at
CREATE OR REPLACE FUNCTION update_feature_flags_updated_at()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER feature_flags_updated_at
    BEFORE UPDATE ON feature_flags
    FOR EACH ROW
    EXECUTE FUNCTION update_feature_flags_updated_at();
`

// The seed's own statements, as its Rust PostgresStorage runs them.
const (
	seedInsertSQL = `INSERT INTO feature_flags (id, definition, version) VALUES ($1, $2, 1)`
	seedUpdateSQL = `UPDATE feature_flags
                SET definition = $1, version = version + 1, updated_at = NOW()
                WHERE id = $2 AND version = $3
                RETURNING version`
	seedDeleteSQL = `DELETE FROM feature_flags WHERE id = $1`
)

// seedRows are rows in the seed's JSON shape, written with plain SQL before
// any migration: the design's example (with an unknown field), one without
// status, timestamps or kind, an archived one, and one that an earlier
// update left at version 5. updated_at decides their revisions.
var seedRows = []struct {
	id, definition string
	version        int64
	updatedAt      string
}{
	{"new-checkout", `{
		"id": "new-checkout", "name": "New checkout", "description": "",
		"kind": "boolean", "default_value": false,
		"variations": [{"value": true}, {"value": false}],
		"environments": {"production": {"enabled": true}, "staging": {"enabled": false, "rollout": 25}},
		"status": "active",
		"metadata": {"tags": ["checkout"], "owner": "team-payments",
			"created_at": "2026-11-25T10:00:00.123456Z", "updated_at": "2026-11-25T10:00:00.123456Z"},
		"x-audit": {"ticket": "PAY-1"}}`, 3, "2026-11-25T10:00:00.123456Z"},
	{"legacy-banner", `{"id": "legacy-banner", "name": "Legacy banner", "description": "",
		"variations": [], "environments": {"production": {}},
		"metadata": {"tags": [], "owner": null, "updated_by": ""}}`, 1, "2026-11-24T09:00:00Z"},
	{"old-search", `{"id": "old-search", "name": "Old search", "kind": "boolean",
		"default_value": true, "status": "archived",
		"metadata": {"tags": ["search", "checkout"], "owner": "team-search"}}`, 2, "2026-11-23T08:00:00Z"},
	{"dark-mode", `{"id": "dark-mode", "name": "Dark mode", "kind": "boolean",
		"default_value": false, "status": "inactive",
		"environments": {"staging": {"enabled": true}},
		"metadata": {"owner": "team-web"}}`, 5, "2026-11-25T11:00:00Z"},
}

// mustSeedDatabase creates the seed's schema verbatim in a fresh schema
// and inserts seedRows the way the seed would, then returns the schema.
func mustSeedDatabase(t *testing.T) string {
	t.Helper()
	schema := mustSchema(t)
	if _, err := mustAdmin(t).Exec(ctxFor(t), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	conn := mustConnIn(t, schema)
	if _, err := conn.Exec(ctxFor(t), seedDDL); err != nil {
		t.Fatalf("seed DDL: %v", err)
	}
	for _, r := range seedRows {
		_, err := conn.Exec(ctxFor(t), `INSERT INTO feature_flags (id, definition, version, created_at, updated_at)
			VALUES ($1, $2::jsonb, $3, $4::timestamptz - interval '1 day', $4::timestamptz)`,
			r.id, r.definition, r.version, r.updatedAt)
		if err != nil {
			t.Fatalf("insert %s: %v", r.id, err)
		}
	}
	return schema
}

// TestSeedDatabase runs Migrate on a database created with the seed's DDL
// and holding seed-shaped rows, then reads, lists, counts, updates and
// deletes them through the Store, and follows them in the change feed.
func TestSeedDatabase(t *testing.T) {
	schema := mustSeedDatabase(t)
	conn := mustConnIn(t, schema)
	before := columnTimes(t, conn)

	s := mustOpen(t, schema, pgsource.Options{})
	for range 2 { // the second run finds nothing to do
		if err := s.Migrate(ctxFor(t)); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	if after := columnTimes(t, conn); !equalTimes(before, after) {
		t.Errorf("Migrate changed created_at/updated_at: got %v, want %v", after, before)
	}
	ctx := ctxFor(t)

	// Read: as stored, unknown fields and missing ones alike.
	got, err := s.Get(ctx, "new-checkout")
	if err != nil {
		t.Fatalf("Get new-checkout: %v", err)
	}
	if got.Version != 3 || got.ETag != `"v3"` || got.Definition.Name != "New checkout" || got.Definition.Metadata.Owner != "team-payments" {
		t.Errorf("Get new-checkout: got %+v %+v", got, got.Definition)
	}
	if string(got.Definition.Extra["x-audit"]) != `{"ticket":"PAY-1"}` {
		t.Errorf("unknown field x-audit: got %s", got.Definition.Extra["x-audit"])
	}
	if string(got.Definition.Environments["staging"].Extra["rollout"]) != "25" {
		t.Errorf("unknown environment field rollout: got %v", got.Definition.Environments["staging"])
	}
	legacy, err := s.Get(ctx, "legacy-banner")
	if err != nil || legacy.Definition.Kind != "" || legacy.Definition.Status != "" || legacy.Version != 1 {
		t.Errorf("Get legacy-banner: got %+v, %v; want it as stored (no kind, no status)", legacy, err)
	}

	// Every seed row is served as stored — as a JSON value: empty strings,
	// arrays and objects and nulls kept, nothing added — by Get, GetMany,
	// List and the change feed.
	seedIDs := make([]flagcache.ID, len(seedRows))
	for i, r := range seedRows {
		seedIDs[i] = flagcache.ID(r.id)
	}
	many, err := s.GetMany(ctx, seedIDs)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.List(ctx, flagcache.Query{IncludeArchived: true})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[flagcache.ID]*flagcache.Stored{}
	for _, f := range all {
		listed[f.Definition.ID] = f
	}
	fed := map[flagcache.ID]*flagcache.Stored{}
	if feed, err := s.Changes(ctx, 0, 0); err == nil {
		for _, c := range feed.Changes {
			fed[c.ID] = c.Flag
		}
	}
	for _, r := range seedRows {
		one, err := s.Get(ctx, flagcache.ID(r.id))
		if err != nil {
			t.Fatalf("Get %s: %v", r.id, err)
		}
		for how, f := range map[string]*flagcache.Stored{"Get": one, "GetMany": many[flagcache.ID(r.id)], "List": listed[flagcache.ID(r.id)], "Changes": fed[flagcache.ID(r.id)]} {
			if f == nil {
				t.Errorf("%s %s: missing", how, r.id)
				continue
			}
			if got := f.Definition.AppendJSON(nil); !jsonValueEqual(t, got, []byte(r.definition)) {
				t.Errorf("%s %s: served as\n%s\nstored as\n%s", how, r.id, got, r.definition)
			}
		}
	}

	// List and Count: a flag without status is not archived.
	tests := []struct {
		name string
		q    flagcache.Query
		want []flagcache.ID
	}{
		{"default leaves archived out", flagcache.Query{}, []flagcache.ID{"dark-mode", "legacy-banner", "new-checkout"}},
		{"include archived", flagcache.Query{IncludeArchived: true}, []flagcache.ID{"dark-mode", "legacy-banner", "new-checkout", "old-search"}},
		{"tag", flagcache.Query{Tags: []string{"checkout"}}, []flagcache.ID{"new-checkout"}},
		{"tag with archived", flagcache.Query{Tags: []string{"checkout"}, IncludeArchived: true}, []flagcache.ID{"new-checkout", "old-search"}},
		{"owner", flagcache.Query{Owner: "team-web"}, []flagcache.ID{"dark-mode"}},
		{"environment", flagcache.Query{Environment: "staging"}, []flagcache.ID{"dark-mode", "new-checkout"}},
		{"status", flagcache.Query{Status: flagcache.StatusArchived}, []flagcache.ID{"old-search"}},
		{"status inactive is explicit only", flagcache.Query{Status: flagcache.StatusInactive}, []flagcache.ID{"dark-mode"}},
	}
	for _, tt := range tests {
		list, err := s.List(ctx, tt.q)
		if err != nil {
			t.Fatalf("%s: List: %v", tt.name, err)
		}
		if got := ids(list); !slices.Equal(got, tt.want) {
			t.Errorf("%s: List got %v, want %v", tt.name, got, tt.want)
		}
		if n, err := s.Count(ctx, tt.q); err != nil || n != len(tt.want) {
			t.Errorf("%s: Count got %d, %v; want %d", tt.name, n, err, len(tt.want))
		}
	}

	// ModifiedSince reads the seed's updated_at column.
	since, err := s.ModifiedSince(ctx, mustTime(t, "2026-11-24T09:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(since), []flagcache.ID{"new-checkout", "dark-mode"}; !slices.Equal(got, want) {
		t.Errorf("ModifiedSince: got %v, want %v", got, want)
	}

	// The feed holds the seed's rows at revisions 1..4 in updated_at order.
	feed, err := s.Changes(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := feedIDs(feed), []flagcache.ID{"old-search", "legacy-banner", "new-checkout", "dark-mode"}; !slices.Equal(got, want) || feed.Revision != 4 {
		t.Fatalf("Changes after Migrate: got %v at revision %d, want %v at 4", got, feed.Revision, want)
	}

	// Update: a CAS on the seed's version, created_at kept from the JSON
	// or, when it has none, from the column.
	def := got.Definition.Clone()
	def.Status = flagcache.StatusDeprecated
	if _, err := s.Update(ctx, def, 2); !errors.Is(err, flagcache.ErrVersionConflict) {
		t.Fatalf("Update with a stale version: got %v, want a version conflict", err)
	} else if vc := (*flagcache.VersionConflictError)(nil); !errors.As(err, &vc) || vc.Actual != 3 {
		t.Errorf("conflict: got %v, want actual version 3", err)
	}
	updated, err := s.Update(ctx, def, 3)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if updated.Version != 4 || updated.Revision != 5 || updated.Definition.Status != flagcache.StatusDeprecated {
		t.Errorf("Update: got version %d revision %d status %s; want 4, 5, deprecated", updated.Version, updated.Revision, updated.Definition.Status)
	}
	if want := mustTime(t, "2026-11-25T10:00:00.123456Z"); !updated.Definition.Metadata.CreatedAt.Equal(want) {
		t.Errorf("created_at after Update: got %v, want %v (from the JSON)", updated.Definition.Metadata.CreatedAt, want)
	}
	banner := mustFlag(t, "legacy-banner", "Legacy banner")
	upd, err := s.Update(ctx, banner, 0)
	if err != nil {
		t.Fatalf("Update legacy-banner: %v", err)
	}
	if want := mustTime(t, "2026-11-23T09:00:00Z"); !upd.Definition.Metadata.CreatedAt.Equal(want) {
		t.Errorf("created_at of legacy-banner: got %v, want %v (from the column)", upd.Definition.Metadata.CreatedAt, want)
	}

	// Delete and re-create: the version continues above the tombstone.
	del, err := s.Delete(ctx, "dark-mode", 5)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if del.Version != 6 || del.Revision != 7 {
		t.Errorf("Delete: got %+v, want version 6 at revision 7", del)
	}
	again, err := s.Create(ctx, mustFlag(t, "dark-mode", "Dark mode"))
	if err != nil || again.Version != 7 {
		t.Fatalf("re-Create: got %+v, %v; want version 7", again, err)
	}
	if _, err := s.Delete(ctx, "old-search", 0); err != nil {
		t.Fatalf("Delete old-search: %v", err)
	}

	feed, err = s.Changes(ctx, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{
		{5, flagcache.OpUpsert, "new-checkout", 4},
		{6, flagcache.OpUpsert, "legacy-banner", 2},
		{8, flagcache.OpUpsert, "dark-mode", 7},
		{9, flagcache.OpDelete, "old-search", 3},
	}
	if got := summarize(feed); !slices.Equal(got, want) || feed.Revision != 9 {
		t.Errorf("Changes after the writes: got %+v at revision %d, want %+v at 9", got, feed.Revision, want)
	}
}

// TestSeedWriterAfterMigrate keeps writing with the seed's own statements
// after Migrate: the triggers give those writes revisions, tombstones and
// versions above tombstones, so they land in the change feed.
func TestSeedWriterAfterMigrate(t *testing.T) {
	schema := mustSeedDatabase(t)
	s := mustOpen(t, schema, pgsource.Options{})
	if err := s.Migrate(ctxFor(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	conn := mustConnIn(t, schema)
	ctx := ctxFor(t)

	var version int64
	if err := conn.QueryRow(ctx, seedUpdateSQL, `{"id": "dark-mode", "name": "Dark"}`, "dark-mode", 5).Scan(&version); err != nil || version != 6 {
		t.Fatalf("seed update: got version %d, %v; want 6", version, err)
	}
	if _, err := conn.Exec(ctx, seedDeleteSQL, "legacy-banner"); err != nil {
		t.Fatalf("seed delete: %v", err)
	}
	if _, err := conn.Exec(ctx, seedInsertSQL, "legacy-banner", `{"id": "legacy-banner", "name": "Back"}`); err != nil {
		t.Fatalf("seed insert: %v", err)
	}
	if _, err := conn.Exec(ctx, seedDeleteSQL, "old-search"); err != nil {
		t.Fatalf("seed delete: %v", err)
	}
	// An UPDATE that forgets the version still gets a new one.
	if _, err := conn.Exec(ctx, `UPDATE feature_flags SET definition = definition || '{"description": "x"}' WHERE id = 'new-checkout'`); err != nil {
		t.Fatal(err)
	}

	feed, err := s.Changes(ctx, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{
		{5, flagcache.OpUpsert, "dark-mode", 6},
		{7, flagcache.OpUpsert, "legacy-banner", 3}, // deleted at 6 as version 2
		{8, flagcache.OpDelete, "old-search", 3},
		{9, flagcache.OpUpsert, "new-checkout", 4},
	}
	if got := summarize(feed); !slices.Equal(got, want) || feed.Revision != 9 {
		t.Errorf("Changes: got %+v at revision %d, want %+v at 9", got, feed.Revision, want)
	}
	if got, err := s.Get(ctx, "dark-mode"); err != nil || got.Definition.Name != "Dark" || got.Version != 6 {
		t.Errorf("Get after the seed's update: got %+v, %v", got, err)
	}
}

// columnTimes returns every row's created_at and updated_at columns.
func columnTimes(t *testing.T, conn *pgx.Conn) map[string][2]time.Time {
	t.Helper()
	rows, _ := conn.Query(ctxFor(t), `SELECT id, created_at, updated_at FROM feature_flags`)
	out := map[string][2]time.Time{}
	var (
		id     string
		ca, ua time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &ca, &ua}, func() error {
		out[id] = [2]time.Time{ca, ua}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalTimes(a, b map[string][2]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !v[0].Equal(w[0]) || !v[1].Equal(w[1]) {
			return false
		}
	}
	return true
}

// jsonValueEqual compares two JSON texts as values.
func jsonValueEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
