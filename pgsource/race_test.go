package pgsource_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/pgsource"
)

// TestCreateRacingDelete forces the interleaving in which a Create of an
// existing id would take the revision counter and then wait on a Delete of
// that id, which itself waits for the counter: a deadlock, unless every
// write locks the flag's row before the counter. A third transaction holds
// the counter so that the two writes queue in that order.
func TestCreateRacingDelete(t *testing.T) {
	s, schema := mustStore(t, pgsource.Options{})
	if _, err := s.Create(ctxFor(t), mustFlag(t, "a", "A")); err != nil {
		t.Fatal(err)
	}
	tx, pid := mustHold(t, schema, "UPDATE flagcache_revision SET revision = revision")

	created, deleted := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := s.Create(ctxFor(t), mustFlag(t, "a", "A"))
		created <- err
	}()
	createErr, createDone := error(nil), false
	waitFor(t, "Create to answer or wait for the counter", func() bool {
		select {
		case createErr = <-created:
			createDone = true
			return true
		default:
			return waitingBehind(t, pid) == 1
		}
	})
	go func() {
		_, err := s.Delete(ctxFor(t), "a", 0)
		deleted <- err
	}()
	want := 2
	if createDone {
		want = 1
	}
	waitFor(t, "Delete to wait for the counter", func() bool { return waitingBehind(t, pid) == want })
	if err := tx.Commit(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if !createDone {
		createErr = <-created
	}
	if createErr != nil && !errors.Is(createErr, flagcache.ErrAlreadyExists) {
		t.Errorf("Create: got %v, want ErrAlreadyExists or success", createErr)
	}
	if err := <-deleted; err != nil {
		t.Errorf("Delete: got %v, want success", err)
	}
}

// mustHold runs sql in a transaction of its own connection in schema, to
// take a lock, and returns the transaction and its backend's pid. The
// transaction is rolled back at the end of the test unless it ended before.
func mustHold(t *testing.T, schema, sql string) (pgx.Tx, uint32) {
	t.Helper()
	conn := mustConnIn(t, schema)
	tx, err := conn.Begin(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctxFor(t), sql); err != nil {
		t.Fatal(err)
	}
	return tx, conn.PgConn().PID()
}

// waitingBehind counts the sessions waiting on a lock held by pid, directly
// or behind another waiter.
func waitingBehind(t *testing.T, pid uint32) int {
	t.Helper()
	var n int
	err := mustAdmin(t).QueryRow(ctxFor(t), `
		WITH direct AS (SELECT pid FROM pg_stat_activity WHERE $1::int = ANY (pg_blocking_pids(pid)))
		SELECT count(*) FROM pg_stat_activity
		WHERE wait_event_type = 'Lock'
		  AND ($1::int = ANY (pg_blocking_pids(pid)) OR pg_blocking_pids(pid) && ARRAY(SELECT pid FROM direct))`,
		int32(pid)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("waited 10s for %s", what)
}
