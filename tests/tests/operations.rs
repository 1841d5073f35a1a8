//! Operations: a route declared `operation` answers `202 Accepted` with the `Location` of an
//! operation; `GET` reads it, `…/events` streams its progress and its end, `…/cancel` stops
//! it. Its outcome is in the database: a server started again on the same SQLite file, or
//! another server on the same PostgreSQL database, reads it, runs what was left, and takes its
//! cancel.

use crate::fixtures::{Captured, CutPostgres, PgSchema, READ_ONLY_MARKER, past_503, scopes};
use plugin_routes::auth::Auth;
use plugin_routes::database::Database;
use plugin_routes::operations::{OperationSettings, Operations, Running};
use plugin_routes::prelude::*;
use plugin_routes::testing::{TestClient, TestResponse};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What the routes share: how many times `hold` ran (counted across servers), whether a held
/// run was dropped, and the gate `gated` waits at.
#[derive(Default)]
struct Jobs {
    holds: Arc<AtomicU32>,
    dropped: Arc<AtomicBool>,
    gate: Arc<tokio::sync::Notify>,
}

#[derive(Serialize, Deserialize, JsonSchema, garde::Validate)]
struct Count {
    /// How far to count.
    #[garde(range(min = 1, max = 50))]
    to: u32,
    /// Fail with `TOO_FAR` on reaching this.
    #[garde(skip)]
    #[serde(default)]
    fail_at: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Counted {
    counted: u32,
}

/// Counts, reporting each step.
#[plugin_route(
    method = "POST",
    path = "/counts",
    operation,
    status = 201,
    scopes("jobs:run"),
    errors(TOO_FAR = 422)
)]
async fn count(ctx: Ctx<Jobs>, input: Count) -> RouteResult<Counted> {
    for i in 1..=input.to {
        if input.fail_at == Some(i) {
            return Err(route_error!(TOO_FAR, "{i} is too far"));
        }
        ctx.progress(
            Some(f64::from(i) / f64::from(input.to)),
            format!("counted {i}"),
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Counted { counted: input.to })
}

struct Guard(Arc<AtomicBool>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Held {
    /// Which run this was.
    run: u32,
}

/// Its first run waits until it is stopped (holding a guard); any later one answers at once.
/// Safe to run again.
#[plugin_route(
    method = "POST",
    path = "/queues/{queue}/holds",
    operation(rerun),
    scopes("jobs:run")
)]
async fn hold(ctx: Ctx<Jobs>, queue: String) -> RouteResult<Held> {
    let run = ctx.holds.fetch_add(1, Ordering::SeqCst) + 1;
    if run == 1 {
        let _guard = Guard(Arc::clone(&ctx.dropped));
        ctx.progress(None, format!("holding in {queue}"));
        std::future::pending::<()>().await;
    }
    Ok(Held { run })
}

/// Waits until it is stopped; not safe to run again.
#[plugin_route(method = "POST", path = "/once", operation, scopes("jobs:run"))]
async fn once(ctx: Ctx<Jobs>) -> RouteResult<Held> {
    ctx.progress(None, "holding");
    std::future::pending::<()>().await;
    Ok(Held { run: 1 })
}

/// Waits until the test opens its gate, then answers; not safe to run again.
#[plugin_route(method = "POST", path = "/gated", operation, scopes("jobs:run"))]
async fn gated(ctx: Ctx<Jobs>) -> RouteResult<Held> {
    ctx.progress(None, "waiting at the gate");
    ctx.gate.notified().await;
    ctx.progress(Some(1.0), "through the gate");
    Ok(Held { run: 1 })
}

#[plugin(
    name = "jobs",
    version = "1.0.0",
    state = Jobs,
    client = JobsClient,
    routes(count, hold, once, gated)
)]
struct JobsPlugin;

/// One server: its client, its workers, alice's and bob's keys.
struct Server {
    client: TestClient,
    app: axum::Router,
    running: Running,
    alice: String,
    bob: String,
}

fn fast(settings: OperationSettings) -> OperationSettings {
    settings
        .with_heartbeat(Duration::from_secs(1))
        .with_poll(Duration::from_millis(50))
        .with_cancel_poll(Duration::from_millis(50))
}

/// A server on `url`, its users made on first use.
async fn server(url: &str, jobs: Jobs, settings: OperationSettings) -> Server {
    server_with(url, jobs, settings, ServerConfig::default()).await
}

/// A fresh schema on the tests' PostgreSQL and a URL for servers working in it (apalis's queue
/// needs `hstore`); `None`, said, when the tests have no PostgreSQL.
async fn on_postgres(name: &str) -> Option<(PgSchema, String)> {
    let pg = PgSchema::fresh(name).await?;
    let url = pg.url_with_public_extension("hstore").await;
    Some((pg, url))
}

/// [`server`] with the server's configuration `config`.
async fn server_with(
    url: &str,
    jobs: Jobs,
    settings: OperationSettings,
    config: ServerConfig,
) -> Server {
    server_on(
        Database::connect(url).await.unwrap(),
        jobs,
        fast(settings),
        config,
    )
    .await
}

/// [`server_with`] on the database `db`, with `settings` as they are.
async fn server_on(
    db: Database,
    jobs: Jobs,
    settings: OperationSettings,
    config: ServerConfig,
) -> Server {
    // Servers of different tests on one PostgreSQL database (each in its own schema) do not
    // take each other's work.
    let settings = settings.with_namespace(&db.url);
    let auth = Auth::open(db.pool.clone(), Default::default())
        .await
        .unwrap();
    let mut keys = Vec::new();
    for who in ["alice@example.com", "bob@example.com"] {
        if auth
            .create_user(who, "a-password-1", &scopes("jobs:*"))
            .await
            .is_err()
        {
            // Made by the server before this one.
        }
        let key = auth
            .create_api_key(who, "tests", &scopes("jobs:*"), None)
            .await
            .unwrap();
        keys.push(format!("Bearer {}", key.key));
    }
    let operations = Operations::open(&db, settings).await.unwrap();
    let config = config.with_operations(&operations);
    let app = plugins![config = config; auth = auth; JobsPlugin::new(jobs)];
    let running = operations.start();
    let bob = keys.pop().unwrap();
    let alice = keys.pop().unwrap();
    Server {
        client: TestClient::new(app.clone()),
        app,
        running,
        alice,
        bob,
    }
}

fn sqlite_file(name: &str) -> (String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("plugin-ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (format!("sqlite:{}", dir.join("app.db").display()), dir)
}

impl Server {
    async fn start(&self, path: &str, body: Value) -> TestResponse {
        self.client
            .post(path)
            .header("authorization", &self.alice)
            .json(&body)
            .send()
            .await
    }

    /// Alice's request for the event stream of the operation at `location`, through the app
    /// itself: the response's body is the stream, open until it is dropped.
    fn events(
        &self,
        location: &str,
    ) -> impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + use<>
    {
        use tower::ServiceExt;
        let request = axum::http::Request::get(format!("{location}/events"))
            .header("authorization", &self.alice)
            .body(axum::body::Body::empty())
            .unwrap();
        self.app.clone().oneshot(request)
    }

    async fn get(&self, location: &str, key: &str) -> TestResponse {
        self.client
            .get(location)
            .header("authorization", key)
            .send()
            .await
    }

    /// `key`'s request to cancel the operation at `location`.
    async fn cancel(&self, location: &str, key: &str) -> TestResponse {
        self.client
            .post(&format!("{location}/cancel"))
            .header("authorization", key)
            .send()
            .await
    }

    /// Reads the operation until `done` says so (within 30 s).
    async fn until(&self, location: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.read_until(location, done, Duration::from_secs(30), false)
            .await
    }

    /// [`Self::until`], for at most 60 s, with the reads answered `503` (the database out of
    /// reach for a while) asked again.
    async fn until_answered(&self, location: &str, done: impl Fn(&Value) -> bool) -> Value {
        self.read_until(location, done, Duration::from_secs(60), true)
            .await
    }

    /// Reads the operation until `done` says so, for at most `within`; every read answered
    /// `200`, or `503` too when `past_outage` (asked again then).
    async fn read_until(
        &self,
        location: &str,
        done: impl Fn(&Value) -> bool,
        within: Duration,
        past_outage: bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = if past_outage {
                past_503(|| self.get(location, &self.alice)).await
            } else {
                self.get(location, &self.alice).await
            };
            assert_eq!(r.status(), 200, "{}", r.text());
            let op: Value = r.json();
            if done(&op) {
                return op;
            }
            assert!(Instant::now() < deadline, "still {op}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn state_is(state: &'static str) -> impl Fn(&Value) -> bool {
    move |op| op["state"] == state
}

#[tokio::test]
async fn an_operation_answers_202_and_its_result_is_read_later() {
    let (url, dir) = sqlite_file("result");
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 3})).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let op: Value = r.json();
    let id = op["id"].as_str().unwrap();
    assert_eq!(location, format!("/v1/plugins/jobs/counts/operations/{id}"));
    assert_eq!(op["state"], "queued");
    assert!(op.get("result").is_none());

    let op = s.until(&location, |op| op["state"] == "succeeded").await;
    assert_eq!(op["result"], json!({"counted": 3}));
    assert_eq!(op["status"], 201, "the status the route declares");
    assert_eq!(
        op["progress"],
        json!({"fraction": 1.0, "message": "counted 3"})
    );
    assert!(op["finishedAt"].is_string());
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Served under the host's plugin prefix, an operation's `Location` has the prefix, and its
/// resources are there.
#[tokio::test]
async fn under_a_plugin_prefix_the_location_has_the_prefix() {
    let (url, dir) = sqlite_file("prefix");
    let config = ServerConfig::default().with_plugin_prefix("/api/v1/plugin");
    let s = server_with(&url, Jobs::default(), OperationSettings::default(), config).await;
    let r = s
        .start("/api/v1/plugin/jobs/counts", json!({"to": 2}))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let id = r.json::<Value>()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/api/v1/plugin/jobs/counts/operations/{id}")
    );
    let op = s.until(&location, state_is("succeeded")).await;
    assert_eq!(op["result"], json!({"counted": 2}));
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn input_is_checked_before_anything_is_queued() {
    let (url, dir) = sqlite_file("input");
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 0})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.error()["code"], "INVALID_INPUT");
    assert!(r.header("location").is_none());
    let r = s
        .client
        .post("/v1/plugins/jobs/counts")
        .json(&json!({"to": 2}))
        .send()
        .await;
    assert_eq!(
        r.status(),
        401,
        "the route's security applies to starting it"
    );
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn progress_events_arrive_in_order_and_the_stream_ends_with_the_result() {
    let (url, dir) = sqlite_file("events");
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 4})).await;
    let location = r.header("location").unwrap().to_owned();
    let r = s.get(&format!("{location}/events"), &s.alice).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["progress", "progress", "progress", "progress", "succeeded"]
    );
    for (i, (_, data)) in events.iter().take(4).enumerate() {
        assert_eq!(data["message"], format!("counted {}", i + 1));
    }
    assert_eq!(events[4].1["result"], json!({"counted": 4}));
    assert_eq!(events[4].1["state"], "succeeded");

    // Resumed after the second report: the rest only.
    let r = s
        .client
        .get(&format!("{location}/events"))
        .header("authorization", &s.alice)
        .header("last-event-id", "2")
        .send()
        .await;
    let names: Vec<String> = r.events().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["progress", "progress", "succeeded"]);
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_declared_error_ends_it_failed_with_the_envelope_the_route_would_send() {
    let (url, dir) = sqlite_file("failed");
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let r = s
        .start("/v1/plugins/jobs/counts", json!({"to": 5, "fail_at": 3}))
        .await;
    let request_id = r.header("x-request-id").unwrap().to_owned();
    let location = r.header("location").unwrap().to_owned();
    let op = s.until(&location, |op| op["state"] == "failed").await;
    assert_eq!(op["status"], 422);
    assert_eq!(op["error"]["code"], "TOO_FAR");
    assert_eq!(op["error"]["message"], "3 is too far");
    assert_eq!(op["error"]["requestId"], request_id.as_str());
    assert!(op.get("result").is_none());
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn an_operation_is_its_creator_s_alone() {
    let (url, dir) = sqlite_file("owner");
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 1})).await;
    let location = r.header("location").unwrap().to_owned();
    s.until(&location, state_is("succeeded")).await;
    let r = s.get(&location, &s.bob).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.error()["code"], "NOT_FOUND");
    let r = s.cancel(&location, &s.bob).await;
    assert_eq!(r.status(), 404);
    let r = s.get(&format!("{location}/events"), &s.bob).await;
    assert_eq!(r.status(), 404);
    // Under another route's path, it does not exist either.
    let id = location.rsplit('/').next().unwrap();
    let r = s
        .get(
            &format!("/v1/plugins/jobs/queues/q/holds/operations/{id}"),
            &s.alice,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = s.client.get(&location).send().await;
    assert_eq!(r.status(), 401, "reading it needs the route's credentials");
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_cancelled_operation_is_dropped_and_ends_cancelled() {
    let (url, dir) = sqlite_file("cancel");
    let jobs = Jobs::default();
    let dropped = Arc::clone(&jobs.dropped);
    let s = server(&url, jobs, OperationSettings::default()).await;
    let r = s
        .start("/v1/plugins/jobs/queues/main/holds", json!(null))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with("/v1/plugins/jobs/queues/main/holds/operations/"));
    let op = s
        .until(&location, |op| {
            op["progress"]["message"] == "holding in main"
        })
        .await;
    assert_eq!(op["state"], "running");
    let r = s.cancel(&location, &s.alice).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>()["cancelRequested"], true);
    let op = s.until(&location, state_is("cancelled")).await;
    assert_eq!(op["status"], 499);
    assert_eq!(op["error"]["code"], "CANCELLED");
    assert!(
        dropped.load(Ordering::SeqCst),
        "the handler's future was dropped"
    );
    let events = s
        .get(&format!("{location}/events"), &s.alice)
        .await
        .events();
    assert_eq!(events.last().unwrap().0, "cancelled");
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn past_the_per_caller_cap_starting_one_answers_429() {
    let (url, dir) = sqlite_file("cap");
    let s = server(
        &url,
        Jobs::default(),
        OperationSettings::default().with_max_active_per_caller(2),
    )
    .await;
    let first = s.start("/v1/plugins/jobs/once", json!(null)).await;
    assert_eq!(first.status(), 202);
    assert_eq!(
        s.start("/v1/plugins/jobs/once", json!(null)).await.status(),
        202
    );
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 1})).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.error()["code"], "RATE_LIMITED");
    assert_eq!(r.error()["details"]["maxActiveOperations"], 2);
    assert!(r.header("retry-after").is_some());
    // Bob has his own.
    let r = s
        .client
        .post("/v1/plugins/jobs/once")
        .header("authorization", &s.bob)
        .send()
        .await;
    assert_eq!(r.status(), 202);
    // One cancelled frees a place.
    let location = first.header("location").unwrap().to_owned();
    s.cancel(&location, &s.alice).await;
    s.until(&location, state_is("cancelled")).await;
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 1})).await;
    assert_eq!(r.status(), 202);
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An operation stored whose job never reached the queue (the queue failed after the insert, or
/// the insert's answer was lost) is not left `queued` for ever, counting against its owner's
/// cap: a server serving its route queues it again after three heartbeats, and it runs.
#[tokio::test]
async fn an_operation_left_queued_without_a_job_is_queued_again() {
    let (url, dir) = sqlite_file("orphan");
    orphan_queued_again(&url, "DELETE FROM Jobs WHERE idempotency_key = $1").await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The same on PostgreSQL, whose queue is apalis's tables there.
#[tokio::test]
async fn an_operation_left_queued_without_a_job_is_queued_again_on_postgres() {
    let Some((pg, url)) = on_postgres("operations_orphan").await else {
        return;
    };
    orphan_queued_again(&url, "DELETE FROM apalis.jobs WHERE idempotency_key = $1").await;
    pg.remove().await;
}

/// After a failover, the queue's pooled connections may still reach the old primary, now a
/// standby: apalis's fetches and pushes there are refused (`25006`). A worker failing so has
/// the queue's pool replace the connections it made before, as a refused write does, and the
/// work goes on by itself. Here the queue's pool logs in as a role of its own whose sessions
/// are read-only while the test says so: its connections are ended and come back read-only,
/// then only connections made after that take writes, as after a failover.
#[tokio::test]
async fn the_queue_leaves_a_server_that_turned_read_only_on_postgres() {
    let _marker = READ_ONLY_MARKER.lock().await;
    let Some((pg, url)) = on_postgres("queue_read_only").await else {
        return;
    };
    // apalis's tables, shared by every test, are made (if they are not yet) by the tests' user,
    // not by the role that is dropped at the end.
    let main = Database::connect_with(&url, 4).await.unwrap();
    Operations::open(&main, OperationSettings::default())
        .await
        .unwrap();
    let role = QueueRole::create(&pg).await;
    // The rest of the server logs in as before; the queue's pool is opened on the URL given,
    // and holds at most 2 connections beside a pool of 4.
    let db = Database {
        pool: main.pool.clone(),
        url: role.url(&url),
    };
    // The queue's clean-up also writes through it: a job done long ago in each route's queue,
    // which its first round deletes (its next is a minute away), says when that round is over,
    // so that only the workers meet the server once it is read-only.
    let done_long_ago = format!("done-long-ago-{}-{}", std::process::id(), role.password);
    for route in ["count", "hold", "once", "gated"] {
        sqlx::query(
            "INSERT INTO apalis.jobs (job, id, job_type, status, done_at) \
             VALUES ('\\x'::bytea, $1, $2, 'Done', now() - interval '30 days')",
        )
        .bind(format!("{done_long_ago}-{route}"))
        .bind(format!("plugin-operations/{}/jobs/{route}", db.url))
        .execute(&main.pool)
        .await
        .unwrap();
    }
    let s = server_on(
        db,
        Jobs::default(),
        fast(OperationSettings::default()),
        ServerConfig::default(),
    )
    .await;
    let admin = sqlx::PgPool::connect(&std::env::var("PLUGIN_TEST_POSTGRES_URL").unwrap())
        .await
        .unwrap();
    let count = |sql: &'static str, bind: String| {
        let admin = admin.clone();
        let role = role.name.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(role)
                .bind(bind)
                .fetch_one(&admin)
                .await
                .unwrap()
        }
    };
    let count = &count;
    let (admin, done_long_ago) = (&admin, &done_long_ago);
    awaiting(move || async move {
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM apalis.jobs WHERE id LIKE $1 || '%'")
                .bind(done_long_ago)
                .fetch_one(admin)
                .await
                .unwrap();
        (left > 0).then(|| format!("the clean-up never ran: {left} jobs left"))
    })
    .await;

    // The server the queue reaches turns read-only: its connections end, and come back
    // read-only (the workers poll every 50 ms).
    let turned: String = sqlx::query_scalar("SELECT clock_timestamp()::text")
        .fetch_one(admin)
        .await
        .unwrap();
    pg.admin(&format!(
        "ALTER ROLE {0} SET default_transaction_read_only = on; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{0}'",
        role.name
    ))
    .await;
    let sessions_since = "SELECT COUNT(*) FROM pg_stat_activity \
                          WHERE usename = $1 AND backend_start > $2::timestamptz";
    let sessions_before = "SELECT COUNT(*) FROM pg_stat_activity \
                           WHERE usename = $1 AND backend_start < $2::timestamptz";
    let turned = &turned;
    awaiting(move || async move {
        let new = count(sessions_since, turned.clone()).await;
        let old = count(sessions_before, turned.clone()).await;
        (new < 2 || old > 0).then(|| {
            format!(
                "the queue has {new} read-only connections and {old} older ones, not 2 and none"
            )
        })
    })
    .await;
    // The queue holds only read-only connections; from now on a new one takes writes.
    let reset: String = sqlx::query_scalar("SELECT clock_timestamp()::text")
        .fetch_one(admin)
        .await
        .unwrap();
    pg.admin(&format!(
        "ALTER ROLE {} RESET default_transaction_read_only",
        role.name
    ))
    .await;
    // The workers' failures alone (nothing else writes through the queue meanwhile) have the
    // pool replace them.
    let reset = &reset;
    awaiting(move || async move {
        let old = count(sessions_before, reset.clone()).await;
        (old > 0).then(|| format!("the queue still has {old} read-only connections"))
    })
    .await;

    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 2})).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let op = s.until(&location, state_is("succeeded")).await;
    assert_eq!(op["result"], json!({"counted": 2}));

    // Each worker failed and started again, registering its name anew, which apalis does under
    // a lock of the session's that it keeps: no connection the pool holds keeps one, or the
    // next life of that worker could register only on that connection. (A connection busy
    // registering, or just back from it, holds one for a moment.)
    awaiting(move || async move {
        let locks = count(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE a.usename = $1 AND l.locktype = 'advisory' \
             AND a.backend_start > $2::timestamptz",
            reset.clone(),
        )
        .await;
        (locks > 0).then(|| format!("{locks} advisory locks kept by queue connections"))
    })
    .await;
    admin.close().await;

    s.running.stop(Duration::from_secs(5)).await;
    role.drop(&pg).await;
    pg.remove().await;
}

/// Asks `pending` every 50 ms until it says nothing is (`None`), for at most 30 s; past that,
/// fails with what it said last.
async fn awaiting<F, Fut>(mut pending: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(why) = pending().await {
        assert!(Instant::now() < deadline, "{why}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A PostgreSQL role of one test's own, to log a pool in as: `ALTER ROLE ... SET` then changes
/// what its new sessions are, and only theirs.
struct QueueRole {
    name: String,
    password: String,
}

impl QueueRole {
    /// Made afresh. Roles that earlier runs left (they failed before dropping theirs) are
    /// dropped first: those made over ten minutes ago with no session open.
    async fn create(pg: &PgSchema) -> QueueRole {
        use std::hash::BuildHasher;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let name = format!("plugin_queue_ro_{}", std::process::id());
        // Keyed afresh by the process: not to be guessed from the name and the time.
        let password = format!(
            "{:016x}",
            std::collections::hash_map::RandomState::new().hash_one(nanos)
        );
        pg.admin(&format!(
            "DO $$ DECLARE r TEXT; BEGIN \
             FOR r IN SELECT rolname FROM pg_roles \
               WHERE rolname LIKE 'plugin\\_queue\\_ro\\_%' \
               AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE usename = rolname) \
               AND coalesce(shobj_description(oid, 'pg_authid'), '0')::bigint \
                   < extract(epoch FROM now())::bigint - 600 LOOP \
             EXECUTE format('REASSIGN OWNED BY %I TO CURRENT_USER', r); \
             EXECUTE format('DROP OWNED BY %I', r); EXECUTE format('DROP ROLE %I', r); \
             END LOOP; END $$; \
             DROP ROLE IF EXISTS {name}; \
             CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{password}'; \
             COMMENT ON ROLE {name} IS '{}'",
            nanos.as_secs()
        ))
        .await;
        QueueRole { name, password }
    }

    /// `url` logging in as the role.
    fn url(&self, url: &str) -> String {
        url_as(url, &self.name, &self.password)
    }

    /// Ends its sessions and drops it, with the rows its queues left in apalis's tables (their
    /// names hold the URL the role logs in with).
    async fn drop(self, pg: &PgSchema) {
        pg.admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{0}'; \
             DELETE FROM apalis.jobs WHERE job_type LIKE '%{1}%'; \
             DELETE FROM apalis.workers WHERE worker_type LIKE '%{1}%' \
               AND NOT EXISTS (SELECT FROM apalis.jobs WHERE lock_by = workers.id); \
             DROP OWNED BY {0}; DROP ROLE {0}",
            self.name, self.password
        ))
        .await;
    }
}

/// A job queued without a key, as an earlier version queued them, is found by what it carries:
/// an operation waiting for a place behind a long run is not queued a second time (a second job
/// finding it running would take it for a run whose server stopped).
#[tokio::test]
async fn an_operation_waiting_behind_a_run_is_not_queued_twice() {
    let (url, dir) = sqlite_file("unkeyed");
    let jobs = Jobs::default();
    let gate = Arc::clone(&jobs.gate);
    let settings = OperationSettings::default()
        .with_max_running(1)
        .with_retention(Duration::from_secs(2));
    let s = server(&url, jobs, settings).await;
    let r = s.start("/v1/plugins/jobs/gated", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let gated = r.header("location").unwrap().to_owned();
    s.until(&gated, state_is("running")).await;
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 2})).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let counts = r.header("location").unwrap().to_owned();
    let id = r.json::<Value>()["id"].as_str().unwrap().to_owned();
    let db = plugin_routes::database::connect(&url).await.unwrap();
    let unkeyed = sqlx::query("UPDATE Jobs SET idempotency_key = NULL WHERE idempotency_key = $1")
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(unkeyed.rows_affected(), 1);
    // Past three heartbeats (1 s here) and a few rounds of the sweep (0.5 s), still waiting.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let r = s.get(&counts, &s.alice).await;
    assert_eq!(r.json::<Value>()["state"], "queued", "{}", r.text());
    gate.notify_one();
    s.until(&counts, state_is("succeeded")).await;
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM Jobs WHERE CAST(job AS TEXT) LIKE $1")
        .bind(format!("%{id}%"))
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(jobs, 1, "queued once");
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An operation accepted by a server with no workers, its job deleted with `delete` (bound to
/// the operation's id), then a second server on `url` that runs it.
async fn orphan_queued_again(url: &str, delete: &'static str) {
    let first = server(url, Jobs::default(), OperationSettings::default()).await;
    first.running.stop(Duration::from_secs(5)).await;
    let r = first
        .client
        .post("/v1/plugins/jobs/counts")
        .header("authorization", &first.alice)
        .json(&json!({"to": 2}))
        .send()
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let id = r.json::<Value>()["id"].as_str().unwrap().to_owned();
    let db = plugin_routes::database::connect(url).await.unwrap();
    let deleted = sqlx::query(delete).bind(&id).execute(&db).await.unwrap();
    assert_eq!(
        deleted.rows_affected(),
        1,
        "the operation's job, keyed by its id"
    );
    let second = server(
        url,
        Jobs::default(),
        OperationSettings::default().with_retention(Duration::from_secs(2)),
    )
    .await;
    let op = second.until(&location, state_is("succeeded")).await;
    assert_eq!(op["result"], json!({"counted": 2}), "{op}");
    second.running.stop(Duration::from_secs(5)).await;
}

/// An ended operation is deleted once its retention period is past, and apalis's row of its job
/// with it (apalis keeps done jobs until they are deleted). A backlog larger than one batch of
/// deletions goes too, with its events, and nothing else.
#[tokio::test]
async fn ended_operations_are_deleted_after_the_retention_period() {
    let (url, dir) = sqlite_file("retention");
    let s = server(
        &url,
        Jobs::default(),
        OperationSettings::default().with_retention(Duration::from_millis(1500)),
    )
    .await;
    // apalis's own row of the operation's job, beside the operation's.
    let db = plugin_routes::database::connect(&url).await.unwrap();
    let jobs = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM Jobs WHERE job_type LIKE 'plugin-operations/%'",
        )
        .fetch_one(&db)
        .await
        .unwrap()
    };
    // 1,200 operations that ended long ago, an event each (a backlog of more than two batches),
    // beside one that ended a minute from now and one still running.
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1202) \
         INSERT INTO plugin_operations (id, namespace, plugin, route, owner, request_id, \
         location, input, state, created_at, finished_at) \
         SELECT 'old-' || i, $1, 'jobs', 'count', 'someone', 'r', '/', '{}', \
         CASE WHEN i = 1202 THEN 'running' ELSE 'succeeded' END, 0, \
         CASE WHEN i = 1201 THEN $2 WHEN i = 1202 THEN NULL ELSE i END FROM n",
    )
    .bind(&url)
    .bind(now + 60_000)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO plugin_operation_events (operation_id, seq, message) \
         SELECT id, 1, 'old' FROM plugin_operations WHERE id LIKE 'old-%'",
    )
    .execute(&db)
    .await
    .unwrap();
    let left = |table: &'static str| {
        let db = db.clone();
        async move {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 1})).await;
    let location = r.header("location").unwrap().to_owned();
    s.until(&location, state_is("succeeded")).await;
    assert_eq!(jobs().await, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get(&location, &s.alice).await.status() == 200
        || jobs().await > 0
        || left("plugin_operations").await > 2
    {
        assert!(Instant::now() < deadline, "still there after its retention");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.get(&location, &s.alice).await.status(), 404);
    let kept: Vec<String> = sqlx::query_scalar("SELECT id FROM plugin_operations ORDER BY id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(kept, ["old-1201", "old-1202"]);
    assert_eq!(left("plugin_operation_events").await, 2);
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Stops `first` at once, as in a crash, waits until the run it held (`dropped`) is dropped,
/// and starts a server on `url` again, counting its `hold` runs on from `holds`.
async fn crash_and_restart(
    first: Server,
    url: &str,
    holds: Arc<AtomicU32>,
    dropped: &AtomicBool,
) -> Server {
    first.running.stop(Duration::ZERO).await;
    drop(first.client);
    // Past its grace (none here), a stopping server drops the runs it drove.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dropped.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the held run was not dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = Jobs {
        holds,
        ..Jobs::default()
    };
    server(url, again, OperationSettings::default()).await
}

/// The server stops mid-operation (its workers gone at once, as in a crash); started again on
/// the same SQLite file, it runs again what its route declares safe to run again, fails what it
/// does not, and the client reads both outcomes.
#[tokio::test]
async fn after_a_restart_on_sqlite_operations_complete_or_fail_as_declared() {
    let (url, dir) = sqlite_file("restart");
    let jobs = Jobs::default();
    let holds = Arc::clone(&jobs.holds);
    let dropped = Arc::clone(&jobs.dropped);
    let first = server(&url, jobs, OperationSettings::default()).await;
    let rerun = first
        .start("/v1/plugins/jobs/queues/main/holds", json!(null))
        .await
        .header("location")
        .unwrap()
        .to_owned();
    let once = first
        .start("/v1/plugins/jobs/once", json!(null))
        .await
        .header("location")
        .unwrap()
        .to_owned();
    first.until(&rerun, state_is("running")).await;
    first.until(&once, state_is("running")).await;
    let second = crash_and_restart(first, &url, holds, &dropped).await;
    // The new server's keys are alice's too: the operation is hers.
    let op = second.until(&rerun, state_is("succeeded")).await;
    assert_eq!(
        op["result"],
        json!({"run": 2}),
        "run again from the start here"
    );
    let op = second.until(&once, state_is("failed")).await;
    assert_eq!(op["status"], 503);
    assert_eq!(op["error"]["code"], "UNAVAILABLE");
    second.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The queue refusing the job of an operation just stored: the request is still answered
/// `202` (the operation is stored, so it is accepted), and once the queue takes jobs again a
/// server serving the route queues it and runs it. Here PostgreSQL refuses this test's jobs by a
/// trigger on apalis's table, for as long as the test keeps it.
#[tokio::test]
async fn an_operation_whose_job_the_queue_refused_is_accepted_and_run_later() {
    let Some((pg, url)) = on_postgres("push_refused").await else {
        return;
    };
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let schema = &pg.schema;
    // In the test's schema, so that removing it removes the trigger too. Queues are named
    // after the namespace, here the URL, which holds the schema's name.
    pg.admin(&format!(
        "CREATE FUNCTION {schema}.refuse_job() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'the queue refuses this job'; END $$; \
         CREATE TRIGGER {schema}_refuse BEFORE INSERT ON apalis.jobs FOR EACH ROW \
         WHEN (NEW.job_type LIKE '%{schema}%') EXECUTE FUNCTION {schema}.refuse_job()"
    ))
    .await;
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 2})).await;
    pg.admin(&format!("DROP TRIGGER {schema}_refuse ON apalis.jobs"))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    // Queued again after three heartbeats (1 s here), then run.
    let op = s.until(&location, state_is("succeeded")).await;
    assert_eq!(op["result"], json!({"counted": 2}), "{op}");
    s.running.stop(Duration::from_secs(5)).await;
    pg.remove().await;
}

/// The queue hands a job again to the server running it (as when its worker registers again
/// after its database came back). That job is held until the run's end is written: when the
/// server stops first, its job is still the queue's, and the next server runs it again. Were it
/// acknowledged at once, nothing would be left to hand on, and the operation would stay
/// `running` for ever.
#[tokio::test]
async fn a_job_handed_again_while_it_runs_is_kept_until_its_run_ends() {
    let (url, dir) = sqlite_file("handed-again");
    let jobs = Jobs::default();
    let holds = Arc::clone(&jobs.holds);
    let dropped = Arc::clone(&jobs.dropped);
    let first = server(&url, jobs, OperationSettings::default()).await;
    let r = first
        .start("/v1/plugins/jobs/queues/main/holds", json!(null))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let id = r.json::<Value>()["id"].as_str().unwrap().to_owned();
    first.until(&location, state_is("running")).await;
    // The job given back to the queue, as apalis does with a worker's jobs when it registers
    // again; this server's worker takes it at its next poll.
    let db = plugin_routes::database::connect(&url).await.unwrap();
    let given_back = sqlx::query(
        "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
         WHERE idempotency_key = $1",
    )
    .bind(&id)
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(given_back.rows_affected(), 1);
    let status = || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM Jobs WHERE idempotency_key = $1")
            .bind(&id)
            .fetch_one(&db)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while status().await == "Pending" {
        assert!(Instant::now() < deadline, "the job was not taken again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time for an acknowledgement, were the job handed again acknowledged at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_ne!(status().await, "Done", "held while the run goes on");
    let second = crash_and_restart(first, &url, holds, &dropped).await;
    let op = second.until(&location, state_is("succeeded")).await;
    assert_eq!(op["result"], json!({"run": 2}), "run again here: {op}");
    second.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A server takes from the queue only the jobs it has a place to run: with its one place taken,
/// a second operation stays in the queue, for the next server that comes up to run at once,
/// rather than held by the busy one.
#[tokio::test]
async fn a_server_takes_from_the_queue_only_what_it_has_places_for() {
    let Some((pg, url)) = on_postgres("operations_places").await else {
        return;
    };
    let one = || OperationSettings::default().with_max_running(1);
    let a = server_with(&url, Jobs::default(), one(), ServerConfig::default()).await;
    let r = a.start("/v1/plugins/jobs/once", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let first = r.header("location").unwrap().to_owned();
    a.until(&first, state_is("running")).await;
    let r = a.start("/v1/plugins/jobs/once", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let second = r.header("location").unwrap().to_owned();
    let id = r.json::<Value>()["id"].as_str().unwrap().to_owned();
    // Time for the busy server to look at the queue, woken by the start and on its own polls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        a.get(&second, &a.alice).await.json::<Value>()["state"],
        "queued"
    );
    // Its job is still the queue's, taken by no server.
    let db = plugin_routes::database::connect(&url).await.unwrap();
    let (status, taker): (String, Option<String>) =
        sqlx::query_as("SELECT status, lock_by FROM apalis.jobs WHERE idempotency_key = $1")
            .bind(&id)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), taker), ("Pending", None));
    db.close().await;
    let b = server_with(&url, Jobs::default(), one(), ServerConfig::default()).await;
    b.until(&second, state_is("running")).await;
    a.running.stop(Duration::ZERO).await;
    b.running.stop(Duration::ZERO).await;
    pg.remove().await;
}

/// Two servers on one PostgreSQL database: one accepts, the other answers its status and takes
/// its cancel; whichever runs it, the outcome is the same row.
#[tokio::test]
async fn on_postgres_any_server_answers_and_cancels_an_operation() {
    let Some((pg, url)) = on_postgres("operations").await else {
        return;
    };
    let a = server(&url, Jobs::default(), OperationSettings::default()).await;
    let b = server(&url, Jobs::default(), OperationSettings::default()).await;
    let r = a.start("/v1/plugins/jobs/counts", json!({"to": 3})).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    // Keys differ per server, the owner does not: alice reads it on b.
    let op = b.until(&location, state_is("succeeded")).await;
    assert_eq!(op["result"], json!({"counted": 3}));

    let r = a.start("/v1/plugins/jobs/once", json!(null)).await;
    let location = r.header("location").unwrap().to_owned();
    b.until(&location, state_is("running")).await;
    let r = b.cancel(&location, &b.alice).await;
    assert_eq!(r.status(), 202);
    let op = a.until(&location, state_is("cancelled")).await;
    assert_eq!(op["error"]["code"], "CANCELLED");
    a.running.stop(Duration::from_secs(5)).await;
    b.running.stop(Duration::from_secs(5)).await;
    pg.remove().await;
}

/// What another server does when it takes an operation for a run of its own (its first
/// server taken for dead): the row's `attempts` move on.
async fn taken_by_another_server(url: &str, id: &str) {
    let db = plugin_routes::database::connect(url).await.unwrap();
    let taken = sqlx::query("UPDATE plugin_operations SET attempts = attempts + 1 WHERE id = $1")
        .bind(id)
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(taken.rows_affected(), 1);
}

/// A run whose operation another server has taken (this one was taken for dead, its database
/// out of reach for longer than its heartbeats) is stopped within the cancel poll, as a
/// cancelled one is, and writes nothing more: the operation is the other run's.
#[tokio::test]
async fn a_run_another_server_has_taken_is_stopped_and_writes_nothing() {
    let (url, dir) = sqlite_file("taken");
    let jobs = Jobs::default();
    let dropped = Arc::clone(&jobs.dropped);
    let s = server(&url, jobs, OperationSettings::default()).await;
    let r = s
        .start("/v1/plugins/jobs/queues/q/holds", json!(null))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let id = r.json::<Value>()["id"].as_str().unwrap().to_owned();
    s.until(&location, |op| op["progress"]["message"] == "holding in q")
        .await;
    taken_by_another_server(&url, &id).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dropped.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the run goes on");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Server {
        client,
        running,
        alice,
        ..
    } = s;
    running.stop(Duration::from_secs(5)).await;
    let r = client.get(&location).header("authorization", &alice).send();
    let op: Value = r.await.json();
    assert_eq!(op["state"], "running", "left to the run that took it: {op}");
    assert_eq!(op["result"], Value::Null, "{op}");
    assert_eq!(op["error"], Value::Null, "not ended as cancelled: {op}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A run that ends before it sees that another server has taken its operation (its cancel
/// poll an hour here) writes neither its last progress nor its end.
#[tokio::test]
async fn a_run_ending_after_another_server_took_it_writes_nothing() {
    let (url, dir) = sqlite_file("taken-end");
    let jobs = Jobs::default();
    let gate = Arc::clone(&jobs.gate);
    let settings = fast(OperationSettings::default()).with_cancel_poll(Duration::from_secs(3600));
    let db = Database::connect(&url).await.unwrap();
    let s = server_on(db, jobs, settings, ServerConfig::default()).await;
    let r = s.start("/v1/plugins/jobs/gated", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let id = r.json::<Value>()["id"].as_str().unwrap().to_owned();
    s.until(&location, |op| {
        op["progress"]["message"] == "waiting at the gate"
    })
    .await;
    taken_by_another_server(&url, &id).await;
    gate.notify_one();
    // Stopping waits for the run, its progress and its end written (or refused).
    let Server {
        client,
        running,
        alice,
        ..
    } = s;
    running.stop(Duration::from_secs(10)).await;
    let r = client.get(&location).header("authorization", &alice).send();
    let op: Value = r.await.json();
    assert_eq!(op["state"], "running", "{op}");
    assert_eq!(op["progress"]["message"], "waiting at the gate", "{op}");
    assert_eq!(op["result"], Value::Null, "{op}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A server stopped and dropped gives its database connections back: nothing it made (its
/// routes' runners, its workers, its queue) keeps its pools alive. Its connections are told
/// from every other test's by their `application_name`.
#[tokio::test]
async fn a_server_stopped_and_dropped_closes_its_database_connections() {
    let Some(pg) = PgSchema::fresh("operations_dropped").await else {
        eprintln!("skipped: PLUGIN_TEST_POSTGRES_URL is not set");
        return;
    };
    let name = format!("plugin_dropped_{}", std::process::id());
    let url = format!(
        "{}&application_name={name}",
        pg.url_with_public_extension("hstore").await
    );
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let r = s.start("/v1/plugins/jobs/counts", json!({"to": 2})).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    s.until(&location, state_is("succeeded")).await;
    let open = || async {
        let admin = plugin_routes::database::connect_with(&pg.url, 1)
            .await
            .unwrap();
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(&name)
                .fetch_one(&admin)
                .await
                .unwrap();
        n
    };
    assert!(
        open().await > 0,
        "the server's connections are told by their name"
    );
    // Everything but its workers dropped here, then they stop.
    let Server {
        client,
        app,
        running,
        ..
    } = s;
    drop((client, app));
    running.stop(Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = open().await;
        if n == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{n} connections still open");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pg.remove().await;
}

/// An operation's event streams count against the server's cap on event streams per caller,
/// as every other stream does: one past it is refused with `429`, and a stream that ends gives
/// its place back.
#[tokio::test]
async fn operation_event_streams_count_against_the_callers_stream_cap() {
    let (url, dir) = sqlite_file("stream-cap");
    let config = ServerConfig::default().with_max_streams_per_caller(2);
    let s = server_with(&url, Jobs::default(), OperationSettings::default(), config).await;
    let r = s.start("/v1/plugins/jobs/once", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    s.until(&location, state_is("running")).await;
    let open = || s.events(&location);
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    let third = open().await.unwrap();
    assert_eq!(third.status(), 429);
    let body = axum::body::to_bytes(third.into_body(), 1 << 16)
        .await
        .unwrap();
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "RATE_LIMITED", "{error}");
    assert_eq!(error["error"]["details"]["policy"], "streams", "{error}");
    drop(first);
    let again = open().await.unwrap();
    assert_eq!(
        again.status(),
        200,
        "the place of a stream that ended is free"
    );
    drop((second, again));
    s.running.stop(Duration::ZERO).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An operation's resources are served like routes of their own: each counted by its template
/// and method from the start, a refusal by the stream cap counted under its policy, an open
/// event stream in the gauge of open streams, and a 401 naming how to authenticate.
#[tokio::test]
async fn an_operations_resources_are_counted_like_routes() {
    use crate::metrics::sample;

    let (url, dir) = sqlite_file("resource-metrics");
    let config = ServerConfig::default().with_max_streams_per_caller(1);
    let s = server_with(&url, Jobs::default(), OperationSettings::default(), config).await;
    let scrape = || async {
        let r = s.client.get("/metrics").send().await;
        assert_eq!(r.status(), 200, "{}", r.text());
        r.text()
    };
    let base = r#"plugin="jobs",route="/v1/plugins/jobs/once/operations/{operationId}"#;
    let status = format!(r#"{base}",method="GET""#);
    let events = format!(r#"{base}/events",method="GET""#);
    let cancel = format!(r#"{base}/cancel",method="POST""#);
    let before = scrape().await;
    for series in [&status, &events, &cancel] {
        assert_eq!(
            sample(
                &before,
                &format!("http_server_request_duration_seconds_count{{{series}}}")
            ),
            0.0,
            "{series} listed before any request"
        );
    }
    let refusals = format!(r#"plugin_rate_limit_refusals_total{{{events},policy="streams"}}"#);
    assert_eq!(sample(&before, &refusals), 0.0);

    let r = s.start("/v1/plugins/jobs/once", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    s.until(&location, state_is("running")).await;

    // One read by its owner, one by a caller it is not theirs to read, one with no credentials.
    let read = |text: &str, answered: u16| {
        sample(
            text,
            &format!(r#"http_server_requests_total{{{status},status="{answered}"}}"#),
        )
    };
    // Reads so far (the polls above) were all 200s: no 404 or 401 is counted yet.
    let ok = read(&scrape().await, 200);
    assert_eq!(s.get(&location, &s.alice).await.status(), 200);
    assert_eq!(s.get(&location, &s.bob).await.status(), 404);
    let anonymous = s.client.get(&location).send().await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.header("www-authenticate").is_some(),
        "a 401 names how to authenticate"
    );
    let after = scrape().await;
    assert_eq!(read(&after, 200), ok + 1.0);
    assert_eq!(read(&after, 404), 1.0);
    assert_eq!(read(&after, 401), 1.0);

    // A stream is open while its body lives; a second, past the cap of one, is refused.
    let open = || s.events(&location);
    let first = open().await.unwrap();
    assert_eq!(first.status(), 200);
    let streaming = scrape().await;
    assert_eq!(sample(&streaming, "http_server_open_event_streams"), 1.0);
    assert_eq!(open().await.unwrap().status(), 429);
    let refused = scrape().await;
    assert_eq!(sample(&refused, &refusals), 1.0);
    assert_eq!(
        sample(
            &refused,
            &format!(r#"http_server_requests_total{{{events},status="429"}}"#)
        ),
        1.0
    );
    drop(first);
    assert_eq!(
        sample(&scrape().await, "http_server_open_event_streams"),
        0.0
    );

    let r = s.cancel(&location, &s.alice).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    assert_eq!(
        sample(
            &scrape().await,
            &format!(r#"http_server_requests_total{{{cancel},status="202"}}"#)
        ),
        1.0
    );
    s.running.stop(Duration::ZERO).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An event stream outlives its server losing the database for a while: it stays open while
/// the operation cannot be read, with a comment every 15 s of quiet as at any time, and goes on
/// to the end once the database is back. Two servers share PostgreSQL: one runs the operation,
/// the other streams it through a proxy the test cuts for longer than the comments' interval.
#[tokio::test]
async fn an_event_stream_rides_out_its_server_losing_the_database() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let Some((pg, url)) = on_postgres("operations_cut").await else {
        return;
    };
    let mut cut = CutPostgres::start(&url).await;
    let runner = server(&url, Jobs::default(), OperationSettings::default()).await;
    let streamer = server(&cut.url, Jobs::default(), OperationSettings::default()).await;
    // The streaming server runs nothing itself.
    streamer.running.stop(Duration::from_secs(5)).await;
    let r = runner.start("/v1/plugins/jobs/once", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    runner.until(&location, state_is("running")).await;
    // The stream's head: the operation has been read, the stream is under way.
    let request = axum::http::Request::get(format!("{location}/events"))
        .header("authorization", &streamer.alice)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = streamer.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let frames = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                frames.push((Instant::now(), String::from_utf8(data.to_vec()).unwrap()));
            }
        }
        frames
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    cut.cut().await;
    let gone = Instant::now();
    tokio::time::sleep(Duration::from_secs(17)).await;
    assert!(
        !frames.is_finished(),
        "the stream ended while the database was gone"
    );
    cut.restore().await;
    let back = Instant::now();
    let r = runner.cancel(&location, &runner.alice).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let frames = tokio::time::timeout(Duration::from_secs(30), frames)
        .await
        .expect("the stream ended once the operation did")
        .unwrap();
    let meanwhile: Vec<&str> = frames
        .iter()
        .filter(|(at, _)| (gone..back).contains(at))
        .map(|(_, f)| f.as_str())
        .collect();
    assert!(
        meanwhile.contains(&": keep-alive\n\n"),
        "no comment while the database was gone: {frames:?}"
    );
    let text: String = frames.iter().map(|(_, f)| f.as_str()).collect();
    let events: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name, serde_json::from_str(data).unwrap()))
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["progress", "cancelled"], "{text}");
    assert_eq!(events[0].1["message"], "holding");
    runner.running.stop(Duration::from_secs(5)).await;
    pg.remove().await;
}

/// A run that ends while its server has lost the database keeps its result and the progress it
/// reported meanwhile. Its end is written once the database is back; meanwhile the queue hands the job back to the server (its
/// worker, stale after two missed heartbeats, registers again), and that neither fails it as a
/// run its server stopped nor runs it again. Each route's worker, started again several times
/// meanwhile, says so once when it first fails and once when it runs again.
#[tokio::test]
async fn a_run_ending_while_the_database_is_gone_keeps_its_result() {
    let Some((pg, url)) = on_postgres("operations_end_cut").await else {
        return;
    };
    // What the log says, read as an operator would (this test's thread only).
    let logs = Captured::default();
    let _logging = logs.install();
    let mut cut = CutPostgres::start(&url).await;
    let jobs = Jobs::default();
    let gate = Arc::clone(&jobs.gate);
    let s = server(&cut.url, jobs, OperationSettings::default()).await;
    let r = s.start("/v1/plugins/jobs/gated", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    s.until(&location, state_is("running")).await;
    cut.cut().await;
    gate.notify_one();
    // Four heartbeats (1 s each here) without the database.
    tokio::time::sleep(Duration::from_secs(4)).await;
    cut.restore().await;
    let op = s.until(&location, |op| op["state"] != "running").await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["result"], json!({"run": 1}), "{op}");
    // The progress it reported while the database was gone was recorded once it was back.
    assert_eq!(op["progress"]["message"], "through the gate", "{op}");
    // Each worker says it runs again at its first heartbeat (every second here).
    let lines = |what: &str| -> Vec<String> {
        let mut routes: Vec<String> = logs
            .text()
            .lines()
            .filter(|l| l.contains(what))
            .filter_map(|l| l.split("route=").nth(1)?.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        routes.sort();
        routes
    };
    let stopped = lines("the operations worker stopped");
    let mut once = stopped.clone();
    once.dedup();
    let waited = Instant::now();
    while lines("the operations worker runs again") != once
        && waited.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.running.stop(Duration::from_secs(5)).await;
    let said = logs.text();
    assert!(!stopped.is_empty(), "{said}");
    assert_eq!(stopped, once, "each route's first failure only: {said}");
    assert_eq!(lines("the operations worker runs again"), once, "{said}");
    assert!(said.contains("failed_for_ms="), "{said}");
    pg.remove().await;
}

/// A database that vanishes without a word while the operations' statements are in flight (the
/// connections open go silent and stay open; new ones reach the server in its place): those
/// statements are given up within their bound and their connections let go, so a running
/// operation still sees its cancel; the route's worker, stuck on a call of apalis's on a silent
/// connection, is started again once it has gone too long without a heartbeat, and takes new
/// operations. A request meeting a silent connection meanwhile is answered `503`.
#[tokio::test]
async fn operations_go_on_after_the_database_vanished_mid_statement() {
    use sqlx::Connection;

    let Some((pg, url)) = on_postgres("operations_vanished").await else {
        return;
    };
    let application = format!("plugin_ops_vanished_{}", std::process::id());
    let mut db = CutPostgres::start(&format!("{url}&application_name={application}")).await;
    let s = server(&db.url, Jobs::default(), OperationSettings::default()).await;
    let r = s.start("/v1/plugins/jobs/once", json!(null)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    s.until(&location, state_is("running")).await;

    // The statements on the operations' table (the run's look for a cancel, every 50 ms here,
    // among them) wait behind a lock when the database goes silent; it answers them once the
    // lock is let go, and the answers never arrive.
    let mut lock = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE plugin_operations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    awaiting(|| async {
        (pg.queries_waiting_for_locks(&application).await == 0)
            .then(|| "no statement of the server waits for the lock".to_owned())
    })
    .await;
    db.freeze();
    sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();

    let r = past_503(|| s.cancel(&location, &s.alice)).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let op = s
        .until_answered(&location, |op| op["state"] != "running")
        .await;
    assert_eq!(op["state"], "cancelled", "{op}");

    let r = past_503(|| s.start("/v1/plugins/jobs/counts", json!({"to": 2}))).await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let op = s
        .until_answered(&location, |op| {
            op["state"] != "queued" && op["state"] != "running"
        })
        .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["result"], json!({"counted": 2}), "{op}");

    s.running.stop(Duration::from_secs(5)).await;
    // The sessions the database still holds for the silent connections end with them.
    db.cut().await;
    pg.remove().await;
}

/// A server whose taking of an operation the database carried out but never answered (it went
/// silent while the statement waited for a row lock) knows the run for its own when it reads the
/// operation again: it runs it, instead of failing it as a run its server stopped (the route is
/// not declared `rerun`).
#[tokio::test]
async fn a_taking_whose_answer_was_lost_runs_the_operation() {
    use sqlx::Connection;

    let Some((pg, url)) = on_postgres("operations_taking_lost").await else {
        return;
    };
    let accepting = server(&url, Jobs::default(), OperationSettings::default()).await;
    // It takes none of them itself.
    accepting.running.stop(Duration::from_secs(5)).await;
    let r = accepting
        .client
        .post("/v1/plugins/jobs/counts")
        .header("authorization", &accepting.alice)
        .json(&json!({"to": 1}))
        .send()
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().to_owned();

    let mut lock = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("SELECT 1 FROM plugin_operations WHERE id = $1 FOR UPDATE")
        .bind(&id)
        .execute(&mut lock)
        .await
        .unwrap();
    let application = format!("plugin_ops_taking_{}", std::process::id());
    let db = CutPostgres::start(&format!("{url}&application_name={application}")).await;
    // The runner's operations go through the proxy; its queue (apalis's, on a pool of its own
    // on the database's URL, the accepting server's namespace) does not.
    let through_proxy = Database {
        pool: plugin_routes::database::connect(&db.url).await.unwrap(),
        url: url.clone(),
    };
    let runner = server_on(
        through_proxy,
        Jobs::default(),
        fast(OperationSettings::default()),
        ServerConfig::default(),
    )
    .await;
    // Its reader's key known to it (a credential's lookup on a silent connection would be
    // answered 503 after the statement's bound, and the cancel below would not be sent).
    let r = runner.get(&location, &runner.alice).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    awaiting(|| async {
        (pg.queries_waiting_for_locks(&application).await == 0)
            .then(|| "the runner does not wait to take the operation".to_owned())
    })
    .await;
    db.freeze();
    sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();

    let op = runner
        .until_answered(&location, |op| {
            op["state"] != "queued" && op["state"] != "running"
        })
        .await;
    assert_eq!(op["state"], "succeeded", "{op}");
    assert_eq!(op["result"], json!({"counted": 1}), "{op}");

    runner.running.stop(Duration::from_secs(5)).await;
    drop(db);
    pg.remove().await;
}

/// The cap on a caller's operations holds for requests at once on PostgreSQL too, whose
/// transactions (read committed) do not see each other's rows until they commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_holds_for_requests_at_once_on_postgres() {
    let Some((pg, url)) = on_postgres("operations_cap").await else {
        return;
    };
    // A pool of four: requests at once wait for its connections, not for PostgreSQL's, which
    // the other tests share.
    let db = Database::connect_with(&url, 4).await.unwrap();
    let settings = OperationSettings::default().with_max_active_per_caller(3);
    let s = server_on(db, Jobs::default(), fast(settings), ServerConfig::default()).await;
    let asks = (0..12).map(|_| {
        let (client, alice) = (s.client.clone(), s.alice.clone());
        async move {
            client
                .post("/v1/plugins/jobs/once")
                .header("authorization", &alice)
                .send()
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(asks).await;
    statuses.sort_unstable();
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    assert_eq!(accepted, 3, "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    // The three accepted wait for ever: stopped without a grace.
    s.running.stop(Duration::from_millis(100)).await;
    pg.remove().await;
}

/// The documents say what the routes do: `202` with `Location` and the operation (its result
/// the route's output, its error the route's codes), and the operation's own paths.
#[tokio::test]
async fn the_documents_describe_the_operation_and_its_paths() {
    let (url, dir) = sqlite_file("documents");
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let doc: Value = s.client.get("/openapi.json").send().await.json();
    let start = &doc["paths"]["/v1/plugins/jobs/counts"]["post"];
    let accepted = &start["responses"]["202"];
    assert!(accepted["headers"]["location"].is_object(), "{accepted}");
    let operation = &accepted["content"]["application/json"]["schema"];
    assert_eq!(
        operation["properties"]["result"]["$ref"],
        "#/components/schemas/Counted"
    );
    let codes = operation["properties"]["error"]["allOf"][1]["properties"]["code"]["enum"].clone();
    for code in ["TOO_FAR", "TIMEOUT", "CANCELLED", "UNAVAILABLE", "INTERNAL"] {
        assert!(
            codes.as_array().unwrap().contains(&json!(code)),
            "{code} in {codes}"
        );
    }
    let statuses: Vec<&String> = start["responses"].as_object().unwrap().keys().collect();
    assert!(
        !statuses.contains(&&"201".to_owned()),
        "the result is the operation's: {statuses:?}"
    );
    assert!(
        !statuses.contains(&&"422".to_owned()),
        "so are the declared errors: {statuses:?}"
    );
    assert_eq!(start["x-operation"], json!({"rerun": false}));

    let base = "/v1/plugins/jobs/queues/{queue}/holds/operations/{operationId}";
    let read = &doc["paths"][base]["get"];
    assert_eq!(
        read["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["result"]["$ref"],
        "#/components/schemas/Held"
    );
    assert!(read["responses"]["404"].is_object());
    let names: Vec<&str> = read["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["queue", "operationId"]);
    assert_eq!(
        read["security"],
        json!([{"user": ["jobs:run"]}, {"token": ["jobs:run"]}])
    );
    assert!(doc["paths"][format!("{base}/events")]["get"]["responses"]["200"]["content"]["text/event-stream"].is_object());
    assert!(doc["paths"][format!("{base}/cancel")]["post"]["responses"]["202"].is_object());
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_manifest_lists_operation_routes() {
    let manifest = plugin_routes::manifest(&ServerConfig::default(), &[JobsPlugin::META]);
    let routes = manifest["plugins"][0]["routes"].as_array().unwrap();
    let hold = routes.iter().find(|r| r["handler"] == "hold").unwrap();
    assert_eq!(
        hold["operation"],
        json!({"rerun": true, "location": "/v1/plugins/jobs/queues/{queue}/holds/operations/{operationId}"})
    );
    let count = routes.iter().find(|r| r["handler"] == "count").unwrap();
    assert_eq!(count["operation"]["rerun"], false);
    assert_eq!(count["errors"][0]["code"], "TOO_FAR");
}

/// The typed client: the method starts the operation; what it answers waits for the result
/// (with each progress report), reads it, cancels it, and is found again from its `Location`.
#[tokio::test]
async fn the_typed_client_starts_waits_cancels_and_resumes() {
    use jobs_client::{CountError, OnceError};
    use plugin_routes::client::{Client, Pending};
    let (url, dir) = sqlite_file("client");
    let s = server(&url, Jobs::default(), OperationSettings::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = s.app.clone();
    tokio::spawn(async move { plugin_routes::serve(listener, app).await });
    let raw = Client::new(&base)
        .unwrap()
        .bearer(s.alice.strip_prefix("Bearer ").unwrap());
    let jobs = JobsClient::from_client(raw.clone());

    let pending = jobs
        .count(Count {
            to: 3,
            fail_at: None,
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    let counted = pending
        .clone()
        .wait_with(|p| seen.push(p.message.clone()))
        .await
        .unwrap();
    assert_eq!(counted.counted, 3);
    assert_eq!(seen, ["counted 1", "counted 2", "counted 3"]);
    let again = Pending::<Counted, CountError>::resume(&raw, pending.location());
    let op = again.status().await.unwrap();
    assert_eq!(op.state, plugin_routes::client::OperationState::Succeeded);
    assert_eq!(op.result.unwrap().counted, 3);
    assert_eq!(op.status, Some(201));

    let failing = jobs
        .count(Count {
            to: 5,
            fail_at: Some(2),
        })
        .await
        .unwrap();
    match failing.wait().await {
        Err(CountError::TooFar(e)) => assert_eq!(e.message, "2 is too far"),
        other => panic!("{other:?}"),
    }
    match jobs
        .count(Count {
            to: 0,
            fail_at: None,
        })
        .await
    {
        Err(CountError::InvalidInput(_)) => {}
        other => panic!("{other:?}"),
    }

    let held = jobs.once().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while held.status().await.unwrap().state != plugin_routes::client::OperationState::Running {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held.cancel().await.unwrap().cancel_requested);
    match held.wait().await {
        Err(OnceError::Cancelled(e)) => assert_eq!(e.code, "CANCELLED"),
        other => panic!("{other:?}"),
    }
    s.running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An operation cancelled while still queued (no server takes work here) ends at once, with
/// the same error as one stopped while running.
#[tokio::test]
async fn a_queued_operation_cancelled_ends_with_the_cancelled_error() {
    use jobs_client::CountError;
    use plugin_routes::client::{Client, Pending};
    let (url, dir) = sqlite_file("queued-cancel");
    let Server {
        client,
        app,
        running,
        alice,
        bob,
    } = server(&url, Jobs::default(), OperationSettings::default()).await;
    running.stop(Duration::ZERO).await;
    let r = client
        .post("/v1/plugins/jobs/counts")
        .header("authorization", &alice)
        .json(&json!({"to": 2}))
        .send()
        .await;
    assert_eq!(r.status(), 202);
    let location = r.header("location").unwrap().to_owned();
    let r = client
        .post(&format!("{location}/cancel"))
        .header("authorization", &bob)
        .send()
        .await;
    assert_eq!(r.status(), 404, "not bob's to cancel");
    let r = client
        .post(&format!("{location}/cancel"))
        .header("authorization", &alice)
        .send()
        .await;
    assert_eq!(r.status(), 202);
    let op: Value = r.json();
    assert_eq!(op["state"], "cancelled");
    assert_eq!(op["status"], 499);
    assert_eq!(op["error"]["code"], "CANCELLED");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { plugin_routes::serve(listener, app).await });
    let raw = Client::new(&base)
        .unwrap()
        .bearer(alice.strip_prefix("Bearer ").unwrap());
    match Pending::<Counted, CountError>::resume(&raw, &location)
        .wait()
        .await
    {
        Err(CountError::Cancelled(e)) => assert_eq!(e.message, "the operation was cancelled"),
        other => panic!("{other:?}"),
    }
    // Another id: the last digit changed (to one it is not).
    let (kept, last) = location.split_at(location.len() - 1);
    let gone = format!("{kept}{}", if last == "0" { '1' } else { '0' });
    match Pending::<Counted, CountError>::resume(&raw, gone)
        .status()
        .await
    {
        Err(CountError::NotFound(_)) => {}
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The AI plugin's `POST /generations`: the provider's answer as the operation's result, the
/// model asked as its progress.
#[tokio::test]
async fn the_ai_plugin_generates_as_an_operation() {
    let (url, dir) = sqlite_file("ai");
    let db = Database::connect(&url).await.unwrap();
    let operations = Operations::open(&db, fast(OperationSettings::default()))
        .await
        .unwrap();
    let config = ServerConfig::default().with_operations(&operations);
    let ai = crate::ai::ai_served(&url, "ai:*", 10.0, config).await;
    let running = operations.start();
    let r = ai
        .client
        .post("/v1/plugins/ai/generations")
        .json(&json!({"prompt": "hello world", "maxTokens": 50}))
        .send()
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    let events = ai
        .client
        .get(&format!("{location}/events"))
        .send()
        .await
        .events();
    let (last, op) = events.last().unwrap();
    assert_eq!(last, "succeeded", "{events:?}");
    assert_eq!(events[0].1["message"], "asking the default model");
    let sync = crate::ai::generate(
        &ai.client,
        json!({"prompt": "hello world", "maxTokens": 50}),
    )
    .await;
    let sync: Value = sync.json();
    assert_eq!(op["result"]["text"], sync["text"]);
    assert_eq!(op["result"]["usage"], sync["usage"]);
    assert_eq!(op["status"], 200);
    running.stop(Duration::from_secs(5)).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Two `example-server` processes on one PostgreSQL database, the AI plugin's
/// `POST /generations` held by the provider's double: one server accepts, the other answers the
/// operation's status and takes its cancel; a server killed while running one leaves it to a
/// server started after, which fails it (a generation is not run twice: it would be charged
/// twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_servers_on_postgres_share_cancel_and_outlive_each_other() {
    use crate::fake_llm::Upstream;
    use crate::server::{Server as Process, server_binary, user_with_key};
    let Some((pg, url)) = on_postgres("ops_servers").await else {
        return;
    };
    let binary = server_binary();
    let upstream = Upstream::start().await;
    let (dir, _) = crate::server::fresh_sqlite("ops-servers");
    let file = dir.join("ai.json");
    let config = crate::ai::config_json(&upstream, &crate::ai::closed_port(), 10.0);
    std::fs::write(&file, config).unwrap();
    let key = user_with_key(&binary, &url, "ada@example.com", "ai:*");
    let namespace = format!("ops-servers-{}", std::process::id());
    let env = [
        ("AI_CONFIG", file.to_str().unwrap()),
        ("OPERATIONS_HEARTBEAT_SECS", "1"),
        ("OPERATIONS_NAMESPACE", namespace.as_str()),
    ];
    let start = || {
        let mut p = Process::start_with(&binary, &url, &env);
        p.key = Some(key.clone());
        p
    };
    let location = |head: &str| -> String {
        head.lines()
            .find_map(|l| l.strip_prefix("location: "))
            .expect("a Location")
            .trim()
            .to_owned()
    };
    let state = |p: &Process, location: &str| -> Value {
        let (status, _, body) = p.call("GET", location, None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let until = |p: &Process, location: &str, want: &str| -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let op = state(p, location);
            if op["state"] == want {
                return op;
            }
            assert!(Instant::now() < deadline, "still {op}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let held = json!({"prompt": "hello", "model": "held", "maxTokens": 10});

    let a = start();
    let b = start();
    let (status, head, body) = a.call("POST", "/v1/plugins/ai/generations", Some(&held));
    assert_eq!(status, 202, "{body}");
    let first = location(&head);
    until(&b, &first, "running");
    let (status, _, body) = b.call("POST", &format!("{first}/cancel"), None);
    assert_eq!(status, 202, "{body}");
    let op = until(&a, &first, "cancelled");
    assert_eq!(op["error"]["code"], "CANCELLED");

    // Only `a` is left to take the next one; it dies while running it.
    b.kill();
    let (status, head, body) = a.call("POST", "/v1/plugins/ai/generations", Some(&held));
    assert_eq!(status, 202, "{body}");
    let second = location(&head);
    until(&a, &second, "running");
    a.kill();
    let c = start();
    let op = until(&c, &second, "failed");
    assert_eq!(op["status"], 503);
    assert_eq!(op["error"]["code"], "UNAVAILABLE");
    upstream.release();
    c.kill();
    pg.remove().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A server runs at most its `max_running` at once; the next waits its turn, queued.
#[tokio::test]
async fn a_server_runs_at_most_its_places_at_once() {
    let (url, dir) = sqlite_file("places");
    let s = server(
        &url,
        Jobs::default(),
        OperationSettings::default().with_max_running(1),
    )
    .await;
    let first = s.start("/v1/plugins/jobs/once", json!(null)).await;
    let first = first.header("location").unwrap().to_owned();
    s.until(&first, state_is("running")).await;
    let second = s.start("/v1/plugins/jobs/once", json!(null)).await;
    let second = second.header("location").unwrap().to_owned();
    // Long enough for a free place to have been taken.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        s.get(&second, &s.alice).await.json::<Value>()["state"],
        "queued"
    );
    s.cancel(&first, &s.alice).await;
    s.until(&first, state_is("cancelled")).await;
    s.until(&second, state_is("running")).await;
    s.running.stop(Duration::ZERO).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The clean-up of done jobs finds those past the retention through an index of its own, made
/// when the queue is opened (`plugin_routes_jobs_done`), on SQLite and on PostgreSQL: apalis's
/// indexes had it read every job of the queue done within the retention, once a minute for each
/// operation route of each server. The plan asked for is the clean-up's own statement with its
/// parameters' types (on PostgreSQL prepared, with sequential scans priced out, so it names the
/// index only if the index can serve it); a PostgreSQL database of the test's own makes sure
/// this server's queue made it.
#[tokio::test]
async fn done_jobs_past_the_retention_are_found_through_an_index() {
    use plugin_routes::database::Backend;
    use plugin_routes::operations::done_jobs_statement;
    use sqlx::Connection;

    let (dir, url) = crate::server::fresh_sqlite("ops-done-index");
    let db = Database::connect(&url).await.unwrap();
    let operations = Operations::open(&db, OperationSettings::default().with_namespace(&url))
        .await
        .unwrap();
    let plan: Vec<String> = {
        use sqlx::Row;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN {}",
            done_jobs_statement(Backend::Sqlite)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind("q")
            .bind(5_i64)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<String, _>("detail")).collect()
    };
    assert!(
        plan.iter()
            .any(|step| step.contains("USING INDEX plugin_routes_jobs_done")),
        "SQLite: {plan:?}"
    );
    drop(operations);
    db.pool.close().await;
    let _ = std::fs::remove_dir_all(dir);

    let Some(mut scratch) = ScratchDatabase::make("plugin_ops_done_index").await else {
        return;
    };
    let db = Database::connect(&scratch.url).await.unwrap();
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS hstore")
        .execute(&db.pool)
        .await
        .unwrap();
    let settings = OperationSettings::default().with_namespace(&scratch.url);
    let operations = Operations::open(&db, settings).await.unwrap();
    let plan: Vec<String> = {
        let mut conn = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        let prepare = format!(
            "SET enable_seqscan = off; PREPARE clean_up (text, int8) AS {}",
            done_jobs_statement(Backend::Postgres)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query_scalar("EXPLAIN EXECUTE clean_up ('q', 5000)")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    };
    assert!(
        plan.iter()
            .any(|step| step.contains("plugin_routes_jobs_done")),
        "PostgreSQL: {plan:#?}"
    );
    drop(operations);
    db.pool.close().await;

    // A server whose role may use apalis's tables but does not own them (an owner made them,
    // and the index is not there) cannot make the index: it starts without it.
    let role = format!("plugin_not_owner_{}", std::process::id());
    scratch.admin(&format!("DROP ROLE IF EXISTS {role}")).await;
    scratch.roles.push(role.clone());
    scratch
        .admin(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{role}'; GRANT ALL ON DATABASE {name} TO {role}",
            name = scratch.name
        ))
        .await;
    {
        let mut conn = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        let grants = format!(
            "DROP INDEX apalis.plugin_routes_jobs_done; \
             GRANT USAGE, CREATE ON SCHEMA apalis, public TO {role}; \
             GRANT ALL ON ALL TABLES IN SCHEMA apalis, public TO {role}; \
             GRANT ALL ON ALL SEQUENCES IN SCHEMA apalis, public TO {role}; \
             GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA apalis TO {role}"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(grants))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let as_role = url_as(&scratch.url, &role, &role);
    opens_without_the_index(&as_role, &scratch.url, "a role that does not own the table").await;

    // On a table whose statistics say it holds three million jobs, the owner's server does not
    // hold off writes to build it either: it starts without it.
    let db = Database::connect(&scratch.url).await.unwrap();
    sqlx::raw_sql("UPDATE pg_class SET reltuples = 3000000 WHERE oid = 'apalis.jobs'::regclass")
        .execute(&db.pool)
        .await
        .unwrap();
    db.pool.close().await;
    opens_without_the_index(&scratch.url, &scratch.url, "a table of three million jobs").await;
}

/// Opens the operations queue on `url` (namespace `namespace`), which must succeed, and checks
/// that the index of done jobs is not there: not made for `why`.
async fn opens_without_the_index(url: &str, namespace: &str, why: &str) {
    let db = Database::connect(url).await.unwrap();
    let settings = OperationSettings::default().with_namespace(namespace);
    let opened = Operations::open(&db, settings).await;
    assert!(opened.is_ok(), "{why}: {:?}", opened.err());
    let made: bool =
        sqlx::query_scalar("SELECT to_regclass('apalis.plugin_routes_jobs_done') IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!made, "the index was made for {why}");
    drop(opened);
    db.pool.close().await;
}

/// `url` logging in as `role` with `password`.
fn url_as(url: &str, role: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority_ends = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_ends);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{role}:{password}@{host}{path}")
}

/// A PostgreSQL database of a test's own, dropped with it (panicking or not), for what would
/// touch what every test shares (apalis's schema).
struct ScratchDatabase {
    base: String,
    name: String,
    /// A URL to it.
    url: String,
    /// Roles the test made, dropped after the database.
    roles: Vec<String>,
}

impl ScratchDatabase {
    /// A fresh database `<name>_<pid>`; `None`, said, without PostgreSQL.
    async fn make(name: &str) -> Option<ScratchDatabase> {
        let Ok(base) = std::env::var("PLUGIN_TEST_POSTGRES_URL") else {
            eprintln!("skipped: set PLUGIN_TEST_POSTGRES_URL to run `{name}` on PostgreSQL");
            return None;
        };
        let name = format!("{name}_{}", std::process::id());
        let url = {
            let (path, query) = base.split_once('?').unwrap_or((&base, ""));
            let (server, _) = path.rsplit_once('/').unwrap();
            let sep = if query.is_empty() { "" } else { "?" };
            format!("{server}/{name}{sep}{query}")
        };
        let scratch = ScratchDatabase {
            base,
            name,
            url,
            roles: Vec::new(),
        };
        scratch
            .admin(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                scratch.name
            ))
            .await;
        scratch
            .admin(&format!("CREATE DATABASE {}", scratch.name))
            .await;
        Some(scratch)
    }

    async fn admin(&self, sql: &str) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // One at a time: a database is not dropped inside a transaction, which several
        // statements sent together would be.
        let mut statements = vec![format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )];
        statements.extend(
            self.roles
                .iter()
                .map(|r| format!("DROP ROLE IF EXISTS {r}")),
        );
        let base = self.base.clone();
        // On a thread of its own: this may run inside the test's runtime, which cannot be
        // blocked on.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
                for sql in statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                        .ok()?;
                }
                Some(())
            })
        });
        let _ = dropped.join();
    }
}
