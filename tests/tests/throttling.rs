//! Guessers and shared quotas: failed authentications limited per client address before the
//! credential store is asked, the built-in login's limits per address and per email, and quotas
//! counted in Redis, shared by servers and handled as configured when Redis cannot be reached.

use crate::fixtures::{ALICE, ALICE_PASSWORD, CutProxy, world};
use plugin_routes::auth::{Authentication, Authenticator, Requirement};
use plugin_routes::prelude::*;
use plugin_routes::testing::{TestClient, TestResponse};
use plugin_routes::{LimitStore, WhenUnreachable};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const ME: &str = "/v1/auth/me";
const LOGIN: &str = "/v1/auth/login";

fn address(last: u8) -> IpAddr {
    [198, 51, 100, last].into()
}

/// The built-in store, counting how often it is asked (each ask of an unknown key is a query).
struct Counting {
    inner: plugin_routes::Auth,
    asked: Arc<AtomicUsize>,
}

impl Authenticator for Counting {
    fn schemes(&self) -> Vec<plugin_routes::auth::Scheme> {
        self.inner.schemes()
    }

    fn authenticate<'a>(
        &'a self,
        request: &'a axum::http::request::Parts,
        route: Requirement,
    ) -> Authentication<'a> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.inner.authenticate(request, route)
    }
}

fn assert_rate_limited(r: &TestResponse, policy: &str) {
    assert_eq!(r.status(), 429, "{}", r.text());
    let e = r.error();
    assert_eq!(e["code"], "RATE_LIMITED");
    assert_eq!(e["details"]["policy"], policy);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(json!(retry), e["details"]["retryAfterSeconds"]);
    assert!(retry >= 1);
}

#[tokio::test]
async fn a_burst_of_bad_keys_gets_429_before_the_store_is_asked() {
    let w = world().await;
    let asked = Arc::new(AtomicUsize::new(0));
    let app = plugins![
        auth = Counting { inner: w.auth.clone(), asked: Arc::clone(&asked) };
        plugin_routes::auth::AuthRoutes::new(w.auth.clone()),
    ];
    let guesser = TestClient::new(app.clone()).from_address(address(1));
    let quota = plugin_routes::auth::AUTH_FAILURES.quota as usize;
    for i in 0..quota {
        let r = guesser
            .get(ME)
            .header("authorization", format!("Bearer plk_guess{i}"))
            .send()
            .await;
        assert_eq!(r.status(), 401, "guess {i}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), quota);
    // The next failure is refused, and from then on nothing reaches the store.
    let r = guesser
        .get(ME)
        .header("authorization", "Bearer plk_onemore")
        .send()
        .await;
    assert_rate_limited(&r, "auth-failures");
    let after_block = asked.load(Ordering::SeqCst);
    for i in 0..50 {
        let r = guesser
            .get(ME)
            .header("authorization", format!("Bearer plk_more{i}"))
            .send()
            .await;
        assert_rate_limited(&r, "auth-failures");
    }
    // Even a valid key from that address waits: the address is refused before any lookup.
    let r = guesser
        .get(ME)
        .header("authorization", format!("Bearer {}", w.key))
        .send()
        .await;
    assert_rate_limited(&r, "auth-failures");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        after_block,
        "the store was asked"
    );

    // Another address is not affected.
    let other = TestClient::new(app).from_address(address(2));
    let r = other
        .get(ME)
        .header("authorization", format!("Bearer {}", w.key))
        .send()
        .await;
    assert_eq!(r.status(), 200);
}

async fn try_login(c: &TestClient, email: &str, password: &str) -> TestResponse {
    c.post(LOGIN)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
}

#[tokio::test]
async fn failed_logins_are_limited_per_email_across_addresses() {
    let w = world().await;
    let quota = plugin_routes::auth::LOGIN_FAILURES_PER_EMAIL.quota;
    // Each wrong password comes from another address: the per-address quota never bites.
    for i in 0..quota {
        let c = TestClient::new(w.app.clone()).from_address(address(10 + i as u8));
        let r = try_login(&c, ALICE, "wrong password").await;
        assert_eq!(r.status(), 401, "attempt {i}");
        assert_eq!(r.error()["code"], "INVALID_CREDENTIALS");
    }
    let c = TestClient::new(w.app.clone()).from_address(address(99));
    let r = try_login(&c, ALICE, "wrong password").await;
    assert_rate_limited(&r, "login-failures");
    // Now even the right password waits: it is not checked.
    let r = try_login(&c, ALICE, ALICE_PASSWORD).await;
    assert_rate_limited(&r, "login-failures");
    // The same email spelt in capitals is the same email.
    let r = try_login(&c, &ALICE.to_uppercase(), ALICE_PASSWORD).await;
    assert_rate_limited(&r, "login-failures");
}

#[tokio::test]
async fn logins_are_limited_per_address_and_the_answers_say_so() {
    let w = world().await;
    let c = TestClient::new(w.app.clone()).from_address(address(50));
    let r = try_login(&c, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("ratelimit-policy"), Some("\"address\";q=20;w=900"));
    assert_eq!(r.header("ratelimit"), Some("\"address\";r=19;t=45"));
    // Different emails (so no email is blocked), one address: 20 attempts, then 429.
    for i in 1..20 {
        let r = try_login(&c, &format!("nobody{i}@example.com"), "x").await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = try_login(&c, ALICE, ALICE_PASSWORD).await;
    assert_rate_limited(&r, "address");
}

/// The Redis the tests share, if `PLUGIN_TEST_REDIS_URL` is set.
pub(crate) fn redis_url() -> Option<String> {
    let url = std::env::var("PLUGIN_TEST_REDIS_URL").ok();
    if url.is_none() {
        eprintln!("skipped: set PLUGIN_TEST_REDIS_URL to run the tests of quotas in Redis");
    }
    url
}

/// The `host:port` of the Redis the tests share, if `PLUGIN_TEST_REDIS_URL` is set: what a
/// proxy in front of it forwards to.
pub(crate) fn redis_upstream() -> Option<String> {
    let url = redis_url()?;
    Some(
        url.trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned(),
    )
}

/// A key prefix no other run shares.
pub(crate) fn fresh_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("plugin-tests:{test}:{}:{nanos}", std::process::id())
}

/// Five a minute for everyone.
#[plugin_route(
    method = "GET",
    path = "/scarce",
    status = 204,
    security(none),
    rate_limit(5, per = "1m", key = "route")
)]
async fn scarce() -> RouteResult<()> {
    Ok(())
}

#[plugin(name = "scarce", version = "1.0.0", routes(scarce))]
struct Scarce;

pub(crate) fn scarce_server(store: impl Into<LimitStore>) -> TestClient {
    let config = ServerConfig::default().with_limit_store(store);
    TestClient::new(plugins![config = config; Scarce::new()])
}

/// How many of `requests` to `/scarce`, sent to `a` and `b` by turns, were admitted; the rest
/// must be refused by its quota.
pub(crate) async fn admitted_by_turns(a: &TestClient, b: &TestClient, requests: usize) -> usize {
    let mut admitted = 0;
    for i in 0..requests {
        let server = if i % 2 == 0 { a } else { b };
        let r = server.get("/v1/plugins/scarce/scarce").send().await;
        match r.status().as_u16() {
            204 => admitted += 1,
            429 => assert_rate_limited(&r, "default"),
            other => panic!("status {other}: {}", r.text()),
        }
    }
    admitted
}

#[tokio::test]
async fn servers_on_one_redis_share_a_quota() {
    let Some(url) = redis_url() else { return };
    let prefix = fresh_prefix("share");
    let store = || LimitStore::redis(&url).unwrap().key_prefix(prefix.clone());
    // Two servers, each with its own connection to Redis.
    let (a, b) = (scarce_server(store()), scarce_server(store()));
    assert_eq!(
        admitted_by_turns(&a, &b, 12).await,
        5,
        "exactly the quota is admitted across both servers"
    );
    // Counted on Redis's clock: the fields agree with the in-memory store's.
    let r = a.get("/v1/plugins/scarce/scarce").send().await;
    assert_eq!(r.header("ratelimit-policy"), Some("\"default\";q=5;w=60"));
    assert!(
        r.header("ratelimit")
            .unwrap()
            .starts_with("\"default\";r=0;t=")
    );
}

#[tokio::test]
async fn unreachable_redis_admits_or_refuses_as_configured() {
    // A port nothing listens on: bind one, then close it.
    let url = format!("redis://127.0.0.1:{}", crate::readiness::closed_port());
    let admit = scarce_server(LimitStore::redis(&url).unwrap());
    for _ in 0..8 {
        let r = admit.get("/v1/plugins/scarce/scarce").send().await;
        assert_eq!(r.status(), 204, "admitted uncounted: {}", r.text());
        assert_eq!(r.header("ratelimit"), None, "no count to report");
    }
    let refuse = scarce_server(
        LimitStore::redis(&url)
            .unwrap()
            .when_unreachable(WhenUnreachable::Refuse),
    );
    let r = refuse.get("/v1/plugins/scarce/scarce").send().await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.error()["code"], "UNAVAILABLE");
}

/// With Redis out of reach, failed authentications are still limited: each server counts them
/// in its own memory meanwhile, whether the store admits or refuses what it cannot count.
#[tokio::test]
async fn failed_authentications_are_limited_while_redis_is_out_of_reach() {
    let url = format!("redis://127.0.0.1:{}", crate::readiness::closed_port());
    for then in [WhenUnreachable::Admit, WhenUnreachable::Refuse] {
        let w = world().await;
        let store = LimitStore::redis(&url).unwrap().when_unreachable(then);
        let config = ServerConfig::default().with_limit_store(store);
        let app = plugins![
            config = config;
            auth = w.auth.clone();
            plugin_routes::auth::AuthRoutes::new(w.auth.clone()),
        ];
        let guesser = TestClient::new(app.clone()).from_address(address(3));
        let quota = plugin_routes::auth::AUTH_FAILURES.quota;
        for i in 0..quota {
            let r = guesser
                .get(ME)
                .header("authorization", format!("Bearer plk_guess{i}"))
                .send()
                .await;
            assert_eq!(r.status(), 401, "{then:?}, guess {i}: {}", r.text());
        }
        let r = guesser
            .get(ME)
            .header("authorization", "Bearer plk_onemore")
            .send()
            .await;
        assert_rate_limited(&r, "auth-failures");
        if then == WhenUnreachable::Admit {
            // The login route's own quota is admitted uncounted; its failures per email are
            // counted here.
            let quota = plugin_routes::auth::LOGIN_FAILURES_PER_EMAIL.quota;
            for i in 0..quota {
                let c = TestClient::new(app.clone()).from_address(address(10 + i as u8));
                let r = try_login(&c, ALICE, "wrong password").await;
                assert_eq!(r.status(), 401, "attempt {i}: {}", r.text());
            }
            let c = TestClient::new(app.clone()).from_address(address(99));
            let r = try_login(&c, ALICE, "wrong password").await;
            assert_rate_limited(&r, "login-failures");
            let r = try_login(&c, ALICE, ALICE_PASSWORD).await;
            assert_rate_limited(&r, "login-failures");
        }
    }
}

/// Redis going away mid-run and coming back, through a proxy the test cuts and restores.
#[tokio::test]
async fn a_redis_outage_mid_run_is_survived_and_counting_resumes() {
    let Some(upstream) = redis_upstream() else {
        return;
    };
    let mut proxy = CutProxy::start(upstream).await;
    let port = proxy.port();
    let store = LimitStore::redis(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .key_prefix(fresh_prefix("outage"))
        .when_unreachable(WhenUnreachable::Refuse);
    let logs = crate::logs::captured();
    let c = scarce_server(store);
    let get = || c.get("/v1/plugins/scarce/scarce").send();
    assert_eq!(get().await.status(), 204);
    assert_eq!(get().await.status(), 204);

    // Cut: the listener and every forwarded connection close.
    proxy.cut().await;
    for _ in 0..3 {
        let r = get().await;
        assert_eq!(r.status(), 503, "{}", r.text());
    }

    // Back: the store connects again at its next attempt, no sooner than a second after the
    // last failed (refused meanwhile), and the count went on from where it was.
    proxy.restore().await;
    let back = std::time::Instant::now();
    let mut statuses = vec![get().await.status().as_u16()];
    while statuses[0] == 503 && back.elapsed() < std::time::Duration::from_secs(5) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        statuses[0] = get().await.status().as_u16();
    }
    for _ in 0..4 {
        statuses.push(get().await.status().as_u16());
    }
    assert_eq!(statuses, [204, 204, 204, 429, 429]);
    drop(proxy);

    // Each change was logged once, naming the store (never a password), however many requests
    // met it. Other tests log into the same buffer: these lines name this test's port.
    let text = logs.text();
    let ours = format!("redis://127.0.0.1:{port}/");
    let count = |what: &str| {
        text.lines()
            .filter(|l| l.contains(&ours) && l.contains(what))
            .count()
    };
    assert_eq!(count("counting rate limits in Redis"), 1, "{text}");
    assert_eq!(count("the rate-limit store is unreachable"), 1, "{text}");
    assert_eq!(count("refused with 503"), 1, "{text}");
    assert_eq!(count("reachable again"), 1, "{text}");
}

/// Failures counted in a server's memory while Redis was away still weigh once it is back: a
/// guesser who used most of the quota during an outage is not given a fresh one by Redis's
/// return.
#[tokio::test]
async fn failures_counted_during_a_redis_outage_still_weigh_once_it_is_back() {
    let Some(upstream) = redis_upstream() else {
        return;
    };
    let mut proxy = CutProxy::start(upstream).await;
    let store = LimitStore::redis(&format!("redis://127.0.0.1:{}", proxy.port()))
        .unwrap()
        .key_prefix(fresh_prefix("flap"));
    let w = world().await;
    let app = plugins![
        config = ServerConfig::default().with_limit_store(store);
        auth = w.auth.clone();
        plugin_routes::auth::AuthRoutes::new(w.auth.clone()),
    ];
    let guesser = TestClient::new(app).from_address(address(4));
    let guess = |i: u32| {
        guesser
            .get(ME)
            .header("authorization", format!("Bearer plk_flap{i}"))
            .send()
    };
    // Reachable: counted in Redis.
    assert_eq!(guess(0).await.status(), 401);
    // Cut: counted here, up to the quota.
    proxy.cut().await;
    let quota = plugin_routes::auth::AUTH_FAILURES.quota;
    for i in 1..quota {
        let r = guess(i).await;
        assert_eq!(r.status(), 401, "guess {i}: {}", r.text());
    }
    // Back: Redis has counted one failure, this server all but one of the quota. Counted in
    // both, the stricter count decides: the second failure from now on is one too many (with
    // Redis's count alone, the quota would almost start again).
    proxy.restore().await;
    assert_eq!(guess(quota).await.status(), 401);
    let r = guess(quota + 1).await;
    assert_rate_limited(&r, "auth-failures");
    drop(proxy);
}

/// Redis's host replaced without a word: the connection the store holds stops answering but
/// is never closed (no reset reaches it), while a new connection reaches Redis. The first
/// check meets the timeout; the store gives that connection up, and the next check counts on a
/// new one, where the count went on.
#[tokio::test]
async fn a_redis_connection_gone_silent_is_given_up_after_one_timeout() {
    use std::sync::atomic::AtomicBool;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(upstream) = redis_upstream() else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Each forwarded connection's flag: once set, what the client sends is read and dropped.
    let silenced: Arc<std::sync::Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
    let accepted = Arc::clone(&silenced);
    let proxy = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((client, _)) = listener.accept().await {
            let silent = Arc::new(AtomicBool::new(false));
            accepted.lock().unwrap().push(Arc::clone(&silent));
            let upstream = upstream.clone();
            conns.spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let up = async {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                        if !silent.load(Ordering::SeqCst) {
                            let _ = to_server.write_all(&buf[..n]).await;
                        }
                    }
                };
                let down = tokio::io::copy(&mut from_server, &mut to_client);
                let _ = tokio::join!(up, down);
            });
        }
    });
    let store = LimitStore::redis(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .key_prefix(fresh_prefix("silent"))
        .when_unreachable(WhenUnreachable::Refuse);
    let c = scarce_server(store);
    let get = || c.get("/v1/plugins/scarce/scarce").send();
    assert_eq!(get().await.status(), 204);
    assert_eq!(get().await.status(), 204);
    for conn in silenced.lock().unwrap().iter() {
        conn.store(true, Ordering::SeqCst);
    }
    let r = get().await;
    assert_eq!(
        r.status(),
        503,
        "no answer within the timeout: {}",
        r.text()
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get().await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [204, 204, 204, 429],
        "counted on a new connection"
    );
    proxy.abort();
}

/// A Redis that takes longer to connect to than a check waits (far away, or over TLS): the
/// checks that give up meanwhile do not cancel the connection being made, so it is made once,
/// and the checks after it count on it.
#[tokio::test]
async fn a_connection_slower_than_a_check_is_still_made_and_used() {
    let Some(upstream) = redis_upstream() else {
        return;
    };
    // Each connection is forwarded only after 1.2 s: three times what a check waits.
    let opened = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&opened);
    let slow = crate::fixtures::Front::start(move |mut client| {
        let (upstream, counted) = (upstream.clone(), Arc::clone(&counted));
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
            let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
    });
    let store = LimitStore::redis(&format!("redis://127.0.0.1:{}", slow.port))
        .unwrap()
        .key_prefix(fresh_prefix("slow"))
        .timeout(std::time::Duration::from_millis(400))
        .when_unreachable(WhenUnreachable::Refuse);
    let c = scarce_server(store);
    // Refused while the connection is being made, then counted on it.
    let mut refused = 0;
    let started = std::time::Instant::now();
    let counted_at_last = loop {
        let r = c.get("/v1/plugins/scarce/scarce").send().await;
        match r.status().as_u16() {
            503 => refused += 1,
            204 => break true,
            other => panic!("status {other}: {}", r.text()),
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            break false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(counted_at_last, "never counted after {refused} refusals");
    assert!(refused >= 1, "the first check cannot have waited 1.2 s");
    assert_eq!(
        opened.load(Ordering::SeqCst),
        1,
        "one connection, not one per check"
    );
}

/// A request that gives up on a connection being made logs Redis unreachable for its timeout;
/// what the attempt then met (here, a connection closed before Redis said a word) is logged too,
/// once for the outage, however many attempts meet it.
#[tokio::test]
async fn the_reason_an_attempt_failed_is_logged_after_a_timeout() {
    let logs = crate::fixtures::Captured::default();
    let _logging = logs.install();
    // Closes each connection 1.5 s after accepting it, having said nothing.
    let mute = crate::fixtures::Front::start(|client| async move {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        drop(client);
    });
    let c = scarce_server(
        LimitStore::redis(&format!("redis://127.0.0.1:{}", mute.port))
            .unwrap()
            .timeout(std::time::Duration::from_millis(200)),
    );
    // Requests for long enough that a second attempt meets the same end.
    let until = std::time::Instant::now() + std::time::Duration::from_millis(4800);
    while std::time::Instant::now() < until {
        let r = c.get("/v1/plugins/scarce/scarce").send().await;
        assert_eq!(r.status(), 204, "admitted uncounted: {}", r.text());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let said = logs.text();
    assert!(
        said.contains("unreachable")
            && said.contains("no answer within the store's timeout (200 ms)"),
        "{said}"
    );
    assert_eq!(
        said.matches("the rate-limit store is still unreachable")
            .count(),
        1,
        "{said}"
    );
    assert!(
        said.contains("before Redis answered: if it serves TLS, its URL is rediss://"),
        "{said}"
    );
}
