-- The W3C `traceparent` of the span of the request that started an operation, when it was
-- traced: the run's span is its child, so the run is in the caller's trace.
ALTER TABLE plugin_operations ADD COLUMN traceparent TEXT;
