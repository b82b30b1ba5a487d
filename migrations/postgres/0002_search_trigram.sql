-- Substring search (`search=`) through a trigram index: `search_text LIKE '%term%'` uses it for terms of 3 or more
-- characters, as the official registry does (its migration 015). pg_trgm is a trusted extension (PostgreSQL 13+):
-- the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX server_versions_search_trgm ON server_versions USING gin (search_text gin_trgm_ops);
