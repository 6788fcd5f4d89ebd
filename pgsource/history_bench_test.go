package pgsource_test

import (
	"context"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/pgsource"
)

// BenchmarkWriteHistory is the cost of history on a write: Update of one
// flag among 10,000 with the history trigger of migration 4 enabled, and
// disabled (the baseline, in the same run, same schema shape). "on-keep100"
// also prunes to 100 versions a flag in the write's transaction.
//
//	go test -run '^$' -bench WriteHistory -count 6 ./pgsource/
func BenchmarkWriteHistory(b *testing.B) {
	for _, c := range []struct {
		name string
		on   bool
		keep flagcache.HistoryRetention
	}{
		{"off", false, flagcache.HistoryRetention{}},
		{"on", true, flagcache.HistoryRetention{}},
		{"on-keep100", true, flagcache.HistoryRetention{MaxVersions: 100}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, schema := mustStore(b, pgsource.Options{History: c.keep})
			mustFill(b, schema, 10_000)
			if !c.on {
				conn := mustConnIn(b, schema)
				if _, err := conn.Exec(context.Background(), `ALTER TABLE feature_flags DISABLE TRIGGER feature_flags_history`); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			def := mustFlag(b, "flag-00042", "Flag 00042")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Update(ctx, def, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
