-- The trigram index matches exactly, as the page walk (`instr`) and PostgreSQL's `LIKE` do. Both the stored
-- search_text and a search term are lower-cased already (by the server), so the index must not fold case a second
-- time: its own Unicode folding (ſ → s, µ → μ, ...) made a search's answer depend on which plan served it — the
-- index for few matches, the walk for many — and differ from PostgreSQL's.
DROP TRIGGER server_search_insert;
DROP TRIGGER server_search_delete;
DROP TRIGGER server_search_update;
DROP TABLE server_search;

CREATE VIRTUAL TABLE server_search USING fts5(
    search_text,
    content = 'server_versions',
    content_rowid = 'id',
    tokenize = 'trigram case_sensitive 1'
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
