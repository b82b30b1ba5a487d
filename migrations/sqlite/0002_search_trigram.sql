-- Substring search (`search=`) through an FTS5 trigram index over the lower-cased name and description, kept in
-- step with server_versions by triggers. Terms of 3 or more characters that match few rows are looked up here;
-- short or common terms scan in page order instead (see registry-api/src/store/sql.rs).
CREATE VIRTUAL TABLE server_search USING fts5(
    search_text,
    content = 'server_versions',
    content_rowid = 'id',
    tokenize = 'trigram'
);

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
