package pgsource_test

import (
	"github.com/flagcache/flagcache/pgsource"
	"testing"
	"time"
)

// A plain-SQL INSERT … ON CONFLICT DO UPDATE fires the revision trigger
// (taking the revision counter) before it meets the conflicting row. Beside
// a flagcache Update of that row (row lock held, waiting for the counter)
// that is a deadlock, and Postgres aborts the transaction that waited
// first: the flagcache write. The write is retried, so it succeeds once
// the foreign transaction ends, whatever the victim.
func TestWriteRetriedAsDeadlockVictim(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	if _, err := s.Create(ctxFor(t), mustFlag(t, "x", "X")); err != nil {
		t.Fatal(err)
	}
	foreign := mustConnIn(t, schema)
	ctx := ctxFor(t)
	var foreignPID uint32
	if err := foreign.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&foreignPID); err != nil {
		t.Fatal(err)
	}
	tx, err := foreign.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// The foreign transaction takes the revision counter with a write of
	// another id...
	if _, err := tx.Exec(ctx, `INSERT INTO feature_flags (id, definition) VALUES ('z', '{"id":"z","name":"Z","kind":"boolean","default_value":false}')`); err != nil {
		t.Fatal(err)
	}

	// ...flagcache's Update locks x and waits for the counter...
	upd := make(chan error, 1)
	go func() {
		cur, err := s.Get(ctx, "x")
		if err != nil {
			upd <- err
			return
		}
		def := cur.Definition.Clone()
		def.Name = "X2"
		_, err = s.Update(ctx, def, 0) // unconditional: the foreign write may come first
		upd <- err
	}()
	probe := mustConnIn(t, schema)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := probe.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, foreignPID).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Update never waited for the foreign transaction")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// ...and the foreign upsert of x waits for flagcache's row lock:
	// a deadlock, which Postgres breaks after deadlock_timeout.
	_, foreignErr := tx.Exec(ctx, `INSERT INTO feature_flags (id, definition) VALUES ('x', '{"id":"x","name":"foreign","kind":"boolean","default_value":true}')
		ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition`)
	if foreignErr == nil {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		tx.Rollback(ctx)
	}
	select {
	case err := <-upd:
		if err != nil {
			t.Fatalf("Update beside a deadlocking foreign upsert: %v (foreign: %v)", err, foreignErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Update did not return")
	}
	t.Logf("foreign upsert: %v", foreignErr)
}
