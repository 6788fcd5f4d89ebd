// Package reliability is flagcache's fault-injection suite; it holds tests
// only. Two or more tiered.Stores (sidecars) share one source of truth and
// one private redis-server; clients read through the sidecars and update
// with compare-and-set while the tests break Redis, the pub/sub bus or
// Postgres under them. Every test logs its figures as one line,
//
//	FIGURE <scenario> | key=value ...
//
// which docs/reliability.md quotes. Plain `go test ./reliability/` runs a
// short version of every scenario (CI); FLAGCACHE_FAULTS=full (`make
// test-faults`) runs the full op counts and outage lengths.
//
// What every scenario checks:
//   - the CAS history, with reads made at the source, is linearizable
//     (porcupine, partitioned by id; an op whose outcome is unknown may or
//     may not have happened);
//   - final versions = 1 + acknowledged CAS successes (+ applied unknowns):
//     no acknowledged write lost, none applied twice;
//   - no client sees a version go backwards on one id through one sidecar;
//   - after the faults end, every sidecar and Redis hold the source's
//     version of every id within a stated bound.
//
// TestNemesis composes faults instead of injecting one: a seeded random
// schedule of Redis restarts from older snapshots, lagging replicas
// promoted, black-holed, delayed and reset networks (through
// internal/faultproxy), pub/sub kills, foreign SQL writes, terminated
// Postgres backends and killed sidecars, under load through in-process
// sidecars, the HTTP API and a client with its local cache; after each
// episode heals, no read may be stale once a window has passed.
// FLAGCACHE_NEMESIS_SEED replays a schedule. TestForeignWritesServed
// measures how fast plain SQL writes reach every sidecar.
//
// TestSoak runs the same rig for minutes with Redis restarts and checks
// that goroutines and open files come back after the load and after
// closing, reporting the heap alongside.
package reliability
