package boltsource_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
)

// A flag written to the file is there again after a restart.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "boltsource")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flags.db")

	s, err := boltsource.Open(path, boltsource.Options{})
	if err != nil {
		log.Fatal(err)
	}
	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	if _, err := s.Create(ctx, def); err != nil {
		log.Fatal(err)
	}
	s.Close()

	s, err = boltsource.Open(path, boltsource.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "new-checkout")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Definition.Name, got.ETag, got.Revision)
	// Output: New checkout "v1" 1
}
