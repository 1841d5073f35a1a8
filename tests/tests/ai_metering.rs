//! What the AI plugin charges when a call does not end as planned, through real HTTP against
//! the provider double: a client that hangs up mid-stream, an answer that cannot be used, and a
//! server that stops while a call is under way (its hold released once stale, when the next
//! server opens the ledger).

use crate::ai::{
    ai_on, ai_with, client, closed_port, config_json, create_key, generate, read_until, router,
    usage_once,
};
use crate::fake_llm::Upstream;
use ai_plugin::AiConfig;
use serde_json::{Value, json};
use std::time::Duration;

/// Serves `router` on a free loopback port, on the current runtime, until it ends; the port.
async fn serve(router: axum::Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    port
}

/// Asks the server on `port` for a streamed generation of `body` with `key`, and reads until
/// the first delta has arrived; the connection.
async fn stream_until_first_delta(port: u16, key: &str, body: &Value) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let body = body.to_string();
    let head = format!(
        "POST /v1/plugins/ai/generate/stream HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(&mut s, &mut seen, "\"type\":\"delta\"").await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    s
}

/// A stream whose client hangs up is charged never less than it could have cost: without a
/// count from the provider, a token for each byte of text sent (eight Chinese characters are 24
/// bytes, and up to 24 tokens; "four characters a token" charged 2) and the prompt's bytes in;
/// with a running count, that count plus a token a byte sent since (a reasoning model's hidden
/// tokens are in the count, not in the text).
#[tokio::test]
async fn a_stream_whose_client_left_is_charged_never_less_than_it_could_cost() {
    use crate::fake_llm::{CJK, THOUGHT};
    let upstream = Upstream::start().await;
    let config = AiConfig::from_json(&config_json(&upstream, &closed_port(), 10.0));
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let key = create_key(&pool, "ai:*").await;
    let app = router(pool, "sqlite::memory:", config.unwrap()).await;
    let port = serve(app.clone()).await;
    let c = client(app, &key);
    let prompt = "hello world"; // 11 bytes; the double counts 2 + 3 tokens.
    let cases = [
        // (model, input tokens, output tokens)
        ("stall-cjk", 11 + 16, CJK.len() as u64),
        ("thinking-stall", 5, THOUGHT + "ok".len() as u64),
    ];
    for (n, (model, input, output)) in cases.into_iter().enumerate() {
        let before = usage_once(&c, n as u64).await["today"]["usage"].clone();
        let body = json!({"prompt": prompt, "model": model});
        let s = stream_until_first_delta(port, &key, &body).await;
        drop(s);
        assert!(upstream.wait_cancelled(n + 1).await, "{model}: cancelled");
        let after = usage_once(&c, n as u64 + 1).await;
        let total = |v: &Value, k: &str| v[k].as_u64().unwrap();
        assert_eq!(
            (
                total(&after["today"]["usage"], "inputTokens") - total(&before, "inputTokens"),
                total(&after["today"]["usage"], "outputTokens") - total(&before, "outputTokens"),
            ),
            (input, output),
            "{model}: {after}"
        );
    }
    // $1 / $2 per million: 27 in and 24 out, then 5 in and 52 out.
    let usage: Value = c.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["costUsd"], 0.000_184, "{usage}");
}

/// A `200` answer that cannot be used is still the provider's work: with its usage and no text,
/// it is charged that usage; with its text and no usage, the prompt's bytes in and a token a byte
/// of the text out, at most `maxTokens`. The caller is told `LLM_FAILED` either way.
#[tokio::test]
async fn an_unusable_answer_is_charged_what_the_provider_did() {
    let ai = ai_with("ai:*", 10.0).await;
    for (n, (model, says, usage)) in [
        (
            "null-content",
            "the provider's answer is malformed: no message in the answer",
            // The double's count: 1 + 3 in, 2 ("echo: hello") out.
            json!({"inputTokens": 4, "outputTokens": 2, "totalTokens": 6}),
        ),
        (
            "no-usage",
            "the provider's answer is malformed: no usage in the answer",
            // "hello" is 5 bytes, + 16; "echo: hello" is 11 bytes, capped at maxTokens, 10.
            json!({"inputTokens": 4 + 21, "outputTokens": 2 + 10, "totalTokens": 6 + 31}),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let r = generate(
            &ai.client,
            json!({"prompt": "hello", "model": model, "maxTokens": 10}),
        )
        .await;
        assert_eq!(
            (r.status().as_u16(), r.error()["code"].as_str()),
            (502, Some("LLM_FAILED")),
            "{model}: {}",
            r.text()
        );
        assert_eq!(r.error()["message"], says, "{model}");
        let report = usage_once(&ai.client, n as u64 + 1).await;
        assert_eq!(report["today"]["usage"], usage, "{model}: {report}");
    }
}

/// The budget `stale_hold_is_released_on_open` allows: one worst case of "hello world" with 10
/// tokens ((11 + 16) × $1/M + 10 × $2/M = $0.000047) fits, not that and another.
const ROOM_FOR_ONE: f64 = 0.00006;

/// A server stops (its runtime dropped) while a stream waits on the provider: the process goes
/// on, and the stream's hold stays in the ledger. Opened again (the next server) while the hold
/// is younger than any call can run, the ledger keeps it (another server may still be running
/// the call); once it is older, opening the ledger releases it.
#[tokio::test]
async fn a_hold_left_by_a_server_that_stopped_is_released_once_stale() {
    let (dir, url) = crate::server::fresh_sqlite("ai-stale-hold");
    stale_hold_is_released_on_open(&url).await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The same on PostgreSQL (a schema of the test's own).
#[tokio::test]
async fn a_stale_hold_is_released_on_postgres_too() {
    let Some(pg) = crate::fixtures::PgSchema::fresh("ai_stale").await else {
        return;
    };
    // Operations' queue on PostgreSQL (apalis) needs `hstore`, kept in `public`.
    let url = pg.url_with_public_extension("hstore").await;
    stale_hold_is_released_on_open(&url).await;
    pg.remove().await;
}

async fn stale_hold_is_released_on_open(url: &str) {
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let key = create_key(&pool, "ai:*").await;
    // The first server, on a runtime of its own (not this test's), dropped while a stream is
    // under way. Before the fix, the bill's task was dropped unrun, its copy spawned another,
    // and so on until the stack overflowed: the whole test binary aborted here.
    let (server_url, server_key) = (url.to_owned(), key.clone());
    let stopped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let socket = runtime.block_on(async {
            let upstream = Upstream::start().await;
            let text = config_json(&upstream, &closed_port(), ROOM_FOR_ONE);
            let config = AiConfig::from_json(&text).unwrap();
            let pool = plugin_routes::database::connect(&server_url).await.unwrap();
            let port = serve(router(pool, &server_url, config).await).await;
            let body = json!({"prompt": "hello world", "model": "stall", "maxTokens": 10});
            let s = stream_until_first_delta(port, &server_key, &body).await;
            // The client stays connected: the server stops under it.
            s.into_std().unwrap()
        });
        drop(runtime);
        socket
    })
    .join();
    let socket = stopped.expect("the server's runtime ended without taking the process down");
    drop(socket);
    let held = |pool: sqlx::AnyPool| async move {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ai_holds",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let reserved: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(reserved), 0) AS BIGINT) FROM ai_budgets WHERE period = $1",
        )
        .bind(ai_plugin::ledger::Periods::now().month)
        .fetch_one(&pool)
        .await
        .unwrap();
        use sqlx::Row;
        (row.get::<i64, _>(0), row.get::<i64, _>(1), reserved)
    };
    // $0.000047 is 47,000,000 picodollars.
    assert_eq!(held(pool.clone()).await, (1, 47_000_000, 47_000_000));

    // The next server starts at once: the hold is kept, and what is left does not fit another.
    let upstream = Upstream::start().await;
    let config = || {
        let text = config_json(&upstream, &closed_port(), ROOM_FOR_ONE);
        AiConfig::from_json(&text).unwrap()
    };
    let c = client(router(pool.clone(), url, config()).await, &key);
    assert_eq!(held(pool.clone()).await, (1, 47_000_000, 47_000_000));
    let body = json!({"prompt": "hello world", "maxTokens": 10});
    let r = generate(&c, body.clone()).await;
    assert_eq!(r.error()["code"], "QUOTA_EXCEEDED", "{}", r.text());

    // Later, the hold older than any call can run: the next server's ledger releases it.
    let stale = ai_plugin::ledger::STALE_AFTER + Duration::from_secs(60);
    sqlx::query("UPDATE ai_holds SET created_at = created_at - $1")
        .bind(i64::try_from(stale.as_millis()).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    let c = client(router(pool.clone(), url, config()).await, &key);
    assert_eq!(held(pool.clone()).await, (0, 0, 0));
    let r = generate(&c, body).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(held(pool).await, (0, 0, 0), "settled");
}

/// Many generations at once on a file database (SQLite in WAL mode, several connections): every
/// one is answered. A reservation's transaction once read before it wrote, and SQLite refuses
/// such a transaction at once ("database is locked") when another connection has written since,
/// whatever the busy timeout; every ledger transaction now writes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_generations_on_a_file_database_all_succeed() {
    let (dir, url) = crate::server::fresh_sqlite("ai-concurrent");
    let ai = ai_on(&url, "ai:*", 10.0).await;
    let asks = (0..24).map(|i| {
        let c = ai.client.clone();
        async move { generate(&c, json!({"prompt": format!("word {i}"), "maxTokens": 10})).await }
    });
    let answers = futures_util::future::join_all(asks).await;
    let refused: Vec<String> = answers
        .iter()
        .filter(|r| r.status() != 200)
        .map(|r| format!("{} {}", r.status(), r.text()))
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
    let today = usage_once(&ai.client, 24).await["today"].clone();
    assert_eq!(today["generations"], 24, "{today}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A call the provider answered whose charge the database would not take (SQLite's write lock
/// held past its busy wait): the caller gets the answer it paid for, and the call is charged
/// what the provider counted once the database takes writes again, once, not handed back as if
/// unused.
#[tokio::test]
async fn a_charge_the_database_refused_is_made_once_it_is_back() {
    use sqlx::Connection;
    let (dir, url) = crate::server::fresh_sqlite("ai-refused-charge");
    let ai = ai_on(&url, "ai:*", 10.0).await;
    let c = ai.client.clone();
    // "hello world": the double counts 2 + 3 tokens in and 3 out ("echo:", "hello", "world").
    let call = tokio::spawn(async move {
        generate(&c, json!({"prompt": "hello world", "model": "held"})).await
    });
    while ai.upstream.calls() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The hold is taken; the provider answers while another connection holds the write lock.
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    ai.upstream.release();
    let r = call.await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(
        r.json::<Value>()["text"],
        "echo: hello world",
        "{}",
        r.text()
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    holder.close().await.unwrap();
    let today = usage_once(&ai.client, 1).await["today"].clone();
    assert_eq!(today["usage"]["inputTokens"], 5, "{today}");
    assert_eq!(today["usage"]["outputTokens"], 3, "{today}");
    // At the model's prices (1 and 2 USD a million tokens), and nothing more held.
    assert_eq!(today["costUsd"], 0.000011, "{today}");
    assert_eq!(
        today["remainingUsd"], 9.999989,
        "the hold is settled: {today}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A settlement tried again after an error whose outcome is unknown (its commit made, the
/// answer lost on the way back) charges once: the hold it finds gone says it was made.
#[tokio::test]
async fn a_settlement_tried_again_after_its_answer_was_lost_charges_once() {
    use ai_plugin::cost::Pico;
    use ai_plugin::ledger::{Ledger, Periods};
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let ledger = Ledger::open(pool, "sqlite::memory:").await.unwrap();
    let periods = Periods::now();
    let g = generation();
    let made = hold(&ledger, &periods).await;
    ledger.settle(&made, &g).await.unwrap();
    assert!(!ledger.settle_again(&made, &g).await.unwrap());
    let (day, _) = ledger.totals("ada", &periods).await.unwrap();
    assert_eq!((day.generations, day.cost), (1, Pico(700)));
    // One that was not made is made, once.
    let refused = hold(&ledger, &periods).await;
    assert!(ledger.settle_again(&refused, &g).await.unwrap());
    assert!(!ledger.settle_again(&refused, &g).await.unwrap());
    let (day, _) = ledger.totals("ada", &periods).await.unwrap();
    assert_eq!((day.generations, day.cost), (2, Pico(1_400)));
}

/// A settlement caught on a connection whose database went silent (it waited behind a lock, and
/// the answer to its first statement never came) gives up within its bound instead of waiting
/// as long as TCP keeps the connection, which would keep the pool's place and the bill's task
/// for ever. Once the database has ended the abandoned session (here when the silent
/// connection closes; for a client cut off, when its keepalives go unanswered), the bill's
/// next try charges it, once.
#[tokio::test]
async fn a_settlement_on_a_silent_connection_gives_up_and_charges_once() {
    use ai_plugin::cost::Pico;
    use ai_plugin::ledger::Periods;

    let Some((pg, mut db, application, ledger)) = ledger_behind_a_proxy("ai_settle").await else {
        return;
    };
    let periods = Periods::now();
    let made = hold(&ledger, &periods).await;
    let g = generation();

    let settle = crate::fixtures::silenced_behind(
        &pg,
        &application,
        &db,
        "SELECT 1 FROM ai_holds FOR UPDATE",
        "DELETE FROM ai_holds WHERE id = %",
        ledger.settle(&made, &g),
    );
    let settled = tokio::time::timeout(Duration::from_secs(30), settle)
        .await
        .expect("the settlement gives up within 30 s");
    let e = settled.expect_err("its answer never came");
    assert!(plugin_routes::database::is_unavailable(&e), "{e}");

    // The abandoned transaction, which holds the hold's row, ends with its session.
    db.cut().await;
    db.restore().await;
    // Tried again as the bill does, while the pool lets the silent connection go.
    let charged = past_unavailable(|| ledger.settle_again(&made, &g)).await;
    assert!(charged, "the abandoned settlement was not made");
    assert!(!ledger.settle_again(&made, &g).await.unwrap());
    let (day, _) = ledger.totals("ada", &periods).await.unwrap();
    assert_eq!((day.generations, day.cost), (1, Pico(700)));
    drop(db);
    pg.remove().await;
}

/// A reserve, the first thing every generation does, caught on a connection whose database went
/// silent (its update waited behind a lock, and the answer never came) gives up as unavailable
/// within its bound, so the generation is answered 503 rather than 504 after its route's two
/// minutes; once the pool has let the silent connection go, the next reserve is made.
#[tokio::test]
async fn a_reserve_on_a_silent_connection_gives_up_as_unavailable() {
    use ai_plugin::ledger::Periods;

    let Some((pg, mut db, application, ledger)) = ledger_behind_a_proxy("ai_reserve").await else {
        return;
    };
    let periods = Periods::now();
    // The caller's budget rows exist, so the next reserve's update waits for their lock.
    hold(&ledger, &periods).await;

    let silenced = crate::fixtures::silenced_behind(
        &pg,
        &application,
        &db,
        "SELECT 1 FROM ai_budgets FOR UPDATE",
        "UPDATE ai_budgets SET reserved = reserved + %",
        reserve(&ledger, &periods),
    );
    let reserved = tokio::time::timeout(Duration::from_secs(30), silenced)
        .await
        .expect("the reserve gives up within 30 s");
    let e = reserved.expect_err("its answer never came");
    assert!(plugin_routes::database::is_unavailable(&e), "{e}");

    db.cut().await;
    db.restore().await;
    let held = past_unavailable(|| reserve(&ledger, &periods)).await;
    assert!(held.is_ok(), "within the budgets");
    drop(db);
    pg.remove().await;
}

/// The same, through the route as a caller meets it: a generation whose reserve is caught on a
/// silent connection is answered `503 UNAVAILABLE` with `Retry-After` within the statement's
/// bound (not `504` after the route's two minutes), the provider is not asked, and nothing is
/// charged for it; once the pool has let the connection go, the next generation is made.
#[tokio::test]
async fn a_generation_whose_reserve_meets_a_silent_connection_is_answered_503() {
    let Some(pg) = crate::fixtures::PgSchema::fresh("ai_route_silent").await else {
        return;
    };
    let application = format!("plugin_ai_route_{}", std::process::id());
    // The server's operations queue on PostgreSQL (apalis) needs `hstore`, kept in `public`.
    let url = pg.url_with_public_extension("hstore").await;
    let mut db =
        crate::fixtures::CutPostgres::start(&format!("{url}&application_name={application}")).await;
    let ai = ai_on(&db.url, "ai:*", 10.0).await;
    let ask = || generate(&ai.client, json!({"prompt": "hello world"}));
    // The key is looked up and cached, and the caller's budget rows are made: the next
    // generation's first statement is its reserve, which waits for their lock.
    let r = ask().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let asked = ai
        .upstream
        .seen
        .calls
        .load(std::sync::atomic::Ordering::SeqCst);

    let lock = "SELECT 1 FROM ai_budgets FOR UPDATE";
    // The reserve's own update, not the first generation's settlement (written on a task of its
    // own) should that come late.
    let reserving = "UPDATE ai_budgets SET reserved = reserved + %";
    let answered = crate::fixtures::silenced_behind(&pg, &application, &db, lock, reserving, ask());
    let r = tokio::time::timeout(Duration::from_secs(30), answered)
        .await
        .expect("answered within 30 s");
    crate::fixtures::assert_unavailable(&r, "a reserve on a silent connection");
    assert_eq!(
        ai.upstream
            .seen
            .calls
            .load(std::sync::atomic::Ordering::SeqCst),
        asked,
        "the provider was not asked"
    );

    // The refused reserve's transaction is still open on the connection that went silent,
    // holding the caller's budget rows. Its end on the database's side, as the session's
    // keepalives bring it within about 25 s of a client gone (`database::connect`), is what lets
    // the caller's next reserve through: the proxy, whose kernel answers them, ends its
    // connections instead.
    assert_eq!(pg.transactions_left_open(&application).await, 1);
    db.cut().await;
    db.restore().await;
    let r = crate::fixtures::past_503(ask).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    // Two generations of 5 tokens in and 3 out are charged, and nothing for the one refused.
    let usage = usage_once(&ai.client, 2).await;
    assert_eq!(
        usage["today"]["usage"],
        json!({"inputTokens": 10, "outputTokens": 6, "totalTokens": 16}),
        "{usage}"
    );
    drop(ai);
    drop(db);
    pg.remove().await;
}

/// A generation of 5 tokens in and 3 out, costing 700 picodollars.
fn generation() -> ai_plugin::ledger::Generation<'static> {
    ai_plugin::ledger::Generation {
        model: "echo",
        provider: "fake",
        usage: ai_plugin::cost::Usage::new(5, 3),
        cost: ai_plugin::cost::Pico(700),
        streamed: false,
        complete: true,
    }
}

/// A hold of 1,000 picodollars for `ada`, whose budgets are far above it.
async fn hold(
    ledger: &ai_plugin::ledger::Ledger,
    periods: &ai_plugin::ledger::Periods,
) -> ai_plugin::ledger::Reservation {
    reserve(ledger, periods).await.unwrap().unwrap()
}

/// Asks for that hold.
async fn reserve(
    ledger: &ai_plugin::ledger::Ledger,
    periods: &ai_plugin::ledger::Periods,
) -> Result<Result<ai_plugin::ledger::Reservation, ai_plugin::ledger::Over>, sqlx::Error> {
    use ai_plugin::cost::Pico;
    ledger
        .reserve(
            "ada",
            periods.clone(),
            Pico(1_000),
            Pico(100_000),
            Pico(1_000_000),
        )
        .await
}

/// A ledger on a fresh schema named after `name`, reached through a proxy that can go silent,
/// its pool one connection: the schema, the proxy, and the application name its connections
/// carry. `None` without PostgreSQL.
async fn ledger_behind_a_proxy(
    name: &str,
) -> Option<(
    crate::fixtures::PgSchema,
    crate::fixtures::CutPostgres,
    String,
    ai_plugin::ledger::Ledger,
)> {
    let pg = crate::fixtures::PgSchema::fresh(&format!("{name}_silent")).await?;
    let application = format!("plugin_{name}_{}", std::process::id());
    let db =
        crate::fixtures::CutPostgres::start(&format!("{}&application_name={application}", pg.url))
            .await;
    let pool = plugin_routes::database::connect_with(&db.url, 1)
        .await
        .unwrap();
    let ledger = ai_plugin::ledger::Ledger::open(pool, &db.url)
        .await
        .unwrap();
    Some((pg, db, application, ledger))
}

/// `attempt`'s answer once it is not unavailable, tried at most six times: as a caller tries
/// again while the pool lets a silent connection go.
async fn past_unavailable<T, Fut>(attempt: impl Fn() -> Fut) -> T
where
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    for _ in 0..5 {
        match attempt().await {
            Err(e) if plugin_routes::database::is_unavailable(&e) => {}
            other => return other.unwrap(),
        }
    }
    attempt().await.unwrap()
}
