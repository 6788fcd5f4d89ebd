package reliability_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/faultproxy"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/tiered"
)

// nemRig is the nemesis's system under test. Every sidecar reaches
// Postgres through pgProxy and Redis through redisProxy, so the nemesis can
// break either network path; the Redis primary replicates to a replica
// through replProxy, so the replica can be made to lag.
//
//	A, B       tiered.Stores read and written in process
//	C          a tiered.Store behind the HTTP API (httpapi over httptest),
//	           read by "http" (a client without cache) and "local" (a
//	           client with its local cache, kept by the watch stream)
type nemRig struct {
	t      *testing.T
	truth  *pgsource.Store // straight to Postgres: what the source holds
	admin  *pgx.Conn       // straight to Postgres: terminates the sidecars' backends
	sqlw   *pgx.Conn       // straight to Postgres, in the schema: the foreign writer
	schema string
	app    string // application_name of every sidecar connection
	pgCfg  *pgxpool.Config

	pgProxy, redisProxy, replProxy *faultproxy.Proxy
	primary, replica               *redistest.Server
	snapshots                      []string // RDB files, oldest first

	casIDs, foreignIDs []flagcache.ID

	mu        sync.Mutex
	sidecars  map[string]*nemSidecar // A, B, C
	endpoints []string               // A, B, http, local
	httpc     *client.Client
	local     *client.Client
	killed    int
	logs      nemLog // what the sidecars log
}

// nemSidecar is one tiered.Store with its own Postgres pool and Redis
// client, both through the proxies.
type nemSidecar struct {
	name   string
	store  *tiered.Store
	pool   *pgxpool.Pool
	client *redis.Client
	once   sync.Once
}

// nemHealth is the sidecars' subscriber health interval: a dead pub/sub
// connection is found within it.
const nemHealth = time.Second

func newNemRig(t *testing.T, casKeys, foreignKeys int) *nemRig {
	t.Helper()
	r := &nemRig{t: t, sidecars: map[string]*nemSidecar{}}
	r.truth, r.schema = pgtest.NewStore(t, pgsource.Options{MaxConns: 4})
	r.app = testenv.UniqueName("flagcache-nemesis-")
	dsn, err := withApplicationName(testenv.PostgresDSN(), r.app)
	if err != nil {
		t.Fatal(err)
	}
	r.pgCfg, err = pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	r.pgCfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{r.schema}.Sanitize()
	r.pgCfg.ConnConfig.ConnectTimeout = time.Second
	r.pgCfg.MaxConns = 4
	pgsource.ConfigurePool(r.pgCfg) // what Open does: give up on half-open connections
	r.pgProxy = faultproxy.Start(t, net.JoinHostPort(r.pgCfg.ConnConfig.Host, strconv.Itoa(int(r.pgCfg.ConnConfig.Port))))
	host, port, _ := net.SplitHostPort(r.pgProxy.Addr)
	p, _ := strconv.Atoi(port)
	r.pgCfg.ConnConfig.Host, r.pgCfg.ConnConfig.Port = host, uint16(p)

	r.admin = mustPgConn(t, testenv.PostgresDSN(), "")
	r.sqlw = mustPgConn(t, testenv.PostgresDSN(), r.schema)

	r.primary = redistest.Start(t, redistest.Options{})
	r.replica = redistest.Start(t, redistest.Options{})
	r.replProxy = faultproxy.Start(t, r.primary.Addr)
	if err := r.replica.ReplicaOf(r.replProxy.Addr); err != nil {
		t.Fatal(err)
	}
	r.redisProxy = faultproxy.Start(t, r.primary.Addr)

	for i := range casKeys {
		r.casIDs = append(r.casIDs, r.create(fmt.Sprintf("cas-%02d", i)))
	}
	for i := range foreignKeys {
		r.foreignIDs = append(r.foreignIDs, r.create(fmt.Sprintf("sql-%02d", i)))
	}
	r.snapshot()

	for _, name := range []string{"A", "B", "C"} {
		r.sidecars[name] = r.startSidecar(name)
	}
	h, err := httpapi.NewHandler(r.sidecars["C"].store, httpapi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.sidecars["C"].store.OnChange(h.Notify)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); srv.Close() })
	r.httpc = mustClient(t, srv.URL)
	r.local = mustClient(t, srv.URL, client.WithLocalCache(1000))
	r.endpoints = []string{"A", "B", "http", "local"}
	return r
}

func mustPgConn(t *testing.T, dsn, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if schema != "" {
		cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	conn, err := pgx.ConnectConfig(bg(t), cfg)
	if err != nil {
		testenv.Unreachable(t, "postgres", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustClient(t *testing.T, url string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithTimeout(3 * time.Second), client.WithBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	c, err := client.New(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (r *nemRig) create(id string) flagcache.ID {
	r.t.Helper()
	if _, err := r.truth.Create(bg(r.t), flagDef(r.t, flagcache.ID(id), false)); err != nil {
		r.t.Fatalf("create %s: %v", id, err)
	}
	return flagcache.ID(id)
}

// snapshot saves the Redis primary's data as the newest snapshot.
func (r *nemRig) snapshot() {
	path := filepath.Join(r.t.TempDir(), fmt.Sprintf("snapshot-%d.rdb", len(r.snapshots)))
	if err := r.primary.Snapshot(path); err != nil {
		r.t.Logf("nemesis: snapshot failed (kept the older ones): %v", err)
		return
	}
	r.snapshots = append(r.snapshots, path)
}

// startSidecar starts a sidecar whose connections all go through the
// proxies. Production options, except a faster breaker probe and a 1s
// health interval; the periodic resync stays at 30s, so it cannot hide a
// missed notification within the nemesis's window.
func (r *nemRig) startSidecar(name string) *nemSidecar {
	r.t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), r.pgCfg.Copy())
	if err != nil {
		r.t.Fatal(err)
	}
	rc := redis.NewClient(redistest.FastOptions(r.redisProxy.Addr))
	opts := suiteOptions()
	opts.ResyncInterval = 30 * time.Second
	// The store subscribes until it works: a sidecar may start in the
	// middle of a fault.
	opts.Redis = tiered.RedisOptions{Client: rc, Prefix: prefix + ":cache", Channel: prefix + ":inv", HealthInterval: nemHealth}
	opts.Origin = name
	opts.Logger = slog.New(r.logs.handler(name))
	n := &nemSidecar{name: name, store: tiered.New(pgsource.New(pool, pgsource.Options{}), opts), pool: pool, client: rc}
	r.t.Cleanup(n.kill)
	return n
}

func (n *nemSidecar) kill() {
	n.once.Do(func() {
		n.store.Close()
		n.client.Close()
		n.pool.Close()
	})
}

// store returns what endpoint reads and writes through now.
func (r *nemRig) store(endpoint string) flagcache.Store {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch endpoint {
	case "http":
		return r.httpc
	case "local":
		return r.local
	}
	return r.sidecars[endpoint].store
}

// killSidecar kills sidecar name and starts a new one in its place.
func (r *nemRig) killSidecar(name string) {
	r.mu.Lock()
	old := r.sidecars[name]
	r.mu.Unlock()
	old.kill()
	r.mu.Lock()
	r.sidecars[name] = r.startSidecar(name)
	r.killed++
	r.mu.Unlock()
}

// stats sums the sidecars' counters.
func (r *nemRig) stats() tiered.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum tiered.Stats
	for _, n := range r.sidecars {
		sum = addStats(sum, n.store.Stats())
	}
	return sum
}
