package pgsource_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/storetest"
)

// The age case needs a clock the server's now() does not take: it is
// TestHistoryRetentionAge, which ages the rows instead.
func TestHistoryRetention(t *testing.T) {
	mustAdmin(t)
	storetest.RunRetention(t, func(t *testing.T, o storetest.RetentionOptions) flagcache.Store {
		if o.Clock != nil {
			return nil
		}
		s, _ := mustStore(t, pgsource.Options{History: o.Retention})
		return s
	})
}

// A write that does not come through flagcache (psql, the seed's service)
// is recorded by the trigger as "sql:" and the database role; a pgsource
// write in between does not leak its actor into the session's next plain
// write.
func TestHistorySQLWriter(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	conn := mustConnIn(t, schema)
	var role string
	if err := conn.QueryRow(ctxFor(t), `SELECT current_user`).Scan(&role); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(flagcache.WithActor(ctxFor(t), "deploy-bot"), mustFlag(t, "f", "F")); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctxFor(t), `UPDATE feature_flags SET definition = jsonb_set(definition, '{name}', '"By hand"') WHERE id = 'f'`); err != nil {
		t.Fatal(err)
	}
	// The same session, after a transaction that set the actor itself.
	tx, err := conn.Begin(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctxFor(t), `SELECT set_config('flagcache.actor', 'someone', true)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctxFor(t), `UPDATE feature_flags SET definition = definition WHERE id = 'f'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctxFor(t), `DELETE FROM feature_flags WHERE id = 'f'`); err != nil {
		t.Fatal(err)
	}
	page, err := s.History(ctxFor(t), "f", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Versions {
		got = append(got, fmt.Sprintf("%d %s %s", e.Version, e.Op, e.Actor))
	}
	want := []string{"4 delete sql:" + role, "3 upsert someone", "2 upsert sql:" + role, "1 upsert deploy-bot"}
	if !slices.Equal(got, want) {
		t.Fatalf("history: got %q, want %q", got, want)
	}
	if v2, err := s.GetVersion(ctxFor(t), "f", 2); err != nil || v2.Definition.Name != "By hand" {
		t.Fatalf("GetVersion(f, 2) = %+v, %v; want the plain write's definition", v2, err)
	}
	feed, err := s.Changes(ctxFor(t), 0, 0)
	if err != nil || len(feed.Changes) != 1 || feed.Changes[0].Actor != "sql:"+role {
		t.Fatalf("Changes = %+v, %v; want the delete by sql:%s", feed, err, role)
	}
}

// MaxAge against the server's clock: the rows are aged instead.
func TestHistoryRetentionAge(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{History: flagcache.HistoryRetention{MaxAge: time.Hour}})
	conn := mustConnIn(t, schema)
	mustCreate := func(id string) {
		if _, err := s.Create(ctxFor(t), mustFlag(t, id, id)); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate("aged")
	mustCreate("young")
	for v := int64(1); v < 3; v++ {
		if _, err := s.Update(ctxFor(t), mustFlag(t, "aged", "aged"), v); err != nil {
			t.Fatal(err)
		}
	}
	// Versions 1 and 2 of aged, and young's only one, are two hours old.
	if _, err := conn.Exec(ctxFor(t), `UPDATE flagcache_history SET at = at - interval '2 hours' WHERE version < 3`); err != nil {
		t.Fatal(err)
	}
	versions := func(id flagcache.ID) []int64 {
		page, err := s.History(ctxFor(t), id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, e := range page.Versions {
			out = append(out, e.Version)
		}
		return out
	}
	if got := versions("aged"); !slices.Equal(got, []int64{3}) {
		t.Errorf("aged: got %v, want [3]", got)
	}
	if got := versions("young"); !slices.Equal(got, []int64{1}) {
		t.Errorf("young (its newest version is always kept): got %v, want [1]", got)
	}
	if _, err := s.GetVersion(ctxFor(t), "aged", 2); !errors.Is(err, flagcache.ErrNotFound) {
		t.Errorf("GetVersion(aged, 2) past the retention: %v, want ErrNotFound", err)
	}
	// A write prunes what is past the retention from the table itself.
	if _, err := s.Update(ctxFor(t), mustFlag(t, "aged", "aged"), 3); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := conn.QueryRow(ctxFor(t), `SELECT count(*) FROM flagcache_history WHERE id = 'aged'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2 {
		t.Errorf("rows of aged after a write: %d, want 2 (versions 3 and 4)", rows)
	}
}

// Migrating a seed database gives each existing flag one history entry,
// its current version, by "unknown".
func TestHistoryAfterMigratingSeed(t *testing.T) {
	schema := mustSeedDatabase(t)
	s := mustOpen(t, schema, pgsource.Options{})
	if err := s.Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	for _, r := range seedRows {
		page, err := s.History(ctxFor(t), flagcache.ID(r.id), 0, 0)
		if err != nil {
			t.Fatalf("History(%s): %v", r.id, err)
		}
		if len(page.Versions) != 1 || page.Versions[0].Version != r.version || page.Versions[0].Actor != flagcache.ActorUnknown {
			t.Errorf("History(%s): %+v; want version %d by unknown", r.id, page.Versions, r.version)
		}
	}
}
