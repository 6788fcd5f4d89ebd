package reliability_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/tiered"
)

var _ tiered.RevisionWatcher = (*pgsource.Store)(nil)

// Foreign writers — plain SQL UPDATE, DELETE and INSERT on feature_flags,
// behind every sidecar's back — are served by every sidecar within moments:
// Postgres notifies the commit (migration 003), each sidecar's
// WatchRevisions hears it and repairs from the change feed. The periodic
// resync is at its production 30 s, so it cannot be what serves them. For
// each write the figure is the time from the commit until every sidecar
// serves the new version (a delete: not found), its LRU having held the
// old one; p50 and p99 over the writes.
func TestForeignWritesServed(t *testing.T) {
	src, schema := pgtest.NewStore(t, pgsource.Options{})
	opts := suiteOptions()
	opts.ResyncInterval = 30 * time.Second
	r := newRig(t, src, rigConfig{sidecars: 3, keys: 8, opts: opts})
	conn := mustPgConn(t, testenv.PostgresDSN(), schema)
	writes := scaled(60, 600)
	var took []time.Duration
	live := map[flagcache.ID]bool{}
	for _, id := range r.ids {
		live[id] = true
	}
	for i := range writes {
		id := r.ids[i%len(r.ids)]
		for _, n := range r.nodes { // every LRU holds the current state
			n.GetHit(bg(t), id)
		}
		var version int64
		var err error
		op := "update"
		switch {
		case !live[id]:
			op = "insert"
			err = conn.QueryRow(bg(t), `INSERT INTO feature_flags (id, definition) VALUES ($1::text,
				jsonb_build_object('id', $1::text, 'name', $1::text, 'kind', 'boolean', 'default_value', false,
					'variations', jsonb_build_array(jsonb_build_object('value', true), jsonb_build_object('value', false))))
				RETURNING version`, string(id)).Scan(&version)
		case i%5 == 4:
			op = "delete"
			err = conn.QueryRow(bg(t), `DELETE FROM feature_flags WHERE id = $1 RETURNING version + 1`, string(id)).Scan(&version)
		default:
			err = conn.QueryRow(bg(t), `UPDATE feature_flags SET definition = jsonb_set(definition, '{description}', to_jsonb($2::text))
				WHERE id = $1 RETURNING version`, string(id), fmt.Sprint(i)).Scan(&version)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", op, id, err)
		}
		committed := time.Now()
		live[id] = op != "delete"
		for _, n := range r.nodes {
			waitFor(t, fmt.Sprintf("sidecar %s to serve the %s of %s (v%d)", n.name, op, id, version), 10*time.Second, func() bool {
				h, err := n.GetHit(bg(t), id)
				if op == "delete" {
					return errors.Is(err, flagcache.ErrNotFound)
				}
				return err == nil && h.Stored.Version == version
			})
		}
		took = append(took, time.Since(committed))
	}
	p50, p99, maxi := percentiles(took)
	st := r.stats()
	figure(t, "foreign-writes", "writes", writes, "sidecars", len(r.nodes), "served_by_all_p50", p50, "p99", p99, "max", maxi,
		"resync_interval", opts.ResyncInterval, "notifications", st.Notifications, "repaired", st.Repaired, "purges", st.Purges)
}
