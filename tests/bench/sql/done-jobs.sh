#!/usr/bin/env bash
# The clean-up of done jobs on PostgreSQL with and without `plugin_routes_jobs_done` (BENCHMARKS.md,
# issue 29): a database of its own holding apalis's schema (copied from the tests' database, where
# any operations test on PostgreSQL has made it) and 1,000,000 jobs done within the retention in
# four queues; the clean-up's statement timed five times without the index, then the index built
# (timed) and the statement five times more.
#
#   bash tests/bench/sql/done-jobs.sh [postgres://postgres@127.0.0.1:5432/test]
set -euo pipefail
src=${1:-postgres://postgres@127.0.0.1:5432/test}
db=plugin_done_jobs_bench
path=${src%%\?*}
base=${path%/*}
psql "$src" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql "$src" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
psql "$base/$db" -qc "CREATE EXTENSION hstore"
pg_dump -s -n apalis "$src" | grep -v plugin_routes_jobs_done | psql -q "$base/$db" >/dev/null
psql "$base/$db" -q <<'SQL'
INSERT INTO apalis.jobs (job, id, job_type, status, done_at, run_at, idempotency_key)
SELECT convert_to('{"id":"op_' || g || '"}', 'UTF8'), 'j' || g, 'plugin-ops:q' || (g % 4), 'Done',
       now() - (g % 604000) * interval '1 second', now() - (g % 604000) * interval '1 second', 'op_' || g
FROM generate_series(1, 1000000) g;
ANALYZE apalis.jobs;
SQL
sweep() {
  psql "$base/$db" -At <<'SQL' | grep -E "Execution Time"
BEGIN;
EXPLAIN (ANALYZE) DELETE FROM apalis.jobs WHERE id IN (SELECT id FROM apalis.jobs
  WHERE job_type = 'plugin-ops:q1' AND status = 'Done'
  AND done_at < to_timestamp((extract(epoch FROM now()) * 1000 - 604800000) / 1000) LIMIT 500);
ROLLBACK;
SQL
}
echo "without the index:"; for _ in 1 2 3 4 5; do sweep; done
echo "the index built:"
psql "$base/$db" -c '\timing on' \
  -c "CREATE INDEX plugin_routes_jobs_done ON apalis.jobs (job_type, done_at) WHERE status = 'Done'" \
  -c "ANALYZE apalis.jobs" | grep Time | head -1
echo "with it:"; for _ in 1 2 3 4 5; do sweep; done
