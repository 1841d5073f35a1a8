//! Places counted in Redis: shared by servers, leases that lapse when a server dies, and an
//! unreachable Redis handled as configured.

use super::{Gates, Open, app_with, open, refused, request};
use axum::Router;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use plugin_routes::{LimitStore, ServerConfig};
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;

fn redis_store(url: &str, prefix: &str) -> plugin_routes::RedisLimits {
    LimitStore::redis(url)
        .unwrap()
        .key_prefix(prefix.to_owned())
        .lease(Duration::from_secs(3))
}

/// Opens `path` from `address` on `app` until admitted, or panics after 10 s.
async fn open_when_free(app: &Router, path: &str, address: [u8; 4]) -> Open {
    for _ in 0..100 {
        let response = app
            .clone()
            .oneshot(request(path, address, None))
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            let mut body = response.into_body();
            body.frame().await.unwrap().unwrap();
            return Open { _body: body };
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} was not admitted within 10 s");
}

#[tokio::test]
async fn servers_on_one_redis_share_a_cap() {
    let Some(url) = crate::throttling::redis_url() else {
        return;
    };
    let prefix = crate::throttling::fresh_prefix("concurrency-share");
    let server = || {
        let config = ServerConfig::default().with_limit_store(redis_store(&url, &prefix));
        app_with(config, Gates::default())
    };
    let (a, b) = (server(), server());
    let ann = [192, 0, 2, 1];
    let on_a = open(&a, "/feed", ann, None).await;
    let _on_b = open(&b, "/feed", ann, None).await;
    // Ann holds her two places across the two servers: both refuse a third.
    for app in [&a, &b] {
        let e = refused(app, "/feed", ann, None).await;
        assert_eq!(e["details"]["policy"], "concurrency");
    }
    // Another caller has places of their own.
    let _bob = open(&b, "/feed", [192, 0, 2, 2], None).await;
    // The stream on A ends: B admits Ann again once A has given the lease back.
    drop(on_a);
    let _again = open_when_free(&b, "/feed", ann).await;
    refused(&a, "/feed", ann, None).await;
}

/// A server that dies holding places: its leases are no longer renewed, and lapse.
#[test]
fn a_dead_servers_places_free_themselves_when_their_leases_lapse() {
    let Some(url) = crate::throttling::redis_url() else {
        return;
    };
    let prefix = crate::throttling::fresh_prefix("concurrency-lease");
    let config = || ServerConfig::default().with_limit_store(redis_store(&url, &prefix));
    let ann = [192, 0, 2, 1];
    // Server A, in a runtime of its own (which keeps renewing its leases between calls).
    let a_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let a = app_with(config(), Gates::default());
    let held = a_runtime.block_on(async {
        vec![
            open(&a, "/feed", ann, None).await,
            open(&a, "/feed", ann, None).await,
        ]
    });
    let b_runtime = tokio::runtime::Runtime::new().unwrap();
    let b = app_with(config(), Gates::default());
    // Held past the lease time (3 s): renewed, so still held.
    std::thread::sleep(Duration::from_secs(4));
    b_runtime.block_on(refused(&b, "/feed", ann, None));

    // A dies: nothing gives its places back, nothing renews them.
    std::mem::forget(held);
    a_runtime.shutdown_background();
    b_runtime.block_on(async {
        refused(&b, "/feed", ann, None).await;
        // Within the lease time, the lapsed leases are removed and the places are free. The two
        // were taken, and last renewed, moments apart: each lapses on its own.
        let _first = open_when_free(&b, "/feed", ann).await;
        let _second = open_when_free(&b, "/feed", ann).await;
        refused(&b, "/feed", ann, None).await;
    });
}

#[tokio::test]
async fn an_unreachable_redis_admits_uncounted_or_refuses_as_configured() {
    // A port nothing listens on: bind one, then close it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{closed}");
    let ann = [192, 0, 2, 1];
    let admit = app_with(
        ServerConfig::default().with_limit_store(LimitStore::redis(&url).unwrap()),
        Gates::default(),
    );
    // Nothing can be counted: past the cap of 2, still admitted.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open(&admit, "/feed", ann, None).await);
    }
    let refuse = app_with(
        ServerConfig::default().with_limit_store(
            LimitStore::redis(&url)
                .unwrap()
                .when_unreachable(plugin_routes::WhenUnreachable::Refuse),
        ),
        Gates::default(),
    );
    let response = refuse.oneshot(request("/feed", ann, None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
}
