package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache/internal/testenv"
)

// Cluster is a private Redis Cluster: 3 primaries, each with one replica.
type Cluster struct {
	Addrs []string // every node, primaries first as created
	nodes []*exec.Cmd
	tb    testing.TB
}

// StartCluster starts six cluster-enabled redis-servers on free loopback
// ports, joins them with `redis-cli --cluster create --cluster-replicas 1`,
// and waits for cluster_state:ok on every node.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unreachable(tb, "redis-server binary", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		testenv.Unreachable(tb, "redis-cli binary", err)
	}
	// The directory first: cleanups run last-registered first, so the nodes
	// are stopped before their directory is removed (a running node writes
	// nodes.conf, and RemoveAll then fails the test).
	root := tb.TempDir()
	c := &Cluster{tb: tb}
	tb.Cleanup(c.stopAll)
	for i := range 6 {
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		dir := filepath.Join(root, strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0", "--save", "", "--appendonly", "no", "--dir", dir,
			"--loglevel", "warning")
		if err := cmd.Start(); err != nil {
			tb.Fatalf("redistest: start cluster node: %v", err)
		}
		c.nodes = append(c.nodes, cmd)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		c.Addrs = append(c.Addrs, addr)
		waitPing(tb, addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: cluster create: %v\n%s", err, out)
	}
	for _, addr := range c.Addrs {
		waitFor(tb, "cluster_state:ok and replication in sync on "+addr, func() bool {
			repl := info(addr, "INFO", "replication")
			return strings.Contains(info(addr, "CLUSTER", "INFO"), "cluster_state:ok") &&
				(strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up"))
		})
	}
	return c
}

// Client returns a cluster client, closed at the end. Its timeouts are
// those of the conformance client (see conformanceOptions), not FastOptions:
// the suite runs it under load, where a 100 ms pool wait is not a fault.
func (c *Cluster) Client() *redis.ClusterClient {
	o := conformanceOptions()
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: c.Addrs, DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout,
		WriteTimeout: o.WriteTimeout, PoolTimeout: o.PoolTimeout, ContextTimeoutEnabled: true,
		DialerRetries: 1, MaxRedirects: 8,
	})
	c.tb.Cleanup(func() { cc.Close() })
	return cc
}

// KillPrimaryOf kills the primary owning key's slot and waits until its
// replica has been promoted and reports the cluster healthy. It returns the
// killed node's address.
func (c *Cluster) KillPrimaryOf(key string) string {
	c.tb.Helper()
	cc := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	primary, err := cc.MasterForKey(ctx, key)
	if err != nil {
		c.tb.Fatal(err)
	}
	addr := primary.Options().Addr
	replica := c.replicaOf(addr)
	for i, a := range c.Addrs {
		if a == addr {
			c.nodes[i].Process.Kill()
			c.nodes[i].Wait()
			c.nodes[i] = nil
		}
	}
	waitFor(c.tb, "replica "+replica+" promoted", func() bool {
		return strings.Contains(info(replica, "INFO", "replication"), "role:master") &&
			strings.Contains(info(replica, "CLUSTER", "INFO"), "cluster_state:ok")
	})
	return addr
}

func (c *Cluster) stopAll() {
	for _, n := range c.nodes {
		if n != nil {
			n.Process.Kill()
			n.Wait()
		}
	}
}

// Sentinel is a private primary/replica pair watched by three sentinels.
type Sentinel struct {
	MasterName    string
	SentinelAddrs []string
	Primary       *Server
	Replica       *Server
	sentinels     []*exec.Cmd
	tb            testing.TB
}

// StartSentinel starts a primary, a replica of it, and three sentinels
// monitoring them with quorum 2 and a 1 s down-after period.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Unreachable(tb, "redis-server binary", err)
	}
	s := &Sentinel{MasterName: "flagcache", tb: tb}
	s.Primary = Start(tb, Options{})
	s.Replica = Start(tb, Options{})
	host, port, _ := net.SplitHostPort(s.Primary.Addr)
	if err := rawDo(s.Replica.Addr, "REPLICAOF", host, port); err != nil {
		tb.Fatalf("redistest: replicaof: %v", err)
	}
	waitFor(tb, "replica in sync", func() bool {
		return strings.Contains(info(s.Replica.Addr, "INFO", "replication"), "master_link_status:up")
	})
	root := tb.TempDir() // before stopAll: see StartCluster
	tb.Cleanup(s.stopAll)
	for i := range 3 {
		sport, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		conf := filepath.Join(root, fmt.Sprintf("sentinel-%d.conf", i))
		body := fmt.Sprintf("bind 127.0.0.1\nport %d\nsentinel monitor %s %s %s 2\n"+
			"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n"+
			"sentinel parallel-syncs %s 1\n", sport, s.MasterName, host, port, s.MasterName, s.MasterName, s.MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
		cmd := exec.Command(bin, conf, "--sentinel", "--loglevel", "warning")
		if err := cmd.Start(); err != nil {
			tb.Fatalf("redistest: start sentinel: %v", err)
		}
		s.sentinels = append(s.sentinels, cmd)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sport))
		s.SentinelAddrs = append(s.SentinelAddrs, addr)
		waitPing(tb, addr)
	}
	for _, addr := range s.SentinelAddrs {
		waitFor(tb, "sentinel "+addr+" to see the replica and the other sentinels", func() bool {
			out := info(addr, "SENTINEL", "MASTER", s.MasterName)
			return strings.Contains(out, "num-slaves\n1") && strings.Contains(out, "num-other-sentinels\n2")
		})
	}
	return s
}

// Client returns a failover client, closed at the end, with the timeouts
// of conformanceOptions.
func (s *Sentinel) Client() *redis.Client {
	o := conformanceOptions()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		PoolTimeout: o.PoolTimeout, ContextTimeoutEnabled: true, DialerRetries: 1,
	})
	s.tb.Cleanup(func() { c.Close() })
	return c
}

// KillPrimary kills the primary and waits until the sentinels have promoted
// the replica.
func (s *Sentinel) KillPrimary() {
	s.tb.Helper()
	s.Primary.Stop()
	waitFor(s.tb, "sentinels to promote the replica", func() bool {
		return strings.Contains(info(s.Replica.Addr, "INFO", "replication"), "role:master")
	})
}

func (s *Sentinel) stopAll() {
	for _, c := range s.sentinels {
		c.Process.Kill()
		c.Wait()
	}
}

// info runs one command on addr and returns its reply as text ("" on error).
func info(addr string, args ...string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	v, err := c.Do(ctx, a...).Result()
	if err != nil {
		return ""
	}
	return flatten(v)
}

func flatten(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = flatten(p)
		}
		return strings.Join(parts, "\n")
	case map[any]any:
		var parts []string
		for k, val := range x {
			parts = append(parts, flatten(k)+"\n"+flatten(val))
		}
		return strings.Join(parts, "\n")
	default:
		return fmt.Sprint(x)
	}
}

func rawDo(addr string, args ...any) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Do(ctx, args...).Err()
}

func waitPing(tb testing.TB, addr string) {
	tb.Helper()
	waitFor(tb, "redis on "+addr, func() bool { return rawDo(addr, "PING") == nil })
}

// waitFor polls cond every 20 ms for up to 30 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
