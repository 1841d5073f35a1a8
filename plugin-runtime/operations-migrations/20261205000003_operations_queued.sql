-- The operations still queued, by route and age: what the sweep reads once a heartbeat on every
-- server to find those a job never reached.
CREATE INDEX plugin_operations_queued ON plugin_operations (namespace, plugin, route, created_at)
    WHERE state = 'queued';
