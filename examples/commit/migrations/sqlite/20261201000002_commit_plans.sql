-- One plan per scope: its commits (JSON), where it stands, and the state of the files it was
-- made from (JSON: path to blob hash, or "deleted"), to tell when it has gone stale.
CREATE TABLE commit_plans (
    scope TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    state TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
