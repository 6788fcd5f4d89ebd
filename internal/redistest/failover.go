package redistest

import (
	"context"
	"strings"
	"time"
)

// FailoverPrimaryOf makes the replica of the primary owning key's slot
// take over with CLUSTER FAILOVER (a manual failover: the old primary
// stays up and becomes a replica, so its sharded pub/sub subscribers get
// sunsubscribe), and waits until the cluster reports the new primary. It
// returns the old primary's and the new primary's addresses.
func (c *Cluster) FailoverPrimaryOf(key string) (oldPrimary, newPrimary string) {
	c.tb.Helper()
	cc := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	primary, err := cc.MasterForKey(ctx, key)
	if err != nil {
		c.tb.Fatal(err)
	}
	oldPrimary = primary.Options().Addr
	newPrimary = c.replicaOf(oldPrimary)
	if err := rawDo(newPrimary, "CLUSTER", "FAILOVER"); err != nil {
		c.tb.Fatalf("redistest: cluster failover on %s: %v", newPrimary, err)
	}
	waitFor(c.tb, "replica "+newPrimary+" promoted by a manual failover", func() bool {
		return strings.Contains(info(newPrimary, "INFO", "replication"), "role:master") &&
			strings.Contains(info(oldPrimary, "INFO", "replication"), "role:slave") &&
			strings.Contains(info(newPrimary, "CLUSTER", "INFO"), "cluster_state:ok")
	})
	return oldPrimary, newPrimary
}

// replicaOf returns the address of a replica of the primary at addr.
func (c *Cluster) replicaOf(addr string) string {
	c.tb.Helper()
	id := strings.TrimSpace(info(addr, "CLUSTER", "MYID"))
	for _, line := range strings.Split(info(addr, "CLUSTER", "NODES"), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && strings.Contains(f[2], "slave") && f[3] == id {
			return strings.Split(f[1], "@")[0]
		}
	}
	c.tb.Fatalf("redistest: no replica of %s", addr)
	return ""
}
