-- Migration 2: what the seed lacks for versions that survive a delete and
-- a gapless change feed. Additive only: the seed's table, columns, indexes
-- and trigger stay as they are, so a writer that knows only the seed's
-- schema keeps working, and its writes land in the change feed too.

-- The store-wide revision counter: one row. Every write bumps it inside its
-- own transaction, and the row lock it takes is held until commit, so
-- writers are serialised: revisions are handed out in commit order, and a
-- write that rolls back gives its revision back (no gaps). horizon is the
-- revision of the newest tombstone compacted out of the change feed.
CREATE TABLE IF NOT EXISTS flagcache_revision (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    revision  BIGINT NOT NULL,
    horizon   BIGINT NOT NULL DEFAULT 0
);

-- A deleted flag: the version of its delete (last live version + 1), kept
-- for good so that a re-created flag continues above it, and the revision
-- of the delete. A compacted tombstone is out of the change feed but still
-- remembers the version. Re-creating the flag removes its tombstone: from
-- then on the live row carries the version.
CREATE TABLE IF NOT EXISTS flagcache_tombstones (
    id         VARCHAR(256) PRIMARY KEY,
    version    BIGINT NOT NULL,
    revision   BIGINT NOT NULL UNIQUE,
    deleted_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    compacted  BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS idx_flagcache_tombstones_retained
    ON flagcache_tombstones (deleted_at) WHERE NOT compacted;

-- The revision of each flag's latest write.
ALTER TABLE feature_flags ADD COLUMN IF NOT EXISTS revision BIGINT;

-- Rows written before this migration get revisions 1..n in updated_at
-- order, so a full sync of the change feed includes them. The seed's
-- trigger would set updated_at to NOW() on this UPDATE: it is off for it.
ALTER TABLE feature_flags DISABLE TRIGGER feature_flags_updated_at;
UPDATE feature_flags f
SET revision = n.revision
FROM (SELECT id, row_number() OVER (ORDER BY updated_at, id COLLATE "C") AS revision
      FROM feature_flags) n
WHERE f.id = n.id;
ALTER TABLE feature_flags ENABLE TRIGGER feature_flags_updated_at;

INSERT INTO flagcache_revision (revision)
SELECT COALESCE(max(revision), 0) FROM feature_flags
ON CONFLICT (singleton) DO NOTHING;

ALTER TABLE feature_flags ALTER COLUMN revision SET NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS idx_feature_flags_revision ON feature_flags (revision);

-- The books are kept by triggers, not by the Go code, so that every writer
-- (pgsource, the seed's service, an operator with psql) keeps them alike:
--
--   insert or update: the next revision; an insert continues above the
--     id's tombstone (and removes it), an update that does not raise the
--     version gets version + 1;
--   delete: the next revision and a tombstone at version + 1.
--
-- SET search_path FROM CURRENT pins the functions to the schema they were
-- created in, whatever search_path the writing session has.
CREATE OR REPLACE FUNCTION flagcache_flag_written()
RETURNS TRIGGER AS $$
DECLARE
    tombstone_version BIGINT;
BEGIN
    UPDATE flagcache_revision SET revision = revision + 1
    RETURNING revision INTO NEW.revision;
    IF TG_OP = 'INSERT' THEN
        DELETE FROM flagcache_tombstones WHERE id = NEW.id
        RETURNING version INTO tombstone_version;
        IF tombstone_version IS NOT NULL AND NEW.version <= tombstone_version THEN
            NEW.version := tombstone_version + 1;
        END IF;
    ELSIF NEW.version <= OLD.version THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql SET search_path FROM CURRENT;

CREATE OR REPLACE FUNCTION flagcache_flag_deleted()
RETURNS TRIGGER AS $$
DECLARE
    delete_revision BIGINT;
BEGIN
    UPDATE flagcache_revision SET revision = revision + 1
    RETURNING revision INTO delete_revision;
    INSERT INTO flagcache_tombstones (id, version, revision, deleted_at)
    VALUES (OLD.id, OLD.version + 1, delete_revision, NOW())
    ON CONFLICT (id) DO UPDATE
        SET version = GREATEST(flagcache_tombstones.version + 1, EXCLUDED.version),
            revision = EXCLUDED.revision,
            deleted_at = EXCLUDED.deleted_at,
            compacted = FALSE;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql SET search_path FROM CURRENT;

DROP TRIGGER IF EXISTS feature_flags_written ON feature_flags;
CREATE TRIGGER feature_flags_written
    BEFORE INSERT OR UPDATE ON feature_flags
    FOR EACH ROW
    EXECUTE FUNCTION flagcache_flag_written();

DROP TRIGGER IF EXISTS feature_flags_deleted ON feature_flags;
CREATE TRIGGER feature_flags_deleted
    AFTER DELETE ON feature_flags
    FOR EACH ROW
    EXECUTE FUNCTION flagcache_flag_deleted();
