-- Migration 3: tell listeners about every commit, and never let TRUNCATE
-- reset the books. Additive only: it defines its own functions and
-- triggers and leaves migration 2's alone.

-- After every statement that writes feature_flags (pgsource, the seed's
-- service, an operator with psql), NOTIFY the store's revision on the
-- channel flagcache_revisions. LISTEN channels are per database, not per
-- schema, so the payload is "<schema> <revision>" and a listener keeps
-- only its own schema's. The statement-level trigger runs after the
-- row-level ones, so the revision it reads includes this statement's
-- writes; the notification is delivered at commit (never for a rollback),
-- and Postgres folds identical payloads of one transaction into one.
CREATE OR REPLACE FUNCTION flagcache_notify_revision()
RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify('flagcache_revisions',
        current_schema() || ' ' || (SELECT revision FROM flagcache_revision)::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql SET search_path FROM CURRENT;

DROP TRIGGER IF EXISTS feature_flags_notify ON feature_flags;
CREATE TRIGGER feature_flags_notify
    AFTER INSERT OR UPDATE OR DELETE ON feature_flags
    FOR EACH STATEMENT
    EXECUTE FUNCTION flagcache_notify_revision();

-- TRUNCATE fires no row triggers: on feature_flags it would drop flags
-- with no revision and no tombstone (a re-created flag would start again
-- at version 1, hidden behind every cache's higher version); on the
-- tombstones it would forget deleted versions; on the counter it would
-- break every later write. Refuse it on all three; DELETE FROM
-- feature_flags does the same job and keeps the books.
CREATE OR REPLACE FUNCTION flagcache_refuse_truncate()
RETURNS TRIGGER AS $$
BEGIN
    RAISE EXCEPTION 'flagcache: TRUNCATE %.% would reset flag versions', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Use DELETE FROM feature_flags: it leaves tombstones and a revision for every flag.';
END;
$$ LANGUAGE plpgsql SET search_path FROM CURRENT;

DROP TRIGGER IF EXISTS feature_flags_no_truncate ON feature_flags;
CREATE TRIGGER feature_flags_no_truncate
    BEFORE TRUNCATE ON feature_flags
    FOR EACH STATEMENT
    EXECUTE FUNCTION flagcache_refuse_truncate();

DROP TRIGGER IF EXISTS flagcache_tombstones_no_truncate ON flagcache_tombstones;
CREATE TRIGGER flagcache_tombstones_no_truncate
    BEFORE TRUNCATE ON flagcache_tombstones
    FOR EACH STATEMENT
    EXECUTE FUNCTION flagcache_refuse_truncate();

DROP TRIGGER IF EXISTS flagcache_revision_no_truncate ON flagcache_revision;
CREATE TRIGGER flagcache_revision_no_truncate
    BEFORE TRUNCATE ON flagcache_revision
    FOR EACH STATEMENT
    EXECUTE FUNCTION flagcache_refuse_truncate();
