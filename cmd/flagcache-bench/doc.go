// Command flagcache-bench measures a running flagcache daemon against
// baselines on the same machine in one run, so that the comparison holds
// on a noisy, shared machine. It is a binary of its own, not part of the
// product binary: it starts the daemons it needs as `flagcache serve`
// children, by the path in --flagcache.
//
//	flagcache-bench --url URL [--token T] [--spawn [--config FILE]] [--flagcache PATH] [--json]
//
// The flow of Run:
//
//  1. A data set of Options.Flags flags of about Options.Size bytes each
//     (prefix-000000…) is created in the daemon through package client,
//     on Options.Conns connections, then read back once: the daemon's
//     exact response bodies are what the baselines serve, and the read
//     fills the daemon's caches.
//  2. read: the daemon and the baselines, one after the other in
//     Options.Rounds interleaved rounds (after a shared warm-up), each
//     read by Options.Conns workers in a closed loop with ids drawn from
//     a Zipf distribution; each round gives every target the same id
//     sequences. The daemon and the static baseline are read by the same
//     lean loop (raw net/http GET on a keep-alive transport, the body
//     read in full and discarded, the tier taken from X-Flagcache-Tier);
//     the redis baseline is go-redis GET of the same bytes, the postgres
//     baseline the seed's SELECT through a pgx pool, each with a pool of
//     Options.Conns connections. Latencies go to per-worker log-linear
//     histograms (Histogram), merged per target.
//  3. mix: the daemon alone with a share of writes, each a client Update
//     with If-Match on the last version seen; conflicts are counted.
//  4. With a Spawner, daemons the bench starts (`flagcache serve` child
//     processes of the --flagcache binary on the user's config, on storage of the run's own): a
//     daemon holding the data set is restarted with its LRU and Redis
//     cache empty; storm fires Options.Storm concurrent GETs of one cold
//     flag at it (and at a second daemon when two can share the source)
//     and reads flagcache_source_loads_total before and after; cold reads
//     every flag once, then again; invalidation writes on one daemon and
//     polls the other until it serves the new version; memory compares
//     the RSS of a daemon caching the flags with one that does not.
//  5. The daemon's process (found by its loopback port in /proc, or
//     given) is sampled for RSS and CPU around its measured rounds.
//
// The Report lists every result, the daemon's ratio to each baseline, what
// was skipped and why (a baseline whose server is unreachable, a scenario
// the setup cannot run). The goals the figures are read against are a table
// in docs/benchmarks.md, not part of the report.
package main
