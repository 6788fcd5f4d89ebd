package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/linearize"
	"github.com/flagcache/flagcache/internal/redistest"
)

// Four sidecars sharing a private Redis Cluster (3 primaries, 3 replicas;
// sharded pub/sub) and one Postgres: CAS writes through each, reads through
// all. The history of the CAS writes is linearizable (porcupine); no reader
// ever sees a version go backwards on a daemon; after each write every
// daemon converges to it, and the convergence time (write acknowledged →
// all four serve it) is the figure.
func TestFourSidecarsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster and four daemons")
	}
	cluster := redistest.StartCluster(t)
	env := postgresEnv(t)
	env["FLAGCACHE_REDIS_ADDRS"] = strings.Join(cluster.Addrs, ",")
	env["FLAGCACHE_REDIS_MODE"] = "cluster"
	env["FLAGCACHE_REDIS_SHARDED_PUBSUB"] = "true"
	env["FLAGCACHE_REDIS_PREFIX"] = "four"
	env["FLAGCACHE_REDIS_INVALIDATION_CHANNEL"] = "four:invalidations"
	var daemons []*testDaemon
	for range 4 {
		daemons = append(daemons, startServe(t, env))
	}

	const keys = 8
	for k := range keys {
		want(t, daemons[k%4].do(t, "POST", "/v1/flags", fmt.Sprintf(`{"id":"k%d","name":"K","kind":"number","default_value":0}`, k)), 201, "")
	}

	// Readers on every daemon check versions never go backwards while
	// writers on every daemon race CAS updates.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads, backwards sync.Map // counters by daemon
	for di, d := range daemons {
		readers.Add(1)
		go func() {
			defer readers.Done()
			seen := map[string]int64{}
			n := 0
			for {
				select {
				case <-stop:
					reads.Store(di, n)
					return
				default:
				}
				id := fmt.Sprintf("k%d", n%keys)
				n++
				st, status, err := getFlag(d, id)
				if err != nil || status != 200 {
					t.Errorf("read %s on daemon %d: %d %v", id, di, status, err)
					return
				}
				if st.Version < seen[id] {
					backwards.Store(fmt.Sprintf("%d/%s", di, id), fmt.Sprintf("%d after %d", st.Version, seen[id]))
				}
				seen[id] = st.Version
			}
		}()
	}

	epoch := time.Now()
	var (
		history     []porcupine.Operation
		mu          sync.Mutex
		wins        int
		unknowns    int
		conflicts   int
		convergence []time.Duration
		writers     sync.WaitGroup
	)
	for wi, w := range daemons {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 15 {
				id := fmt.Sprintf("k%d", (i/2)%keys) // all writers on the same keys: CAS races
				cur, status, err := getFlag(w, id)
				if err != nil || status != 200 {
					t.Errorf("writer %d read %s: %d %v", wi, id, status, err)
					return
				}
				body := fmt.Sprintf(`{"name":"K","kind":"number","default_value":%d}`, wi*100+i)
				in := linearize.Input{Kind: linearize.CAS, ID: flagcache.ID(id), Expected: cur.Version}
				call := time.Since(epoch).Nanoseconds()
				status, actual, err := putFlag(w, id, body, cur.Version)
				ret := time.Since(epoch).Nanoseconds()
				out := linearize.Output{Outcome: linearize.OK, Version: cur.Version + 1}
				switch {
				case err != nil || status >= 500:
					out, ret = linearize.Output{Outcome: linearize.Unknown}, linearize.NeverReturned
				case status == 412:
					out = linearize.Output{Outcome: linearize.Conflict, Version: actual}
				case status != 200:
					t.Errorf("writer %d put %s: status %d", wi, id, status)
					return
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: wi, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
				if status != 200 {
					mu.Lock()
					if out.Outcome == linearize.Unknown {
						unknowns++
					} else {
						conflicts++
					}
					mu.Unlock()
					continue
				}
				// Acknowledged: every daemon must serve at least this version soon.
				start := time.Now()
				for _, d := range daemons {
					for {
						st, _, err := getFlag(d, id)
						if err == nil && st.Version > cur.Version {
							break
						}
						if time.Since(start) > 10*time.Second {
							t.Errorf("daemon %s still serves %s at version ≤ %d 10s after the write", d.base, id, cur.Version)
							return
						}
						time.Sleep(2 * time.Millisecond)
					}
				}
				mu.Lock()
				wins++
				convergence = append(convergence, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()

	backwards.Range(func(k, v any) bool {
		t.Errorf("daemon/id %s: a reader saw version %s", k, v)
		return true
	})
	// Every daemon comes to serve the same final version of every flag
	// (a write whose outcome was unknown may have applied without its
	// writer waiting for it, so poll); the versions add up to the
	// acknowledged writes plus at most the unknown ones: none lost.
	var total int64
	deadline := time.Now().Add(20 * time.Second)
	for k := 0; k < keys; {
		id := fmt.Sprintf("k%d", k)
		var versions []int64
		for _, d := range daemons {
			st, _, err := getFlag(d, id)
			if err != nil {
				t.Fatal(err)
			}
			versions = append(versions, st.Version)
		}
		if slices.Min(versions) != slices.Max(versions) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: daemons still disagree 20s after the writes: %v", id, versions)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		total += versions[0] - 1
		k++
	}
	if total < int64(wins) || total > int64(wins+unknowns) {
		t.Errorf("versions above 1 add up to %d, want the %d acknowledged writes (+ up to %d unknown)", total, wins, unknowns)
	}
	lin := linearize.Check(history, time.Minute)
	if lin.Check != porcupine.Ok {
		t.Errorf("CAS history of %d ops through 4 daemons: %s (visualization %s)", lin.Ops, lin.Check, lin.Visual)
	}
	slices.Sort(convergence)
	if len(convergence) == 0 {
		t.Fatal("no write won")
	}
	n := 0
	reads.Range(func(_, v any) bool { n += v.(int); return true })
	t.Logf("4 daemons on a 6-node Redis Cluster (sharded pub/sub) + Postgres: %d CAS writes acknowledged, %d conflicts, %d reads, 0 backwards; "+
		"porcupine %s on %d ops in %v; convergence on all 4: p50 %v, p99 %v, max %v",
		wins, conflicts, n, lin.Check, lin.Ops, lin.Took.Round(time.Millisecond), convergence[len(convergence)/2].Round(time.Microsecond),
		convergence[len(convergence)*99/100].Round(time.Microsecond), convergence[len(convergence)-1].Round(time.Microsecond))
}

func getFlag(d *testDaemon, id string) (*flagcache.Stored, int, error) {
	res, err := d.client.Get(d.base + "/v1/flags/" + id)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	var st flagcache.Stored
	if res.StatusCode == 200 {
		err = json.NewDecoder(res.Body).Decode(&st)
	}
	return &st, res.StatusCode, err
}

// putFlag updates id with If-Match; on a 412 it returns the actual version
// the server reported.
func putFlag(d *testDaemon, id, body string, ifMatch int64) (status int, actual int64, err error) {
	req, err := http.NewRequest("PUT", d.base+"/v1/flags/"+id, strings.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("If-Match", flagcache.ETag(ifMatch))
	req.Header.Set("Content-Type", "application/json")
	res, err := d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusPreconditionFailed {
		var e struct {
			Error struct{ Actual int64 } `json:"error"`
		}
		err = json.NewDecoder(res.Body).Decode(&e)
		return res.StatusCode, e.Error.Actual, err
	}
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, 0, nil
}
