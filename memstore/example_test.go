package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
)

func Example() {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})

	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	created, _ := store.Create(ctx, def)
	fmt.Println("created", created.Definition.ID, created.ETag)

	next := created.Definition.Clone()
	next.Status = flagcache.StatusActive
	updated, _ := store.Update(ctx, next, created.Version)
	fmt.Println("updated to", updated.Version, updated.Definition.Status)

	// A second writer still holding version 1 loses the compare-and-set.
	_, err := store.Update(ctx, next, created.Version)
	var conflict *flagcache.VersionConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: expected", conflict.Expected, "actual", conflict.Actual)
	}

	feed, _ := store.Changes(ctx, 0, 0)
	for _, c := range feed.Changes {
		fmt.Println("change", c.Revision, c.Op, c.ID, c.Version)
	}
	// Output:
	// created new-checkout "v1"
	// updated to 2 active
	// conflict: expected 1 actual 2
	// change 2 upsert new-checkout 2
}
