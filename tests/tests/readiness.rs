//! `GET /ready` as a load balancer or Kubernetes' `readinessProbe` reads it: the credential
//! store's database and the Redis that counts rate limits are asked beside each plugin's hook;
//! a database that goes away turns readiness false until it is back; a Redis that the server
//! may do without (requests admitted uncounted) is reported without turning it false. A database
//! that cannot answer gives `503 UNAVAILABLE` with `Retry-After` to the requests that need it,
//! and everything recovers by itself when it is back.

use crate::fixtures::{
    ALICE, ALICE_PASSWORD, Captured, CutPostgres, PgSchema, READ_ONLY_MARKER, assert_unavailable,
    past_503, scopes,
};
use crate::throttling::redis_url;
use items_example::{ItemsPlugin, ItemsState};
use plugin_routes::auth::{Auth, AuthConfig, AuthRoutes};
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use plugin_routes::{LimitStore, WhenUnreachable};
use serde_json::{Value, json};

async fn server_on(pool: sqlx::AnyPool, store: LimitStore) -> TestClient {
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    let config = ServerConfig::default().with_limit_store(store);
    TestClient::new(plugins![config = config; auth = auth.clone(); AuthRoutes::new(auth)])
}

/// The built-in login on the database at `url`, with Alice made and logged in once: the client,
/// and her login's body.
async fn logged_in_on(url: &str) -> (TestClient, Value) {
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    auth.create_user(ALICE, ALICE_PASSWORD, &scopes("items:*"))
        .await
        .unwrap();
    let c = TestClient::new(plugins![auth = auth.clone(); AuthRoutes::new(auth)]);
    let login = json!({"email": ALICE, "password": ALICE_PASSWORD});
    let r = c.post("/v1/auth/login").json(&login).send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    (c, login)
}

/// A port nothing listens on.
pub(crate) fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn the_credential_store_s_database_is_part_of_readiness() {
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let c = server_on(pool, LimitStore::memory()).await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let body: Value = r.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ready");
    assert_eq!(body.get("redis"), None, "no Redis to ask: {body}");
}

/// Asks `request` every 250 ms until it answers 200, for at most 10 s.
async fn until_ok(request: impl AsyncFn() -> plugin_routes::testing::TestResponse) -> bool {
    for _ in 0..40 {
        if request().await.status() == 200 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    false
}

/// PostgreSQL behind a proxy the test cuts and restores: 503 `NOT_READY` naming the database
/// while it is gone, ready again by itself once it is back.
#[tokio::test]
async fn readiness_turns_false_while_the_database_is_cut_and_back_when_it_returns() {
    let Some(pg) = PgSchema::fresh("readiness").await else {
        return;
    };
    let mut db = CutPostgres::start(&pg.url).await;
    let pool = plugin_routes::database::connect(&db.url).await.unwrap();
    let c = server_on(pool, LimitStore::memory()).await;
    // What the log says, read as an operator would (this test's thread only).
    let logs = Captured::default();
    let _logging = logs.install();
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["database"], "ready");

    db.cut().await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());
    // The loss is logged once, with its reason, however often the probe asks.
    assert_eq!(c.get("/ready").send().await.status(), 503);
    let said = logs.text();
    assert_eq!(said.matches("the server is not ready").count(), 1, "{said}");
    assert!(
        said.contains("WARN") && said.contains("database ("),
        "{said}"
    );
    let e = r.error();
    assert_eq!(e["code"], "NOT_READY");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("not ready: database ("),
        "{e}"
    );
    let said = e["details"]["database"].as_str().unwrap();
    assert!(
        said == "the database does not answer" || said == "no answer within 2 s",
        "{said}"
    );
    assert!(
        !said.contains("postgres"),
        "no address or user in the answer"
    );

    // Back: the pool connects again without being told.
    db.restore().await;
    assert!(
        until_ok(async || c.get("/ready").send().await).await,
        "ready again within 10 s of the database's return"
    );
    let said = logs.text();
    assert_eq!(
        said.matches("the server is ready again").count(),
        1,
        "{said}"
    );
    assert!(said.contains("not_ready_for_ms="), "{said}");
    drop(db);
    pg.remove().await;
}

/// The items plugin and the credential store on PostgreSQL, cut behind a proxy: every request
/// that needs the database gets `503 UNAVAILABLE` with `Retry-After` (not 500) within the
/// connection wait, readiness is false, and once the database is back everything answers again
/// by itself, with what was acknowledged before the cut still there.
#[tokio::test]
async fn a_database_outage_is_503_with_retry_after_and_passes_by_itself() {
    let Some(pg) = PgSchema::fresh("outage").await else {
        return;
    };
    let mut db = CutPostgres::start(&pg.url).await;
    let pool = plugin_routes::database::connect(&db.url).await.unwrap();
    let items = ItemsState::open(pool.clone(), &db.url).await.unwrap();
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    auth.create_user(ALICE, ALICE_PASSWORD, &scopes("items:*"))
        .await
        .unwrap();
    let key = async |name| {
        auth.create_api_key(ALICE, name, &scopes("items:*"), None)
            .await
            .unwrap()
            .key
    };
    let (used, unused) = (key("used").await, key("unused").await);
    let c = TestClient::new(plugins![
        auth = auth.clone();
        AuthRoutes::new(auth.clone()),
        ItemsPlugin::new(items)
    ]);
    let bearer = |key: &str| format!("Bearer {key}");
    let r = c
        .post("/v1/plugins/items/items")
        .header("authorization", bearer(&used))
        .json(&json!({"name": "acknowledged", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());

    db.cut().await;
    let login = json!({"email": ALICE, "password": ALICE_PASSWORD});
    let (write, unchecked, logged_in, ready) = tokio::join!(
        // A known key (cached): the handler's own query fails.
        c.post("/v1/plugins/items/items")
            .header("authorization", bearer(&used))
            .json(&json!({"name": "during the outage", "status": "active"}))
            .send(),
        // A key not seen before: checking it needs the database.
        c.get("/v1/plugins/items/items")
            .header("authorization", bearer(&unused))
            .send(),
        c.post("/v1/auth/login").json(&login).send(),
        c.get("/ready").send(),
    );
    assert_unavailable(&write, "a write by the handler");
    assert_unavailable(&unchecked, "a credential to look up");
    assert_unavailable(&logged_in, "a login");
    assert_eq!(ready.status(), 503, "{}", ready.text());

    db.restore().await;
    assert!(
        until_ok(async || {
            c.get("/v1/plugins/items/items")
                .header("authorization", bearer(&unused))
                .send()
                .await
        })
        .await,
        "the key is checked again within 10 s of the database's return"
    );
    let r = c
        .get("/v1/plugins/items/items")
        .header("authorization", bearer(&used))
        .send()
        .await;
    let names: Vec<String> = r.json::<Value>()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"acknowledged".to_owned()), "{names:?}");
    assert!(
        !names.contains(&"during the outage".to_owned()),
        "a write answered 503 was not made: {names:?}"
    );
    let r = c.post("/v1/auth/login").json(&login).send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(c.get("/ready").send().await.status(), 200);
    drop(db);
    pg.remove().await;
}

/// A database that takes no connections for now (`ALLOW_CONNECTIONS false`, as for maintenance):
/// PostgreSQL refuses each new connection with `55000`, a code queries give for faults of their
/// own too. It is an outage like the others: `503 UNAVAILABLE` with `Retry-After`, readiness
/// false saying the database refuses, and back by itself.
#[tokio::test]
async fn a_database_that_takes_no_connections_is_an_outage() {
    let Some(pg) = PgSchema::fresh("no_connections").await else {
        return;
    };
    let name = format!("plugin_no_connections_{}", std::process::id());
    pg.admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    pg.admin(&format!("CREATE DATABASE {name}")).await;
    let base = std::env::var("PLUGIN_TEST_POSTGRES_URL").unwrap();
    let (head, query) = base.split_once('?').unwrap_or((&base, ""));
    let url = format!(
        "{}/{name}{}{query}",
        &head[..head.rfind('/').unwrap()],
        if query.is_empty() { "" } else { "?" }
    );
    let (c, login) = logged_in_on(&url).await;

    pg.admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await;
    pg.admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .await;
    // What a new connection meets is counted as the database being away.
    use sqlx::Connection;
    let refused = sqlx::PgConnection::connect(&url).await.unwrap_err();
    assert!(
        plugin_routes::database::is_unavailable(&refused),
        "{refused}"
    );
    // The pool's connections were cut; once the pool has let them go, every new one is refused.
    let mut said = Value::Null;
    for _ in 0..20 {
        let r = c.get("/ready").send().await;
        assert_eq!(r.status(), 503, "{}", r.text());
        said = r.error()["details"]["database"].clone();
        if said == "the database refuses the server's requests" {
            break;
        }
    }
    assert_eq!(said, "the database refuses the server's requests");
    let r = c.post("/v1/auth/login").json(&login).send().await;
    assert_unavailable(&r, "a login while the database takes no connections");

    pg.admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await;
    assert!(
        until_ok(async || c.get("/ready").send().await).await,
        "ready again within 10 s"
    );
    let r = c.post("/v1/auth/login").json(&login).send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    drop(c);
    pg.admin(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await;
    pg.remove().await;
}

/// A JSON string may hold `U+0000`, which PostgreSQL's `text` cannot: the client's input is at
/// fault, so a write holding one is `400 INVALID_INPUT` in the envelope, not a 500, on a
/// plugin's route and on the built-in login alike; nothing is written, and the server goes on.
#[tokio::test]
async fn text_postgres_cannot_store_is_400_not_500() {
    let Some(pg) = PgSchema::fresh("nul_text").await else {
        return;
    };
    let pool = plugin_routes::database::connect(&pg.url).await.unwrap();
    let items = ItemsState::open(pool.clone(), &pg.url).await.unwrap();
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    auth.create_user(ALICE, ALICE_PASSWORD, &scopes("items:*"))
        .await
        .unwrap();
    let key = auth
        .create_api_key(ALICE, "nul", &scopes("items:*"), None)
        .await
        .unwrap()
        .key;
    let c = TestClient::new(plugins![
        auth = auth.clone();
        AuthRoutes::new(auth.clone()),
        ItemsPlugin::new(items)
    ]);
    let refused = |r: &plugin_routes::testing::TestResponse, what: &str| {
        assert_eq!(r.status(), 400, "{what}: {}", r.text());
        let e = r.error();
        assert_eq!(e["code"], "INVALID_INPUT", "{what}: {e}");
        assert_eq!(
            e["message"],
            "a text value holds the character U+0000 (NUL), which the database cannot store",
            "{what}: {e}"
        );
    };
    let bearer = format!("Bearer {key}");
    let r = c
        .post("/v1/plugins/items/items")
        .header("authorization", &bearer)
        .json(&json!({"name": "a\u{0}b", "status": "active"}))
        .send()
        .await;
    refused(&r, "an item's name");
    let r = c
        .post("/v1/auth/login")
        .json(&json!({"email": "me\u{0}@example.com", "password": ALICE_PASSWORD}))
        .send()
        .await;
    refused(&r, "a login's email");
    let r = c
        .get("/v1/plugins/items/items")
        .header("authorization", &bearer)
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["items"], json!([]));
    pg.remove().await;
}

/// Notes kept in a PostgreSQL table, with text the server adds to what the caller sent.
struct Notes {
    pool: sqlx::AnyPool,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Note {
    #[garde(length(min = 1))]
    text: String,
}

async fn keep(notes: &Notes, text: &str) -> RouteResult<()> {
    sqlx::query("INSERT INTO nul_notes (text) VALUES ($1)")
        .bind(text)
        .execute(&notes.pool)
        .await
        .map_err(RouteError::internal)?;
    Ok(())
}

/// Keeps the caller's note, stamped with a separator of the server's own making.
#[plugin_route(method = "POST", path = "/notes", status = 204)]
async fn add_note(ctx: Ctx<Notes>, input: Note) -> RouteResult<()> {
    keep(&ctx, &format!("{}\u{0}server", input.text)).await
}

/// Keeps a note the server writes alone.
#[plugin_route(method = "POST", path = "/stamp", status = 204)]
async fn stamp(ctx: Ctx<Notes>) -> RouteResult<()> {
    keep(&ctx, "stamped\u{0}here").await
}

/// Keeps the caller's note as sent.
#[plugin_route(method = "POST", path = "/plain", status = 204)]
async fn plain_note(ctx: Ctx<Notes>, input: Note) -> RouteResult<()> {
    keep(&ctx, &input.text).await
}

#[derive(Serialize, JsonSchema)]
struct Kept {
    kept: bool,
}

/// Streams what it keeps: the server's own text, once the stream has begun.
#[plugin_route(method = "GET", path = "/stream")]
async fn stream_notes(ctx: Ctx<Notes>) -> RouteResult<plugin_routes::EventStream<Kept>> {
    let pool = ctx.pool.clone();
    let kept = futures_util::stream::once(async move {
        keep(&Notes { pool }, "streamed\u{0}here").await?;
        Ok(Kept { kept: true })
    });
    Ok(plugin_routes::EventStream::new(kept))
}

#[plugin(
    name = "notes",
    version = "1.0.0",
    state = Notes,
    security(none),
    routes(add_note, stamp, plain_note, stream_notes)
)]
struct NotesPlugin;

/// A `U+0000` the database refuses is the client's fault only if the client sent it: when the
/// server's own text holds it (a route without input, or text the handler made), the answer is
/// `500 INTERNAL`, logged as a handler's failure, not a `400` that blames the caller and hides
/// the fault from the operator.
#[tokio::test]
async fn text_the_server_made_that_postgres_cannot_store_is_500() {
    let Some(pg) = PgSchema::fresh("nul_server").await else {
        return;
    };
    let pool = plugin_routes::database::connect(&pg.url).await.unwrap();
    sqlx::query("CREATE TABLE nul_notes (text TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let logs = Captured::default();
    let _logging = logs.install();
    let c = TestClient::new(plugins![NotesPlugin::new(Notes { pool: pool.clone() })]);
    let note =
        async |path: &str, text: &str| c.post(path).json(&json!({ "text": text })).send().await;
    let r = c.post("/v1/plugins/notes/stamp").send().await;
    assert_eq!(r.status(), 500, "no input: {}", r.text());
    assert_eq!(r.error()["code"], "INTERNAL");
    let r = note("/v1/plugins/notes/notes", "hello").await;
    assert_eq!(r.status(), 500, "the server's text: {}", r.text());
    // In a stream, which began after the request was read: its error event.
    let r = c.get("/v1/plugins/notes/stream").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(
        r.text().contains("event: error") && r.text().contains(r#""code":"INTERNAL""#),
        "{}",
        r.text()
    );
    assert_eq!(
        logs.text().matches("handler failed").count(),
        3,
        "{}",
        logs.text()
    );
    // The caller's own NUL is still the caller's: 400, on either route that takes it.
    for path in ["/v1/plugins/notes/notes", "/v1/plugins/notes/plain"] {
        let r = note(path, "a\u{0}b").await;
        assert_eq!(r.status(), 400, "{path}: {}", r.text());
        assert_eq!(r.error()["code"], "INVALID_INPUT", "{path}");
    }
    let r = note("/v1/plugins/notes/plain", "fine").await;
    assert_eq!(r.status(), 204, "{}", r.text());
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM nul_notes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1, "only the note without a NUL");
    pg.remove().await;
}

/// SQLite with another connection holding the write lock: a write waits the busy timeout, then
/// gets `503 UNAVAILABLE`; reads go on (WAL); once the lock is released writes succeed, and the
/// other connection's committed write is there.
#[tokio::test]
async fn a_locked_sqlite_database_is_503_after_a_bounded_wait() {
    use sqlx::Connection;
    let dir = std::env::temp_dir().join(format!("plugin-busy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = format!("sqlite://{}/items.db", dir.display());
    let pool = plugin_routes::database::connect(&url).await.unwrap();
    let items = ItemsState::open(pool.clone(), &url).await.unwrap();
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    auth.create_user(ALICE, ALICE_PASSWORD, &scopes("items:*"))
        .await
        .unwrap();
    let key = auth
        .create_api_key(ALICE, "k", &scopes("items:*"), None)
        .await
        .unwrap()
        .key;
    let c = TestClient::new(plugins![auth = auth; ItemsPlugin::new(items)])
        .with_header("authorization", format!("Bearer {key}"));
    let create = async |name: &str| {
        c.post("/v1/plugins/items/items")
            .json(&json!({"name": name, "status": "active"}))
            .send()
            .await
    };
    assert_eq!(create("first").await.status(), 201);

    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let r = create("while locked").await;
    assert_eq!(r.status(), 503, "{}", r.text());
    assert_eq!(r.error()["code"], "UNAVAILABLE");
    assert_eq!(r.header("retry-after"), Some("5"));
    let r = c.get("/v1/plugins/items/items").send().await;
    assert_eq!(r.status(), 200, "reads go on beside a writer: {}", r.text());
    sqlx::raw_sql("COMMIT").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();

    assert_eq!(create("after").await.status(), 201);
    let r = c.get("/v1/plugins/items/items").send().await;
    let listed = r.text();
    assert!(
        listed.contains("\"first\"") && listed.contains("\"after\""),
        "{listed}"
    );
    assert!(!listed.contains("while locked"), "{listed}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_and_unready_only_where_requests_are_refused() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();

    // Admitting uncounted (the default): the server still serves, so it stays ready.
    let admit = server_on(pool.clone(), LimitStore::redis(&url).unwrap().into()).await;
    let r = admit.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let said = r.json::<Value>()["redis"].as_str().unwrap().to_owned();
    assert!(
        said.ends_with("; rate-limited requests are admitted uncounted meanwhile"),
        "{said}"
    );

    // Refusing: nothing limited is served, so it is not ready.
    let refuse = server_on(
        pool,
        LimitStore::redis(&url)
            .unwrap()
            .when_unreachable(WhenUnreachable::Refuse)
            .into(),
    )
    .await;
    let r = refuse.get("/ready").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());
    let e = r.error();
    assert!(e["message"].as_str().unwrap().contains("redis ("), "{e}");
    assert!(
        e["details"]["redis"]
            .as_str()
            .unwrap()
            .ends_with("; rate-limited requests are refused meanwhile"),
        "{e}"
    );
    assert_eq!(e["details"]["database"], "ready");
}

#[tokio::test]
async fn a_reachable_redis_is_ready() {
    let Some(url) = redis_url() else { return };
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let c = server_on(pool, LimitStore::redis(&url).unwrap().into()).await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["redis"], "ready");
}

/// Redis gone silent under an open connection (its host lost without a word), with nothing
/// limited asked meanwhile (a server its load balancer took out for not being ready): readiness
/// gives the silent connection up as a request would, and is ready again on a new one, not after
/// the minutes TCP takes to notice.
#[tokio::test]
async fn readiness_finds_redis_again_after_its_connection_went_silent() {
    let Some(upstream) = crate::throttling::redis_upstream() else {
        return;
    };
    let proxy = crate::fixtures::CutProxy::start(upstream).await;
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let store = LimitStore::redis(&format!("redis://127.0.0.1:{}", proxy.port()))
        .unwrap()
        .timeout(std::time::Duration::from_millis(300))
        .when_unreachable(WhenUnreachable::Refuse);
    let c = server_on(pool, store.into()).await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    // The connection open now forwards nothing more; a new one would.
    proxy.freeze();
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());
    let mut ready = false;
    for _ in 0..20 {
        if c.get("/ready").send().await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "readiness kept the silent connection");
}

/// A query that is wrong is not an outage: PostgreSQL's protocol violation (`08P01`, here a bind
/// count that does not match) is in the connection-exception class but is answered 500.
#[tokio::test]
async fn a_wrong_query_is_not_counted_as_the_database_going_away() {
    let _marker = READ_ONLY_MARKER.lock().await;
    let Some(pg) = PgSchema::fresh("wrong_query").await else {
        return;
    };
    let pool = plugin_routes::database::connect(&pg.url).await.unwrap();
    let e = sqlx::query("SELECT $1::int + $2::int")
        .bind(1)
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e).as_deref(), Some("08P01"), "{e}");
    assert!(!plugin_routes::database::is_unavailable(&e), "{e}");
    // And a refused connection is one.
    let closed = format!("postgres://postgres@127.0.0.1:{}/test", closed_port());
    let e = plugin_routes::database::connect(&closed).await.unwrap_err();
    assert!(plugin_routes::database::is_unavailable(&e), "{e}");
    // So is a write meeting a server that takes none now, as a standby does while a failover
    // moves the primary (here a session that is read-only).
    let read_only = format!("{}%20-c%20default_transaction_read_only%3Don", pg.url);
    let pool = plugin_routes::database::connect(&read_only).await.unwrap();
    refused_write(&pool).await;
    pg.remove().await;
}

/// After a failover, a pooled connection may still reach the old primary, now read-only. Once
/// a write has been refused there (`25006`, answered 503), the pool replaces the connections it
/// made before, and the next write goes through. Here the pool's one connection is made
/// read-only by its session, as a demoted server's would be.
#[tokio::test]
async fn a_connection_that_met_a_read_only_server_is_replaced() {
    let _marker = READ_ONLY_MARKER.lock().await;
    let Some(pg) = PgSchema::fresh("read_only_replaced").await else {
        return;
    };
    let pool = plugin_routes::database::connect_with(&pg.url, 1)
        .await
        .unwrap();
    read_only_session(&pool).await;
    refused_write(&pool).await;
    sqlx::query("CREATE TABLE written (x BIGINT)")
        .execute(&pool)
        .await
        .expect("a new connection, which takes writes");
    pg.remove().await;
}

/// A database that answers but takes no writes (a standby, or an old primary made read-only
/// while a failover moves it) is not ready: every write would be refused. Readiness finding it
/// has the pool replace the connections it made before, so it turns ready again by itself once
/// a new connection takes writes. Here the pool's one connection is made read-only by its
/// session.
#[tokio::test]
async fn a_database_that_takes_no_writes_is_not_ready_until_a_connection_does() {
    let _marker = READ_ONLY_MARKER.lock().await;
    let Some(pg) = PgSchema::fresh("read_only_ready").await else {
        return;
    };
    let pool = plugin_routes::database::connect_with(&pg.url, 1)
        .await
        .unwrap();
    let c = server_on(pool.clone(), LimitStore::memory()).await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());

    read_only_session(&pool).await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());
    let e = r.error();
    assert_eq!(e["code"], "NOT_READY");
    assert_eq!(
        e["details"]["database"], "the database takes no writes",
        "{e}"
    );

    // The read-only connection was replaced at its next use: ready again, with no write
    // refused in between.
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    pg.remove().await;
}

/// Makes the connection of `pool` (a pool of one) read-only by its session, as a demoted
/// primary's connections are: it refuses writes, and a new connection does not.
async fn read_only_session(pool: &sqlx::AnyPool) {
    sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        .execute(pool)
        .await
        .unwrap();
}

/// A write on `pool`, whose connection takes none: refused with `25006`, which counts as the
/// database being unavailable.
async fn refused_write(pool: &sqlx::AnyPool) {
    let e = sqlx::query("CREATE TABLE written (x BIGINT)")
        .execute(pool)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e).as_deref(), Some("25006"), "{e}");
    assert!(plugin_routes::database::is_unavailable(&e), "{e}");
}

/// The SQLSTATE PostgreSQL answered with, if `e` is its error.
fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// PgBouncer (Debian's `pgbouncer`, which CI installs), run by a test on a port of its own in
/// front of PostgreSQL at `127.0.0.1:upstream`. Session pooling, so that sqlx's prepared
/// statements keep their server connection; each server connection works in `schema`.
struct Bouncer {
    child: std::process::Child,
    dir: std::path::PathBuf,
    url: String,
}

impl Bouncer {
    /// In front of the database of `url` (a PostgreSQL URL: its user, password and database),
    /// reached at `127.0.0.1:upstream`.
    fn start(url: &str, upstream: u16, schema: &str) -> Option<Bouncer> {
        let binary = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .chain(["/usr/sbin".into()])
            .map(|dir| dir.join("pgbouncer"))
            .find(|p| p.is_file());
        let Some(binary) = binary else {
            assert!(
                std::env::var_os("CI").is_none(),
                "pgbouncer is not installed: .ci/run installs Debian's `pgbouncer` package"
            );
            eprintln!("skipped: install pgbouncer (Debian's `pgbouncer` package) to run this test");
            return None;
        };
        let dir =
            std::env::temp_dir().join(format!("plugin-tests-pgbouncer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = closed_port();
        let d = dir.display();
        // postgres://user[:password]@host:port/database[?...]
        let rest = url.split_once("://").unwrap().1;
        let (who, rest) = rest.split_once('@').unwrap();
        let (user, password) = who.split_once(':').unwrap_or((who, ""));
        let database = rest.split_once('/').unwrap().1;
        let database = database.split('?').next().unwrap();
        let password = if password.is_empty() {
            String::new()
        } else {
            format!(" password={password}")
        };
        // A database gone behind it is said within a second: PgBouncer's own refusals are what
        // the test is about, not the server's connection wait.
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\n\
                 {database} = host=127.0.0.1 port={upstream} dbname={database} user={user}{password} connect_query='SET search_path TO {schema}'\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {d}/users.txt\n\
                 pool_mode = session\n\
                 server_reset_query = DEALLOCATE ALL\n\
                 ignore_startup_parameters = extra_float_digits,options\n\
                 server_login_retry = 1\n\
                 query_wait_timeout = 1\n\
                 logfile = {d}/pgbouncer.log\n\
                 pidfile = {d}/pgbouncer.pid\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("users.txt"), format!("\"{user}\" \"\"\n")).unwrap();
        let mut command = std::process::Command::new(binary);
        // PgBouncer does not run as root: as root, it runs as the database's own user, which
        // must be able to read its files and write its log.
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if root {
            use std::os::unix::fs::PermissionsExt;
            for entry in [
                dir.clone(),
                dir.join("pgbouncer.ini"),
                dir.join("users.txt"),
            ] {
                std::fs::set_permissions(entry, std::fs::Permissions::from_mode(0o777)).unwrap();
            }
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Made first, so that a failure below still stops it.
        let mut bouncer = Bouncer {
            child,
            dir,
            url: format!("postgres://{user}@127.0.0.1:{port}/{database}"),
        };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log =
                || std::fs::read_to_string(bouncer.dir.join("pgbouncer.log")).unwrap_or_default();
            assert!(
                bouncer.child.try_wait().unwrap().is_none(),
                "pgbouncer exited: {}",
                log()
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "pgbouncer did not listen: {}",
                log()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(bouncer)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// PgBouncer between the server and PostgreSQL: when PostgreSQL goes away behind it, PgBouncer
/// answers with refusals of its own (`query_wait_timeout`, `server login has been failing`),
/// all as SQLSTATE `08P01`, the code of a malformed query. They are an outage all the same:
/// `503` with `Retry-After`, and everything back by itself once PostgreSQL is.
#[tokio::test]
async fn behind_pgbouncer_a_database_outage_is_503_too() {
    let Some(pg) = PgSchema::fresh("pgbouncer").await else {
        return;
    };
    let mut db = CutPostgres::start(&pg.url).await;
    let Some(bouncer) = Bouncer::start(&pg.url, db.port(), &pg.schema) else {
        pg.remove().await;
        return;
    };
    let (c, login) = logged_in_on(&bouncer.url).await;

    db.cut().await;
    let r = c.post("/v1/auth/login").json(&login).send().await;
    assert_unavailable(&r, "a login while PostgreSQL is gone behind PgBouncer");
    // Readiness is false on any failure of its query, PgBouncer's included.
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());

    db.restore().await;
    assert!(
        until_ok(async || c.post("/v1/auth/login").json(&login).send().await).await,
        "logins work again within 10 s of the database's return"
    );
    assert_eq!(c.get("/ready").send().await.status(), 200);
    drop(bouncer);
    drop(db);
    pg.remove().await;
}

/// The database of the `queries` plugin's routes.
struct Pooled {
    pool: sqlx::AnyPool,
}

/// A query that answers after 5 s, under a route timeout of 2 s.
#[plugin_route(method = "GET", path = "/slow", timeout_ms = 2_000)]
async fn slow_query(ctx: Ctx<Pooled>) -> RouteResult<Value> {
    sqlx::query("SELECT 1 FROM pg_sleep(5)")
        .execute(&ctx.pool)
        .await?;
    Ok(json!({"ok": true}))
}

/// A query that would answer after 30 s, under a route timeout of 1 s.
#[plugin_route(method = "GET", path = "/stuck", timeout_ms = 1_000)]
async fn stuck_query(ctx: Ctx<Pooled>) -> RouteResult<Value> {
    sqlx::query("SELECT 1 FROM pg_sleep(30)")
        .execute(&ctx.pool)
        .await?;
    Ok(json!({"ok": true}))
}

/// A query that answers at once.
#[plugin_route(method = "GET", path = "/quick")]
async fn quick_query(ctx: Ctx<Pooled>) -> RouteResult<Value> {
    sqlx::query("SELECT 1").execute(&ctx.pool).await?;
    Ok(json!({"ok": true}))
}

#[plugin(
    name = "queries",
    version = "1.0.0",
    state = Pooled,
    security(none),
    routes(slow_query, stuck_query, quick_query)
)]
struct Queries;

/// Waits, for at most 10 s, until `pool` holds `n` idle connections: back from use, each having
/// answered its check on the way.
async fn until_idle(pool: &sqlx::AnyPool, n: usize) {
    let idle = async {
        while pool.num_idle() < n {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), idle)
        .await
        .expect("the pool's connections are back in it within 10 s");
}

/// Asks every 50 ms, for at most `within`, until the server runs `n` queries for connections
/// named `application`; whether it came to that.
async fn until_running(
    pg: &PgSchema,
    application: &str,
    n: i64,
    within: std::time::Duration,
) -> bool {
    let running = async {
        while pg.running_queries(application).await != n {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(within, running).await.is_ok()
}

/// A database that vanishes without a word (a host powered off, a partition, a failover that
/// leaves the old address behind) while queries wait on every connection of the pool: the
/// route's timeout gives up on them, and the connections they leave, whose check on the way
/// back to the pool would wait for an answer forever, are let go within a bounded wait. The
/// pool then connects anew, here to the server in the old one's place, instead of staying full
/// of connections to a server that is gone.
#[tokio::test]
async fn connections_to_a_database_that_vanished_without_a_word_are_let_go() {
    let Some(pg) = PgSchema::fresh("vanished").await else {
        return;
    };
    let application = format!("plugin_vanished_{}", std::process::id());
    let db = CutPostgres::start(&format!("{}&application_name={application}", pg.url)).await;
    let pool = plugin_routes::database::connect_with(&db.url, 2)
        .await
        .unwrap();
    // Both of the pool's connections made, and back in it.
    let both = (pool.acquire().await.unwrap(), pool.acquire().await.unwrap());
    drop(both);
    until_idle(&pool, 2).await;
    let c = TestClient::new(plugins![Queries::new(Pooled { pool })]);

    let (first, second, ()) = tokio::join!(
        c.get("/v1/plugins/queries/slow").send(),
        c.get("/v1/plugins/queries/slow").send(),
        async {
            // Once both queries run, one on each of the pool's connections.
            let two_s = std::time::Duration::from_secs(2);
            assert!(
                until_running(&pg, &application, 2, two_s).await,
                "both queries run within their route's 2 s"
            );
            db.freeze();
        },
    );
    for r in [first, second] {
        assert_eq!(r.status(), 504, "{}", r.text());
    }
    assert!(
        until_ok(async || c.get("/v1/plugins/queries/quick").send().await).await,
        "the pool connects anew once it has let the silent connections go"
    );
    drop(db);
    pg.remove().await;
}

/// A connection that the server closed while it sat idle in the pool (a restart, an idle timeout
/// of the server's or of a proxy's) is found out before it is handed out, and another takes its
/// place: the request after it does not fail. Only a connection that came back to the pool
/// within the last half second, answering then, is handed out unchecked.
#[tokio::test]
async fn an_idle_connection_the_server_closed_is_replaced_unseen() {
    let Some(pg) = PgSchema::fresh("idle_closed").await else {
        return;
    };
    let mut db = CutPostgres::start(&pg.url).await;
    let pool = plugin_routes::database::connect_with(&db.url, 1)
        .await
        .unwrap();
    let c = TestClient::new(plugins![Queries::new(Pooled { pool: pool.clone() })]);
    let r = c.get("/v1/plugins/queries/quick").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    until_idle(&pool, 1).await;

    // The proxy closes the pool's one connection, and forwards new ones.
    db.cut().await;
    db.restore().await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let r = c.get("/v1/plugins/queries/quick").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    drop(db);
    pg.remove().await;
}

/// A query whose route gave up on it, on a server that is slow rather than gone: the connection
/// it holds gets no answer within the wait on its way back to the pool and is closed, and the
/// server, told to look for its clients while a query runs, ends the query within a second
/// instead of running it to its end for nobody (and beside the connection that takes its place).
#[tokio::test]
async fn a_query_its_route_gave_up_on_ends_on_the_server_too() {
    let Some(pg) = PgSchema::fresh("abandoned").await else {
        return;
    };
    let application = format!("plugin_abandoned_{}", std::process::id());
    let url = format!("{}&application_name={application}", pg.url);
    let pool = plugin_routes::database::connect_with(&url, 1)
        .await
        .unwrap();
    let version: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
        .fetch_one(&pool)
        .await
        .unwrap();
    if version.parse::<u32>().unwrap() < 140_000 {
        eprintln!("skipped: PostgreSQL before 14 cannot look for its clients while a query runs");
        pg.remove().await;
        return;
    }
    let c = TestClient::new(plugins![Queries::new(Pooled { pool })]);
    let r = c.get("/v1/plugins/queries/stuck").send().await;
    assert_eq!(r.status(), 504, "{}", r.text());
    assert_eq!(pg.running_queries(&application).await, 1, "still running");

    // 1 s of the route's timeout, 3 s of the wait on the way back, then at most 1 s: well
    // before the 30 s the query would take.
    assert!(
        until_running(&pg, &application, 0, std::time::Duration::from_secs(15)).await,
        "the server ended the query within 15 s"
    );
    let r = c.get("/v1/plugins/queries/quick").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    pg.remove().await;
}

/// A write the server makes in the background (an API key's last use), where no route's
/// timeout bounds it, caught on a connection whose database went silent: it gives the
/// connection's place in the pool back within its bound, so the pool (of one connection here)
/// connects anew and the next request that needs the database is answered, instead of every
/// one being answered 503 for as long as TCP keeps the silent connection.
#[tokio::test]
async fn a_background_write_on_a_silent_connection_gives_its_place_back() {
    use sqlx::Connection;

    let Some(pg) = PgSchema::fresh("background_silent").await else {
        return;
    };
    let application = format!("plugin_background_{}", std::process::id());
    let db = CutPostgres::start(&format!("{}&application_name={application}", pg.url)).await;
    let pool = plugin_routes::database::connect_with(&db.url, 1)
        .await
        .unwrap();
    let items = ItemsState::open(pool.clone(), &db.url).await.unwrap();
    let auth = Auth::open(pool.clone(), AuthConfig::default())
        .await
        .unwrap();
    auth.create_user(ALICE, ALICE_PASSWORD, &scopes("items:*"))
        .await
        .unwrap();
    let mut keys = Vec::new();
    for name in ["first", "second"] {
        let key = auth
            .create_api_key(ALICE, name, &scopes("items:*"), None)
            .await
            .unwrap();
        keys.push(format!("Bearer {}", key.key));
    }
    let c = TestClient::new(plugins![auth = auth; ItemsPlugin::new(items)]);

    // The first key's last use, written after its request, waits behind a lock when the
    // database goes silent; the database makes it once the lock is let go, and its answer
    // never arrives.
    let mut lock = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT 1 FROM auth_api_keys FOR UPDATE")
        .execute(&mut lock)
        .await
        .unwrap();
    // Its own answer does not matter: the write may take the pool's one connection first.
    let _ = c
        .get("/v1/plugins/items/items")
        .header("authorization", &keys[0])
        .send()
        .await;
    let waiting = async {
        while pg.queries_waiting_for_locks(&application).await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
        .await
        .expect("the key's last use is written within 10 s");
    db.freeze();
    sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();

    // The second key is looked up in the database.
    let r = past_503(|| {
        c.get("/v1/plugins/items/items")
            .header("authorization", &keys[1])
            .send()
    })
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());

    drop(db);
    pg.remove().await;
}

/// A server of the items plugin and the `/v1/auth` routes behind an API key, on `pg` through a
/// proxy that can go silent, with a pool of two connections and credentials cached ten minutes;
/// the key's `Authorization` and its id.
async fn items_behind_a_key(
    pg: &PgSchema,
    application: &str,
) -> (CutPostgres, TestClient, String, String) {
    let db = CutPostgres::start(&format!("{}&application_name={application}", pg.url)).await;
    let pool = plugin_routes::database::connect_with(&db.url, 2)
        .await
        .unwrap();
    let items = ItemsState::open(pool.clone(), &db.url).await.unwrap();
    let config = AuthConfig::default().with_cache_ttl(std::time::Duration::from_secs(600));
    let auth = Auth::open(pool.clone(), config).await.unwrap();
    auth.create_user(ALICE, ALICE_PASSWORD, &scopes("items:*"))
        .await
        .unwrap();
    let key = auth
        .create_api_key(ALICE, "silent", &scopes("items:*"), None)
        .await
        .unwrap();
    let c = TestClient::new(plugins![
        auth = auth.clone();
        AuthRoutes::new(auth),
        ItemsPlugin::new(items),
    ]);
    (db, c, format!("Bearer {}", key.key), key.info.id)
}

/// A key's revocation whose answer was lost (its statement given up on a silent connection after
/// the database had made it) is answered `503 UNAVAILABLE`, and this server no longer trusts its
/// cached entry for the key, however long its cache keeps entries: the key's next use is looked
/// up again and refused as revoked, where the cache would have let it in.
#[tokio::test]
async fn a_key_whose_revocation_was_answered_503_is_looked_up_again() {
    let Some(pg) = PgSchema::fresh("revoke_silent").await else {
        return;
    };
    let application = format!("plugin_revoke_silent_{}", std::process::id());
    let (mut db, c, bearer, key_id) = items_behind_a_key(&pg, &application).await;
    let list = || {
        c.get("/v1/plugins/items/items")
            .header("authorization", &bearer)
            .send()
    };
    // Looked up and cached for ten minutes.
    assert_eq!(list().await.status(), 200);
    let cookie = crate::auth::login(&c, ALICE, ALICE_PASSWORD).await;

    let revoke = c
        .delete(&format!("/v1/auth/api-keys/{key_id}"))
        .header("cookie", &cookie)
        .send();
    // The key's row, not the table: the update is parsed, sent and carried out once the lock is
    // let go (a table's lock would hold it at parsing, before it is sent).
    let lock = "SELECT 1 FROM auth_api_keys FOR UPDATE";
    // The revocation, not the key's last use written in the background should that come late.
    let revoking = "UPDATE auth_api_keys SET revoked_at%";
    let r = crate::fixtures::silenced_behind(&pg, &application, &db, lock, revoking, revoke).await;
    assert_unavailable(&r, "a revocation on a silent connection");

    db.cut().await;
    db.restore().await;
    // The database made the revocation; only its answer was lost.
    let revoked_at: Option<i64> = {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        sqlx::query_scalar("SELECT revoked_at FROM auth_api_keys")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    assert!(revoked_at.is_some(), "revoked by the database");
    let r = past_503(list).await;
    assert_eq!(
        r.status(),
        401,
        "the revoked key, looked up again: {}",
        r.text()
    );
    drop(db);
    pg.remove().await;
}

/// A credential the built-in store looks up on a connection whose database went silent is
/// answered `503 UNAVAILABLE` with `Retry-After` once the statement's bound has passed
/// (`database::STATEMENT_WAIT`), not held until the route's timeout and answered `504`; the key
/// works again once the pool has connected anew.
#[tokio::test]
async fn a_credential_looked_up_on_a_silent_connection_is_answered_503() {
    let Some(pg) = PgSchema::fresh("lookup_silent").await else {
        return;
    };
    let application = format!("plugin_lookup_{}", std::process::id());
    let (db, c, key, _) = items_behind_a_key(&pg, &application).await;
    let list = || {
        c.get("/v1/plugins/items/items")
            .header("authorization", &key)
            .send()
    };
    let lock = "LOCK TABLE auth_api_keys IN ACCESS EXCLUSIVE MODE";
    let r = crate::fixtures::silenced_behind(&pg, &application, &db, lock, "SELECT%", list()).await;
    assert_unavailable(&r, "a key looked up on a silent connection");

    let r = past_503(list).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    drop(db);
    pg.remove().await;
}

/// The same for a plugin's own query: the items example bounds each of its statements
/// (`database::bounded`), so a request whose query is caught on a silent connection is answered
/// `503` within the bound rather than `504` at the route's timeout, and the next is served.
#[tokio::test]
async fn a_plugin_query_on_a_silent_connection_is_answered_503() {
    let Some(pg) = PgSchema::fresh("items_silent").await else {
        return;
    };
    let application = format!("plugin_items_silent_{}", std::process::id());
    let (db, c, key, _) = items_behind_a_key(&pg, &application).await;
    let list = || {
        c.get("/v1/plugins/items/items")
            .header("authorization", &key)
            .send()
    };
    // The key is looked up and cached: the next request asks the database only for items.
    assert_eq!(list().await.status(), 200);
    let lock = "LOCK TABLE items IN ACCESS EXCLUSIVE MODE";
    let r = crate::fixtures::silenced_behind(&pg, &application, &db, lock, "SELECT%", list()).await;
    assert_unavailable(&r, "items listed on a silent connection");

    let r = past_503(list).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    drop(db);
    pg.remove().await;
}
