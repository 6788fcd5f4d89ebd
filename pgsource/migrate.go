package pgsource

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/, named NNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrateLock is the key of the advisory lock that serialises Migrate
// across processes ("flag" in ASCII). It is one key for the whole server:
// migrations are short, and a per-schema key could not be taken before the
// schema exists.
const migrateLock = 0x666c6167

const (
	lockMigrateSQL     = `SELECT pg_advisory_xact_lock($1)`
	migrationsTableSQL = `CREATE TABLE IF NOT EXISTS flagcache_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
	)`
	appliedSQL = `SELECT version FROM flagcache_migrations`
	recordSQL  = `INSERT INTO flagcache_migrations (version, name) VALUES ($1, $2)`
)

// Migrate brings the schema up to date: it applies, in order, the embedded
// migrations not yet recorded in flagcache_migrations, all in one
// transaction under an advisory lock, so it is idempotent and safe when
// several processes run it at once (the later ones wait, then find nothing
// to do). With Options.Schema, it first creates that schema if missing.
// Migration 1 is the seed's DDL and changes nothing on a database the seed
// created; the later ones only add to it.
func (s *Store) Migrate(ctx context.Context) error {
	migrations, err := loadMigrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockMigrateSQL, int64(migrateLock)); err != nil {
			return err
		}
		if s.schema != "" {
			// An identifier cannot be a bound parameter; Open checked the
			// name against validSchema and Sanitize quotes it.
			if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, migrationsTableSQL); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, appliedSQL)
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		applied := make(map[int]bool, len(versions))
		for _, v := range versions {
			applied[int(v)] = true
		}
		for _, m := range migrations {
			if applied[m.version] {
				continue
			}
			// Without arguments Exec uses the simple protocol, which runs
			// a file of several statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %03d_%s: %w", m.version, m.name, err)
			}
			if _, err := tx.Exec(ctx, recordSQL, m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
	return translate(ctx, "migrate", err)
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f), ".sql")
		num, name, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version < 1 {
			return nil, fmt.Errorf("pgsource: migration file %s is not named NNN_name.sql", f)
		}
		sql, err := migrationFiles.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: name, sql: string(sql)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}
