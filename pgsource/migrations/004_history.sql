-- Migration 4: every version kept, and who wrote it. Additive only: the
-- seed's table and the functions and triggers of migration 2 stay as they
-- are; this adds a table, one function and one trigger of its own.

-- One row per write: the version and revision it produced, the operation,
-- the actor, the commit (transaction) time and the full definition, NULL
-- for a delete, whose version is its tombstone's.
CREATE TABLE IF NOT EXISTS flagcache_history (
    id         VARCHAR(256) NOT NULL,
    version    BIGINT NOT NULL,
    revision   BIGINT NOT NULL,
    op         TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    actor      TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    definition JSONB,
    PRIMARY KEY (id, version)
);
CREATE INDEX IF NOT EXISTS idx_flagcache_history_revision ON flagcache_history (revision);

-- What exists before this migration has no history yet: each flag and each
-- tombstone gets one entry, its latest write, by 'unknown'.
INSERT INTO flagcache_history (id, version, revision, op, actor, at, definition)
SELECT id, version, revision, 'upsert', 'unknown', updated_at, definition FROM feature_flags
ON CONFLICT DO NOTHING;
INSERT INTO flagcache_history (id, version, revision, op, actor, at)
SELECT id, version, revision, 'delete', 'unknown', deleted_at FROM flagcache_tombstones
ON CONFLICT DO NOTHING;

-- The entry of every write, whoever makes it, in the write's transaction.
-- The actor is the transaction-local setting flagcache.actor, which
-- pgsource sets with set_config('flagcache.actor', $1, true) before each
-- write; a writer that does not set it (psql, the seed's service) is
-- recorded as 'sql:' and its database role. (After a transaction that set
-- it, the session reads it back as '', hence NULLIF.)
--
-- It runs AFTER the row is written, so it sees the version and revision
-- that the BEFORE trigger of migration 2 gave an insert or update; for a
-- delete it reads the tombstone that feature_flags_deleted (which fires
-- first: AFTER triggers of one event fire in name order) has just written.
CREATE OR REPLACE FUNCTION flagcache_record_history()
RETURNS TRIGGER AS $$
DECLARE
    who TEXT := COALESCE(NULLIF(current_setting('flagcache.actor', true), ''),
                         'sql:' || current_user);
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO flagcache_history (id, version, revision, op, actor, at)
        SELECT id, version, revision, 'delete', who, NOW()
        FROM flagcache_tombstones WHERE id = OLD.id;
    ELSE
        INSERT INTO flagcache_history (id, version, revision, op, actor, at, definition)
        VALUES (NEW.id, NEW.version, NEW.revision, 'upsert', who, NOW(), NEW.definition);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql SET search_path FROM CURRENT;

DROP TRIGGER IF EXISTS feature_flags_history ON feature_flags;
CREATE TRIGGER feature_flags_history
    AFTER INSERT OR UPDATE OR DELETE ON feature_flags
    FOR EACH ROW
    EXECUTE FUNCTION flagcache_record_history();
