package pgsource

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Probe implements tiered.Prober: it connects anew, outside the pool, and
// asks the server for the store's revision, within ctx. A cache in front
// of the store probes while one of its reads has waited too long; a probe
// that answers says the server answers new connections while that read
// waits on an old one — most likely one a fault left half-open.
func (s *Store) Probe(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return translate(ctx, "probe", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	var rev int64
	if err := conn.QueryRow(ctx, currentRevision).Scan(&rev); err != nil {
		return translate(ctx, "probe", err)
	}
	return nil
}

// Suspect implements tiered.Prober: a read was cut, stuck on a connection
// while a probe answered, and the fault that left it dead may have left
// every connection of the pool dead. The pool is reset: idle connections
// are closed now, busy ones when released, and the read made again dials
// anew instead of waiting out a ping on each.
func (s *Store) Suspect() { s.pool.Reset() }
