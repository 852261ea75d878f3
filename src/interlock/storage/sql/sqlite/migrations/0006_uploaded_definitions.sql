-- Version 6: machine definitions uploaded through the HTTP API, kept whole, so every server process on
-- the database can compile and serve them (server/catalog.py). A version is immutable: one row each.
CREATE TABLE machine_definitions (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    format        TEXT NOT NULL,   -- yaml | json | scxml
    text          TEXT NOT NULL,   -- the document as uploaded
    registered_at REAL NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;
