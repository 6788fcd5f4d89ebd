package pgtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
)

// rawSQL writes a definition the way another writer of the seed's table
// would: plain SQL, the triggers keep version and revision.
const rawSQL = `INSERT INTO feature_flags (id, definition) VALUES ($1, $2::text::jsonb)
	ON CONFLICT (id) DO UPDATE SET definition = EXCLUDED.definition`

// RawWriter returns the raw-write hook (storetest.Raw.Write) of a store in
// schema: an upsert by plain SQL on a connection of its own. Bytes that
// a jsonb column cannot hold (not JSON, not UTF-8, NUL, a lone surrogate)
// fail with an error matching errors.ErrUnsupported.
func RawWriter(tb testing.TB, schema string) func(ctx context.Context, id flagcache.ID, raw []byte) error {
	tb.Helper()
	cfg, err := pgx.ParseConfig(testenv.PostgresDSN())
	if err != nil {
		tb.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		testenv.Unreachable(tb, "postgres", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	var mu sync.Mutex
	return func(ctx context.Context, id flagcache.ID, raw []byte) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := conn.Exec(ctx, rawSQL, string(id), string(raw))
		var pgErr *pgconn.PgError
		// invalid_text_representation (not JSON, a lone surrogate),
		// untranslatable_character (\u0000), character_not_in_repertoire
		// (not UTF-8)
		if errors.As(err, &pgErr) && (pgErr.Code == "22P02" || pgErr.Code == "22P05" || pgErr.Code == "22021") {
			return fmt.Errorf("%w: %v", errors.ErrUnsupported, err)
		}
		return err
	}
}
