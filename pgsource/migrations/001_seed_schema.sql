-- Migration 1: the seed's schema ("393 - Feature Flag Storage", section
-- "Database Schema"), verbatim but for IF NOT EXISTS / OR REPLACE and a
-- guard around CREATE TRIGGER, so that it changes nothing on a database
-- created beforehand with the seed's DDL.

-- PostgreSQL schema for feature flags
CREATE TABLE IF NOT EXISTS feature_flags (
    id VARCHAR(256) PRIMARY KEY,
    definition JSONB NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Indexes for efficient querying
CREATE INDEX IF NOT EXISTS idx_feature_flags_status ON feature_flags ((definition->>'status'));
CREATE INDEX IF NOT EXISTS idx_feature_flags_updated_at ON feature_flags (updated_at);
CREATE INDEX IF NOT EXISTS idx_feature_flags_tags ON feature_flags USING GIN ((definition->'metadata'->'tags'));
CREATE INDEX IF NOT EXISTS idx_feature_flags_owner ON feature_flags ((definition->'metadata'->>'owner'));

-- Trigger for updated_at
CREATE OR REPLACE FUNCTION update_feature_flags_updated_at()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- CREATE TRIGGER has no IF NOT EXISTS (and OR REPLACE only from
-- PostgreSQL 14 on).
DO $migrate$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgname = 'feature_flags_updated_at'
                     AND tgrelid = 'feature_flags'::regclass) THEN
        CREATE TRIGGER feature_flags_updated_at
            BEFORE UPDATE ON feature_flags
            FOR EACH ROW
            EXECUTE FUNCTION update_feature_flags_updated_at();
    END IF;
END
$migrate$;
