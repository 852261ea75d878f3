-- Version 6 (numbered as SQLite's): machine definitions uploaded through the HTTP API, kept whole, so
-- every server process on the database can compile and serve them (server/catalog.py). A version is
-- immutable: one row each.
CREATE TABLE machine_definitions (
    name          TEXT             NOT NULL,
    version       TEXT             NOT NULL,
    format        TEXT             NOT NULL,
    text          TEXT             NOT NULL,
    registered_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, version)
);
