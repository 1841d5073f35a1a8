//! `GET /ready` as a load balancer or Kubernetes' `readinessProbe` reads it: the credential
//! store's database and the Redis that counts rate limits are asked beside each plugin's hook;
//! a database that goes away turns readiness false until it is back; a Redis that the server
//! may do without (requests admitted uncounted) is reported without turning it false.

use crate::fixtures::PgSchema;
use crate::throttling::{forward, redis_url};
use plugin_routes::auth::{Auth, AuthConfig, AuthRoutes};
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use plugin_routes::{LimitStore, WhenUnreachable};
use serde_json::Value;

async fn server_on(pool: sqlx::AnyPool, store: LimitStore) -> TestClient {
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    let config = ServerConfig::default().with_limit_store(store);
    TestClient::new(plugins![config = config; auth = auth.clone(); AuthRoutes::new(auth)])
}

/// A port nothing listens on.
fn closed_port() -> u16 {
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

/// PostgreSQL behind a proxy the test cuts and restores: 503 `NOT_READY` naming the database
/// while it is gone, ready again by itself once it is back.
#[tokio::test]
async fn readiness_turns_false_while_the_database_is_cut_and_back_when_it_returns() {
    let Some(pg) = PgSchema::fresh("readiness").await else {
        return;
    };
    let upstream = {
        let after = pg.url.split_once('@').map_or(pg.url.as_str(), |(_, a)| a);
        after.split('/').next().unwrap().to_owned()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let proxy = tokio::spawn(forward(listener, upstream.clone()));
    let through_proxy = pg.url.replacen(&upstream, &format!("127.0.0.1:{port}"), 1);
    let pool = plugin_routes::database::connect(&through_proxy)
        .await
        .unwrap();
    let c = server_on(pool, LimitStore::memory()).await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["database"], "ready");

    // Cut: the listener and every forwarded connection close.
    proxy.abort();
    let _ = proxy.await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());
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
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let proxy = tokio::spawn(forward(listener, upstream));
    let mut ready = false;
    for _ in 0..20 {
        if c.get("/ready").send().await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(ready, "ready again within 5 s of the database's return");
    proxy.abort();
    pg.remove().await;
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
