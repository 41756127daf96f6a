-- Extensions the Togather server needs, created once when the database cluster is first initialised.
-- The postgres image runs the files in /docker-entrypoint-initdb.d (compose mounts docker/db-init there) only
-- when the data directory is empty; on an existing volume nothing here runs again, so a later need is a
-- migration's job. The scripts run as the image's superuser (POSTGRES_USER) in POSTGRES_DB, which postgis needs.
--   postgis - geography types and spatial indexes for places
--   vector  - pgvector embeddings
--   pg_trgm - trigram indexes for fuzzy text search

-- Name every missing one at once, with the cause, instead of failing on the first with a bare file-not-found:
-- postgis/postgis images do not ship pgvector, and pgvector/pgvector images do not ship PostGIS.
DO $$
DECLARE
  missing text;
BEGIN
  SELECT string_agg(wanted.ext, ', ') INTO missing
  FROM unnest(ARRAY['postgis', 'vector', 'pg_trgm']) AS wanted(ext)
  WHERE NOT EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = wanted.ext);
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'extension(s) % not installed in this PostgreSQL image', missing
      USING HINT = 'use a PostgreSQL 16 image that has PostGIS, pgvector and contrib (pg_trgm)';
  END IF;
END
$$;

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
