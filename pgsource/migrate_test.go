package pgsource_test

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache/pgsource"
)

// TestMigrateConcurrently runs Migrate from several processes' worth of
// pools at once on one fresh schema: the advisory lock lets one apply the
// migrations while the others wait and then find nothing to do.
func TestMigrateConcurrently(t *testing.T) {
	const migrators = 4
	schema := mustSchema(t)
	stores := make([]*pgsource.Store, migrators)
	for i := range stores {
		stores[i] = mustOpen(t, schema, pgsource.Options{MaxConns: 1})
	}
	start := make(chan struct{})
	errs := make(chan error, migrators)
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- s.Migrate(ctxFor(t))
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Migrate: %v", err)
		}
	}
	conn := mustConnIn(t, schema)
	rows, _ := conn.Query(ctxFor(t), `SELECT version, name FROM flagcache_migrations ORDER BY version`)
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var (
			v    int
			name string
		)
		err := r.Scan(&v, &name)
		return name, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := migrationNames(t); !slices.Equal(got, want) {
		t.Errorf("recorded migrations: got %v, want %v", got, want)
	}
}

// TestMigrateKeepsSeedSchema checks that on a database made with the
// seed's DDL, Migrate leaves the seed's indexes and trigger as they were
// and only adds its own.
func TestMigrateKeepsSeedSchema(t *testing.T) {
	schema := mustSeedDatabase(t)
	conn := mustConnIn(t, schema)
	before := schemaObjects(t, conn)
	s := mustOpen(t, schema, pgsource.Options{})
	if err := s.Migrate(ctxFor(t)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	after := schemaObjects(t, conn)
	for _, obj := range before {
		if !slices.Contains(after, obj) {
			t.Errorf("Migrate changed or dropped %s", obj)
		}
	}
	for _, added := range []string{
		"index idx_feature_flags_revision: CREATE UNIQUE INDEX idx_feature_flags_revision ON " + schema + ".feature_flags USING btree (revision)",
		"trigger feature_flags_written: enabled",
		"trigger feature_flags_deleted: enabled",
	} {
		if !slices.Contains(after, added) {
			t.Errorf("after Migrate: missing %q in %v", added, after)
		}
	}
}

// schemaObjects describes the indexes and triggers of feature_flags.
func schemaObjects(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, _ := conn.Query(ctxFor(t), `
		SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes
		WHERE tablename = 'feature_flags' AND schemaname = current_schema()
		UNION ALL
		SELECT 'trigger ' || tgname || ': ' || CASE tgenabled WHEN 'O' THEN 'enabled' ELSE 'disabled' END
		FROM pg_trigger WHERE tgrelid = 'feature_flags'::regclass AND NOT tgisinternal`)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// migrationNames lists the names of the files of migrations/, in order.
func migrationNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migration files: %v, %v", files, err)
	}
	sort.Strings(files)
	names := make([]string, len(files))
	for i, f := range files {
		_, name, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".sql"), "_")
		names[i] = name
	}
	return names
}
