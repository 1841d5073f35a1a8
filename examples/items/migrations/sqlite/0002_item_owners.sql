-- Items belong to the user who created them, and names are unique per owner (a name in use by
-- someone else must not be revealed by a 409). SQLite cannot change a UNIQUE constraint in
-- place, so the table is rebuilt. Items made before owners existed are kept, owned by nobody.
CREATE TABLE items_owned (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('active', 'archived')),
    created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (owner, name)
);
INSERT INTO items_owned (id, owner, name, status, created_at)
    SELECT id, '', name, status, created_at FROM items;
DROP TABLE items;
ALTER TABLE items_owned RENAME TO items;
CREATE INDEX items_owner_status ON items (owner, status);
