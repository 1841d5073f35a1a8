-- Operations: the long-running work of routes declared `operation`, one row each, and the
-- progress each reported, in order. Plain SQL that SQLite and PostgreSQL both accept; times are
-- milliseconds since the Unix epoch. The queue that hands operations to servers is apalis's own
-- tables; these hold what a client reads.
CREATE TABLE plugin_operations (
    id               TEXT             PRIMARY KEY,
    namespace        TEXT             NOT NULL DEFAULT '',
    plugin           TEXT             NOT NULL,
    route            TEXT             NOT NULL,
    owner            TEXT             NOT NULL,
    caller           TEXT,
    request_id       TEXT             NOT NULL,
    location         TEXT             NOT NULL,
    input            TEXT             NOT NULL,
    state            TEXT             NOT NULL,
    attempts         BIGINT           NOT NULL DEFAULT 0,
    cancel_requested BIGINT           NOT NULL DEFAULT 0,
    progress         DOUBLE PRECISION,
    message          TEXT,
    last_event       BIGINT           NOT NULL DEFAULT 0,
    status           BIGINT,
    result           TEXT,
    error            TEXT,
    created_at       BIGINT           NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);
CREATE INDEX plugin_operations_owner_state ON plugin_operations (namespace, owner, state);
CREATE INDEX plugin_operations_finished ON plugin_operations (namespace, finished_at);

CREATE TABLE plugin_operation_events (
    operation_id TEXT             NOT NULL REFERENCES plugin_operations (id) ON DELETE CASCADE,
    seq          BIGINT           NOT NULL,
    fraction     DOUBLE PRECISION,
    message      TEXT             NOT NULL,
    PRIMARY KEY (operation_id, seq)
);
