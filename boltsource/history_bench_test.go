package boltsource_test

import (
	"context"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
)

// BenchmarkWriteHistory is the cost of history on a durable write: Update
// of one flag (one fsynced transaction each) with the history entry
// written, and without (the baseline, in the same run). "on" keeps every
// version; "on-keep100" prunes to 100 versions a flag.
//
//	go test -run '^$' -bench WriteHistory -count 6 ./boltsource/
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
			ctx := context.Background()
			s := mustOpen(b, tempPath(b), boltsource.Options{History: c.keep})
			boltsource.SetRecordHistory(s, c.on)
			def := mustFlag(b, "new-checkout", "New checkout")
			mustCreate(b, s, def)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Update(ctx, def, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
