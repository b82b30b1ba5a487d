-- Sync sources (see registry-api/src/sync/). Every stored version now belongs to one source: 'managed' holds what
-- is published through this API (and the seed); every other source is filled by sync from an upstream registry
-- API, a registry file or a git repository. Named registries serve several sources in precedence order.
ALTER TABLE server_remote_urls DROP CONSTRAINT server_remote_urls_server_name_version_fkey;
ALTER TABLE server_remote_urls ADD COLUMN source TEXT COLLATE "C" NOT NULL DEFAULT 'managed';
ALTER TABLE server_remote_urls DROP CONSTRAINT server_remote_urls_pkey;
ALTER TABLE server_remote_urls ADD PRIMARY KEY (url, source, server_name, version);

ALTER TABLE server_versions ADD COLUMN source TEXT COLLATE "C" NOT NULL DEFAULT 'managed'
    CHECK (length(source) > 0);
-- The sync of its source that last wrote the row: a full sync removes the rows older syncs wrote.
ALTER TABLE server_versions ADD COLUMN sync_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE server_versions DROP CONSTRAINT server_versions_pkey;
ALTER TABLE server_versions ADD PRIMARY KEY (source, server_name, version);
ALTER TABLE server_remote_urls ADD FOREIGN KEY (source, server_name, version)
    REFERENCES server_versions (source, server_name, version) ON DELETE CASCADE;

-- Exactly one latest version per server and source.
DROP INDEX server_versions_one_latest;
CREATE UNIQUE INDEX server_versions_one_latest ON server_versions (source, server_name) WHERE is_latest;
-- `GET servers/{name}/versions` is ordered by publish time.
DROP INDEX server_versions_published;
CREATE INDEX server_versions_published ON server_versions (source, server_name, published_at);
-- Registries of several sources list in (name, version) order and look names up across sources.
CREATE INDEX server_versions_name ON server_versions (server_name, version);

-- One row per configured sync source: the state of its last sync, and the row a sync locks.
CREATE TABLE sync_sources (
    name              TEXT    COLLATE "C" PRIMARY KEY,
    kind              TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete', 'failed')),
    -- Bumped by every sync that writes.
    generation        BIGINT  NOT NULL DEFAULT 0,
    -- Hash of the source's settings and filter at its last complete sync: a change forces a full sync.
    settings_hash     TEXT,
    -- File and git sources: hash of the content last synced; an unchanged content is not written again.
    content_hash      TEXT,
    -- API sources: the newest upstream updatedAt seen (microseconds), where the next incremental sync starts.
    watermark         BIGINT,
    last_attempt_at   BIGINT,
    last_success_at   BIGINT,
    last_full_sync_at BIGINT,
    last_error        TEXT,
    -- JSON: mode, counts, duration and skipped entries of the last complete sync.
    last_report       TEXT,
    server_count      BIGINT  NOT NULL DEFAULT 0,
    version_count     BIGINT  NOT NULL DEFAULT 0
);
