-- Sync sources (see registry-api/src/sync/). Every stored version now belongs to one source: 'managed' holds what
-- is published through this API (and the seed); every other source is filled by sync from an upstream registry
-- API, a registry file or a git repository. Named registries serve several sources in precedence order.
--
-- SQLite cannot change a table's constraints in place: the tables are rebuilt, keeping every row id (the search
-- index refers to them).
DROP TRIGGER server_search_insert;
DROP TRIGGER server_search_delete;
DROP TRIGGER server_search_update;

ALTER TABLE server_remote_urls RENAME TO server_remote_urls_old;
ALTER TABLE server_versions RENAME TO server_versions_old;
DROP INDEX server_versions_one_latest;
DROP INDEX server_versions_updated_at;
DROP INDEX server_versions_published;
DROP INDEX server_versions_version;

CREATE TABLE server_versions (
    id                INTEGER PRIMARY KEY,
    source            TEXT    NOT NULL DEFAULT 'managed' CHECK (length(source) > 0),
    server_name       TEXT    NOT NULL CHECK (server_name LIKE '%_/_%'),
    version           TEXT    NOT NULL CHECK (length(trim(version)) > 0),
    value             TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('active', 'deprecated', 'deleted')),
    status_message    TEXT,
    status_changed_at BIGINT  NOT NULL,
    published_at      BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    is_latest         BOOLEAN NOT NULL DEFAULT FALSE,
    search_text       TEXT    NOT NULL,
    -- The sync of its source that last wrote the row: a full sync removes the rows older syncs wrote.
    sync_generation   BIGINT  NOT NULL DEFAULT 0,
    UNIQUE (source, server_name, version)
);
INSERT INTO server_versions (id, server_name, version, value, status, status_message, status_changed_at,
                             published_at, updated_at, is_latest, search_text)
SELECT id, server_name, version, value, status, status_message, status_changed_at, published_at, updated_at,
       is_latest, search_text
FROM server_versions_old;

CREATE TABLE server_remote_urls (
    url         TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT 'managed',
    server_name TEXT NOT NULL,
    version     TEXT NOT NULL,
    PRIMARY KEY (url, source, server_name, version),
    FOREIGN KEY (source, server_name, version) REFERENCES server_versions (source, server_name, version)
        ON DELETE CASCADE
);
INSERT INTO server_remote_urls (url, server_name, version)
SELECT url, server_name, version FROM server_remote_urls_old;
DROP TABLE server_remote_urls_old;
DROP TABLE server_versions_old;

-- Exactly one latest version per server and source.
CREATE UNIQUE INDEX server_versions_one_latest ON server_versions (source, server_name) WHERE is_latest;
-- Incremental reads (`updated_since`).
CREATE INDEX server_versions_updated_at ON server_versions (updated_at);
-- `GET servers/{name}/versions` is ordered by publish time.
CREATE INDEX server_versions_published ON server_versions (source, server_name, published_at);
-- `version=1.2.3` listings.
CREATE INDEX server_versions_version ON server_versions (version, server_name);
-- Registries of several sources list in (name, version) order and look names up across sources.
CREATE INDEX server_versions_name ON server_versions (server_name, version);

CREATE TRIGGER server_search_insert AFTER INSERT ON server_versions BEGIN
    INSERT INTO server_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER server_search_delete AFTER DELETE ON server_versions BEGIN
    INSERT INTO server_search (server_search, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;
CREATE TRIGGER server_search_update AFTER UPDATE OF search_text ON server_versions
WHEN old.search_text IS NOT new.search_text BEGIN
    INSERT INTO server_search (server_search, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO server_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
INSERT INTO server_search (server_search) VALUES ('rebuild');

-- One row per configured sync source: the state of its last sync, and the lock a sync holds (PostgreSQL).
CREATE TABLE sync_sources (
    name              TEXT    PRIMARY KEY,
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
