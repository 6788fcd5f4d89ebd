package boltsource_test

import (
	"context"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
	"github.com/flagcache/flagcache/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		s := mustOpen(t, tempPath(t), boltsource.Options{})
		storetest.SetRaw(t, storetest.Raw{Write: func(ctx context.Context, id flagcache.ID, raw []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return boltsource.PutRaw(s, id, append([]byte(nil), raw...))
		}})
		return s
	})
}
