-- One row per (server name, version): the server.json as published, and the registry's official metadata.
-- Timestamps are microseconds since the Unix epoch (UTC), identical on SQLite and PostgreSQL.
CREATE TABLE server_versions (
    -- A stable row id (VACUUM keeps explicit INTEGER PRIMARY KEYs), for the search index below.
    id                INTEGER PRIMARY KEY,
    server_name       TEXT    NOT NULL CHECK (server_name LIKE '%_/_%'),
    version           TEXT    NOT NULL CHECK (length(trim(version)) > 0),
    value             TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('active', 'deprecated', 'deleted')),
    status_message    TEXT,
    status_changed_at BIGINT  NOT NULL,
    published_at      BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    is_latest         BOOLEAN NOT NULL DEFAULT FALSE,
    -- lower-cased "name\ndescription", for case-insensitive substring search
    search_text       TEXT    NOT NULL,
    UNIQUE (server_name, version)
);

-- Exactly one latest version per server; also serves `version=latest` listings in name order.
CREATE UNIQUE INDEX server_versions_one_latest ON server_versions (server_name) WHERE is_latest;
-- Incremental sync (`updated_since`).
CREATE INDEX server_versions_updated_at ON server_versions (updated_at);
-- `GET servers/{name}/versions` is ordered by publish time.
CREATE INDEX server_versions_published ON server_versions (server_name, published_at);
-- `version=1.2.3` listings.
CREATE INDEX server_versions_version ON server_versions (version, server_name);

-- Remote URLs, so that "URL already used by another server" is an index lookup.
CREATE TABLE server_remote_urls (
    url         TEXT NOT NULL,
    server_name TEXT NOT NULL,
    version     TEXT NOT NULL,
    PRIMARY KEY (url, server_name, version),
    FOREIGN KEY (server_name, version) REFERENCES server_versions (server_name, version) ON DELETE CASCADE
);
