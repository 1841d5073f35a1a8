//! Authentication and scopes as a client meets them: one 401 for every bad credential, 403
//! with the missing scopes, session cookies and their attributes, logout and expiry that really
//! end a session, cross-site refusals, API keys that never exceed their owner, OAuth JWTs, and
//! items that only their owner can see.

use crate::fixtures::{ALICE, ALICE_PASSWORD, World, scopes, world, world_with};
use axum::body::Body;
use plugin_routes::testing::{TestClient, TestResponse};
use plugin_routes::{AuthConfig, auth::OAuthConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const ITEMS: &str = "/v1/plugins/items/items";

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// The error body without its request id, which differs on every request by design.
fn body_without_request_id(r: &TestResponse) -> Value {
    let mut e = r.error();
    e.as_object_mut().unwrap().remove("requestId");
    e
}

fn assert_unauthorized(r: &TestResponse) {
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(r.error()["code"], "UNAUTHORIZED");
    // The challenges of the schemes the route admits, each one of the store's.
    let challenges = r.header("www-authenticate").expect("a 401 challenges");
    let store = [
        r#"ApiKey realm="api", in="cookie", name="session""#,
        r#"ApiKey realm="api", in="cookie", name="__Host-session""#,
        r#"Bearer realm="api""#,
    ];
    let mut rest = challenges;
    while !rest.is_empty() {
        let one = store
            .iter()
            .find(|c| rest.starts_with(**c))
            .unwrap_or_else(|| panic!("not a challenge of the store: {challenges}"));
        rest = rest[one.len()..].trim_start_matches(", ");
    }
}

/// Logs in over HTTP and returns the `Cookie` header value to send.
pub(crate) async fn login(c: &TestClient, email: &str, password: &str) -> String {
    let r = c
        .post("/v1/auth/login")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let set = r.header("set-cookie").unwrap();
    set.split(';').next().unwrap().to_owned()
}

async fn add_user(w: &World, email: &str, grants: &str) -> String {
    w.auth
        .create_user(email, "a-long-password", &scopes(grants))
        .await
        .unwrap();
    w.auth
        .create_api_key(email, "k", &scopes(grants), None)
        .await
        .unwrap()
        .key
}

#[tokio::test]
async fn every_bad_credential_gets_the_same_401() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    let valid = w
        .auth
        .create_api_key(
            ALICE,
            "valid",
            &scopes("items:read"),
            Some("2099-01-01T00:00:00Z"),
        )
        .await
        .unwrap()
        .key;
    let revoked = {
        let cookie = login(&c, ALICE, ALICE_PASSWORD).await;
        let created = c
            .post("/v1/auth/api-keys")
            .header("cookie", &cookie)
            .json(&json!({"name": "to revoke", "scopes": ["items:read"]}))
            .send()
            .await
            .json::<Value>();
        let id = created["id"].as_str().unwrap();
        let r = c
            .delete(&format!("/v1/auth/api-keys/{id}"))
            .header("cookie", &cookie)
            .send()
            .await;
        assert_eq!(r.status(), 204);
        created["key"].as_str().unwrap().to_owned()
    };
    let unknown = format!("plk_{}", "A".repeat(43));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("not bearer", Some("Basic YWxpY2U6eA==".into())),
        ("empty bearer", Some("Bearer ".into())),
        ("malformed", Some(bearer("not-a-key"))),
        ("unknown key", Some(bearer(&unknown))),
        ("revoked key", Some(bearer(&revoked))),
        ("garbage JWT", Some(bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"))),
        ("cookie of no session", None),
    ];
    let mut bodies = Vec::new();
    for (name, auth) in cases {
        let mut req = c.get(ITEMS);
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        if name == "cookie of no session" {
            req = req.header("cookie", "session=bm90LWEtc2Vzc2lvbg");
        }
        let r = req.send().await;
        assert_unauthorized(&r);
        bodies.push((name, body_without_request_id(&r)));
    }
    for (name, body) in &bodies {
        assert_eq!(
            body, &bodies[0].1,
            "{name} is told apart from a missing credential"
        );
    }
    // A valid key made the same way works, so the others failed for what they are.
    let r = c
        .get(ITEMS)
        .header("authorization", bearer(&valid))
        .send()
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn expired_keys_and_sessions_stop_working() {
    let w = world_with(AuthConfig::default().with_session_ttl(Duration::from_millis(300))).await;
    let c = TestClient::new(w.app.clone());
    let key = w
        .auth
        .create_api_key(ALICE, "brief", &scopes("items:read"), Some(&soon(300)))
        .await
        .unwrap()
        .key;
    let cookie = login(&c, ALICE, ALICE_PASSWORD).await;
    let r = c
        .get(ITEMS)
        .header("authorization", bearer(&key))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let r = c.get(ITEMS).header("cookie", &cookie).send().await;
    assert_eq!(r.status(), 200);
    // Both are cached now; the cache still honours their expiry.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_unauthorized(
        &c.get(ITEMS)
            .header("authorization", bearer(&key))
            .send()
            .await,
    );
    assert_unauthorized(&c.get(ITEMS).header("cookie", &cookie).send().await);
    // Expired sessions are also swept from the store (at start, and every 64 logins).
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM auth_sessions")
            .fetch_one(&w.pool)
            .await
            .unwrap()
    };
    assert_eq!(sessions().await, 1);
    plugin_routes::Auth::open(w.pool.clone(), AuthConfig::default())
        .await
        .unwrap();
    assert_eq!(sessions().await, 0);
}

/// An RFC 3339 time `ms` from now.
fn soon(ms: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::milliseconds(ms);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn missing_scopes_get_403_with_the_scopes_listed() {
    let w = world().await;
    let reader = add_user(&w, "reader@example.com", "items:read").await;
    let c = TestClient::new(w.app.clone()).with_header("authorization", bearer(&reader));
    assert_eq!(c.get(ITEMS).send().await.status(), 200);
    let r = c
        .post(ITEMS)
        .json(&json!({"name": "x", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.error()["code"], "FORBIDDEN");
    assert_eq!(
        r.error()["details"],
        json!({"missingScopes": ["items:write"]})
    );

    let nobody = add_user(&w, "nobody@example.com", "other:thing").await;
    let r = TestClient::new(w.app.clone())
        .get(ITEMS)
        .header("authorization", bearer(&nobody))
        .send()
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.error()["details"]["missingScopes"], json!(["items:read"]));
}

#[tokio::test]
async fn the_principal_reaches_the_handler_and_public_routes_see_none() {
    let w = world().await;
    let c = TestClient::new(w.app.clone()).with_header("authorization", bearer(&w.key));
    let me = c.get("/v1/auth/me").send().await.json::<Value>();
    assert_eq!(me["email"], ALICE);
    assert_eq!(me["method"], "apiKey");
    assert_eq!(me["scopes"], json!(["items:*"]));
    assert!(me["userId"].as_str().unwrap().starts_with("usr_"));
    // The probe plugin is `security(none)`: credentials sent to it are not even looked at.
    let r = c.get("/v1/plugins/probe/caller").send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>(), json!({"caller": null}));
}

#[tokio::test]
async fn login_sets_a_server_side_session_cookie() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    let r = c
        .post("/v1/auth/login")
        .json(&json!({"email": ALICE, "password": ALICE_PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>()["method"], "session");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let set = r.header("set-cookie").unwrap().to_owned();
    let attrs: Vec<&str> = set.split("; ").collect();
    let (name, id) = attrs[0].split_once('=').unwrap();
    assert_eq!(name, "session");
    // 32 random bytes, base64url: 256 bits.
    assert_eq!(id.len(), 43);
    for want in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attrs.contains(&want), "{set} lacks {want}");
    }
    assert!(!attrs.contains(&"Secure"), "plain HTTP: {set}");
    // A fresh id on every login.
    let again = login(&c, ALICE, ALICE_PASSWORD).await;
    assert_ne!(again, attrs[0]);

    // Wrong password and unknown email: one answer.
    let wrong = c
        .post("/v1/auth/login")
        .json(&json!({"email": ALICE, "password": "wrong-password"}))
        .send()
        .await;
    let unknown = c
        .post("/v1/auth/login")
        .json(&json!({"email": "who@example.com", "password": "wrong-password"}))
        .send()
        .await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status(), 401);
        assert_eq!(r.error()["code"], "INVALID_CREDENTIALS");
        assert!(r.header("set-cookie").is_none());
    }
    assert_eq!(
        body_without_request_id(&wrong),
        body_without_request_id(&unknown)
    );
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_prefixed() {
    let w = world_with(AuthConfig::default().with_https(true)).await;
    let c = TestClient::new(w.app.clone());
    let cookie = login(&c, ALICE, ALICE_PASSWORD).await;
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
    let r = c
        .post("/v1/auth/login")
        .json(&json!({"email": ALICE, "password": ALICE_PASSWORD}))
        .send()
        .await;
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("; Secure") && set.contains("; Path=/") && !set.contains("Domain"));
    assert_eq!(
        c.get(ITEMS).header("cookie", &cookie).send().await.status(),
        200
    );
    // The unprefixed name is not the session cookie here.
    let plain = cookie.replacen("__Host-session", "session", 1);
    assert_unauthorized(&c.get(ITEMS).header("cookie", &plain).send().await);
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    let cookie = login(&c, ALICE, ALICE_PASSWORD).await;
    assert_eq!(
        c.get(ITEMS).header("cookie", &cookie).send().await.status(),
        200
    );
    let r = c
        .post("/v1/auth/logout")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(r.status(), 204);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    // The old cookie, replayed, is dead: the session is gone from the store, not just the browser.
    assert_unauthorized(&c.get(ITEMS).header("cookie", &cookie).send().await);
}

#[tokio::test]
async fn cookie_writes_from_other_sites_are_refused() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    let cookie = login(&c, ALICE, ALICE_PASSWORD).await;
    let post = |headers: &[(&str, &str)]| {
        let mut req = c
            .post(ITEMS)
            .header("cookie", &cookie)
            .header("host", "api.example.com");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.json(&json!({"name": format!("n{}", headers.len()), "status": "active"}))
    };
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("origin", "http://evil.example")][..],
        &[("origin", "null")][..],
        &[("origin", "https://api.example.com")][..],
    ] {
        let r = post(headers).send().await;
        assert_eq!(r.status(), 403, "{headers:?}");
        assert_eq!(r.error()["code"], "CSRF_REJECTED");
    }
    // Same origin, or no browser headers at all (curl), is fine.
    let r = post(&[
        ("origin", "http://api.example.com"),
        ("sec-fetch-site", "same-origin"),
    ])
    .send()
    .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    assert_eq!(post(&[]).send().await.status(), 201);
    // Reads are not refused; nor are API keys, which a browser never sends on its own.
    let r = c
        .get(ITEMS)
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let r = c
        .post(ITEMS)
        .header("authorization", bearer(&w.key))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"name": "by key", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn an_invalid_bearer_never_falls_back_to_the_cookie() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    let cookie = login(&c, ALICE, ALICE_PASSWORD).await;
    for auth in [
        bearer("plk_wrong"),
        bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2ln"),
        "Basic x".into(),
    ] {
        let r = c
            .get(ITEMS)
            .header("cookie", &cookie)
            .header("authorization", &auth)
            .send()
            .await;
        assert_unauthorized(&r);
    }
}

#[tokio::test]
async fn routes_admit_only_the_methods_they_declare() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    // Managing keys is `security(user)`: a key cannot mint keys.
    assert_unauthorized(
        &c.get("/v1/auth/api-keys")
            .header("authorization", bearer(&w.key))
            .send()
            .await,
    );
    let cookie = login(&c, ALICE, ALICE_PASSWORD).await;
    let r = c
        .get("/v1/auth/api-keys")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let keys = r.json::<Value>();
    assert_eq!(keys["keys"][0]["name"], "tests");
    assert!(
        keys["keys"][0].get("lastUsedAt").is_none(),
        "never used yet"
    );
    assert!(!r.text().contains(&w.key), "a listing never holds a secret");
    assert!(!r.text().contains("keyHash"));
    // Using the key records when (written in the background, so look a few times).
    let r = c
        .get(ITEMS)
        .header("authorization", bearer(&w.key))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let mut last_used = Value::Null;
    for _ in 0..50 {
        let keys = c
            .get("/v1/auth/api-keys")
            .header("cookie", &cookie)
            .send()
            .await
            .json::<Value>();
        last_used = keys["keys"][0]["lastUsedAt"].clone();
        if !last_used.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        last_used.as_str().is_some_and(|t| t.ends_with('Z')),
        "{last_used}"
    );
}

#[tokio::test]
async fn api_keys_are_shown_once_and_never_exceed_their_owner() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    let cookie = login(&c, ALICE, ALICE_PASSWORD).await;
    let create = |body: Value| {
        c.post("/v1/auth/api-keys")
            .header("cookie", &cookie)
            .json(&body)
            .send()
    };
    let r = create(
        json!({"name": "ci", "scopes": ["items:read"], "expiresAt": "2099-12-31T23:59:59Z"}),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    let created = r.json::<Value>();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("plk_") && key.len() == 47, "{key}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["expiresAt"], "2099-12-31T23:59:59Z");
    // The key works, with only its own scopes.
    let with_key = TestClient::new(w.app.clone()).with_header("authorization", bearer(key));
    assert_eq!(with_key.get(ITEMS).send().await.status(), 200);
    let r = with_key
        .post(ITEMS)
        .json(&json!({"name": "n", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 403);

    let r = create(json!({"name": "too much", "scopes": ["*"]})).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.error()["code"], "SCOPES_NOT_HELD");
    let r =
        create(json!({"name": "bad", "scopes": ["Items"], "expiresAt": "2000-01-01T00:00:00Z"}))
            .await;
    assert_eq!(r.status(), 400);
    let error = r.error();
    let fields: Vec<&str> = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["expiresAt", "scopes"]);
    // The command line's way in enforces the same rule.
    let err = w
        .auth
        .create_api_key(ALICE, "x", &scopes("admin"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, plugin_routes::auth::AuthError::ScopesNotHeld(_)),
        "{err}"
    );
    // Revoking someone else's key (or a made-up id) is a 404.
    let r = c
        .delete("/v1/auth/api-keys/key_nope")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.error()["code"], "API_KEY_NOT_FOUND");
}

#[tokio::test]
async fn a_key_loses_what_its_owner_loses() {
    // Scopes are checked against the owner's current scopes on every lookup: a key made with
    // `items:*` by someone who now holds only `items:read` can only read.
    let w = world().await;
    let key = add_user(&w, "shrinks@example.com", "items:*").await;
    w.auth
        .set_user_scopes("shrinks@example.com", &scopes("items:read"))
        .await
        .unwrap();
    let c = TestClient::new(w.app.clone()).with_header("authorization", bearer(&key));
    let me = c.get("/v1/auth/me").send().await.json::<Value>();
    assert_eq!(me["scopes"], json!(["items:read"]));
    let r = c
        .post(ITEMS)
        .json(&json!({"name": "n", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn items_belong_to_their_creator() {
    let w = world().await;
    let bob = add_user(&w, "bob@example.com", "items:*").await;
    let alice = TestClient::new(w.app.clone()).with_header("authorization", bearer(&w.key));
    let bob = TestClient::new(w.app.clone()).with_header("authorization", bearer(&bob));
    let item = alice
        .post(ITEMS)
        .json(&json!({"name": "diary", "status": "active"}))
        .send()
        .await
        .json::<Value>();
    let one = format!("{ITEMS}/{}", item["id"]);
    assert_eq!(alice.get(&one).send().await.status(), 200);
    for r in [
        bob.get(&one).send().await,
        bob.patch(&one).json(&json!({"name": "mine"})).send().await,
        bob.delete(&one).send().await,
    ] {
        assert_eq!(r.status(), 404, "{}", r.text());
        assert_eq!(r.error()["code"], "ITEM_NOT_FOUND");
    }
    let list = bob.get(ITEMS).send().await.json::<Value>();
    assert_eq!(list["pagination"]["total"], 0);
    // Names are unique per owner: bob's "diary" neither collides nor reveals alice's.
    let r = bob
        .post(ITEMS)
        .json(&json!({"name": "diary", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        alice.get(&one).send().await.json::<Value>()["name"],
        "diary"
    );
}

/// A body that counts the bytes anyone pulls from it.
pub(crate) fn counted_body(total: usize, pulled: Arc<AtomicUsize>) -> Body {
    struct Counted {
        left: usize,
        pulled: Arc<AtomicUsize>,
    }
    impl http_body::Body for Counted {
        type Data = bytes::Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>>
        {
            if self.left == 0 {
                return std::task::Poll::Ready(None);
            }
            let n = self.left.min(64 * 1024);
            self.left -= n;
            self.pulled.fetch_add(n, Ordering::SeqCst);
            std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from(
                vec![b' '; n],
            )))))
        }
    }
    Body::new(Counted {
        left: total,
        pulled,
    })
}

#[tokio::test]
async fn authentication_runs_before_the_body_is_read() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    let pulled = Arc::new(AtomicUsize::new(0));
    let ten_mb = 10 * 1024 * 1024;
    let r = c
        .post(ITEMS)
        .header("content-type", "application/json")
        .header("content-length", ten_mb.to_string())
        .body(counted_body(ten_mb, Arc::clone(&pulled)))
        .send()
        .await;
    assert_unauthorized(&r);
    assert_eq!(pulled.load(Ordering::SeqCst), 0, "the body was read");
    // With a credential, the same upload is refused for its size.
    let r = c
        .post(ITEMS)
        .header("authorization", bearer(&w.key))
        .header("content-type", "application/json")
        .body(counted_body(ten_mb, Arc::new(AtomicUsize::new(0))))
        .send()
        .await;
    assert_eq!(r.status(), 413);
}

mod oauth {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

    const ISSUER: &str = "https://issuer.test";
    const AUDIENCE: &str = "items-api";
    const SECRET: &[u8] = b"a shared secret of enough length";

    fn key_file(name: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("keys")
            .join(name)
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn claims(scope: &str) -> Value {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "svc-1", "exp": now() + 300, "scope": scope})
    }

    fn hs256(claims: &Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    async fn world_with_oauth() -> World {
        let oauth = OAuthConfig::new(ISSUER, AUDIENCE)
            .with_hs256_secret(SECRET)
            .with_key_file(&key_file("rsa-public.pem"))
            .unwrap()
            .with_key_file(&key_file("ec-jwks.json"))
            .unwrap();
        world_with(AuthConfig::default().with_oauth(oauth)).await
    }

    #[tokio::test]
    async fn valid_tokens_admit_with_their_scopes() {
        let w = world_with_oauth().await;
        let c = TestClient::new(w.app.clone());
        let rsa = EncodingKey::from_rsa_pem(&std::fs::read(key_file("rsa-private.pem")).unwrap())
            .unwrap();
        let ec =
            EncodingKey::from_ec_pem(&std::fs::read(key_file("ec-private.pem")).unwrap()).unwrap();
        let mut ec_header = Header::new(Algorithm::ES256);
        ec_header.kid = Some("test-ec".into());
        let tokens = [
            hs256(&claims("items:read")),
            encode(&Header::new(Algorithm::RS256), &claims("items:read"), &rsa).unwrap(),
            encode(&ec_header, &claims("items:read"), &ec).unwrap(),
        ];
        for token in &tokens {
            let me = c
                .get("/v1/auth/me")
                .header("authorization", bearer(token))
                .send()
                .await;
            assert_eq!(me.status(), 200, "{}", me.text());
            let me = me.json::<Value>();
            assert_eq!(me["method"], "oauth");
            assert_eq!(me["userId"], "oauth|svc-1");
            assert_eq!(me["scopes"], json!(["items:read"]));
            assert!(me.get("email").is_none());
            let r = c
                .get(ITEMS)
                .header("authorization", bearer(token))
                .send()
                .await;
            assert_eq!(r.status(), 200);
            let r = c
                .post(ITEMS)
                .header("authorization", bearer(token))
                .json(&json!({"name": "x", "status": "active"}))
                .send()
                .await;
            assert_eq!(r.status(), 403);
            assert_eq!(
                r.error()["details"]["missingScopes"],
                json!(["items:write"])
            );
        }
    }

    #[tokio::test]
    async fn invalid_tokens_get_the_same_401() {
        let w = world_with_oauth().await;
        let c = TestClient::new(w.app.clone());
        let mut expired = claims("items:read");
        expired["exp"] = json!(now() - 3600);
        let mut wrong_aud = claims("items:read");
        wrong_aud["aud"] = json!("another-api");
        let mut wrong_iss = claims("items:read");
        wrong_iss["iss"] = json!("https://elsewhere.test");
        let mut no_exp = claims("items:read");
        no_exp.as_object_mut().unwrap().remove("exp");
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &claims("items:*"),
            &EncodingKey::from_secret(b"not the secret at all, not at all"),
        )
        .unwrap();
        let good = hs256(&claims("items:read"));
        let (head, rest) = good.split_once('.').unwrap();
        let alg_none = format!(
            "{}.{}",
            base64_url(br#"{"alg":"none","typ":"JWT"}"#),
            rest.rsplit_once('.').unwrap().0
        );
        assert_ne!(head, alg_none.split('.').next().unwrap());
        let mut bodies = Vec::new();
        for token in [
            hs256(&expired),
            hs256(&wrong_aud),
            hs256(&wrong_iss),
            hs256(&no_exp),
            forged,
            format!("{alg_none}."),
        ] {
            let r = c
                .get(ITEMS)
                .header("authorization", bearer(&token))
                .send()
                .await;
            assert_unauthorized(&r);
            bodies.push(body_without_request_id(&r));
        }
        let missing = c.get(ITEMS).send().await;
        for b in &bodies {
            assert_eq!(b, &body_without_request_id(&missing));
        }
    }

    #[tokio::test]
    async fn tokens_are_refused_where_oauth_is_not_declared_or_not_configured() {
        // `/v1/auth/api-keys` is `security(user)`: a valid token is still no session.
        let w = world_with_oauth().await;
        let token = hs256(&claims("items:*"));
        let c = TestClient::new(w.app.clone());
        assert_unauthorized(
            &c.get("/v1/auth/api-keys")
                .header("authorization", bearer(&token))
                .send()
                .await,
        );
        // A server without OAuth configured refuses every token.
        let plain = world().await;
        assert_unauthorized(
            &TestClient::new(plain.app)
                .get(ITEMS)
                .header("authorization", bearer(&token))
                .send()
                .await,
        );
    }

    fn base64_url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

#[tokio::test]
async fn the_settings_page_is_html_under_a_strict_policy_with_a_request_id() {
    let w = world().await;
    let c = TestClient::new(w.app.clone());
    let r = c
        .get("/settings")
        .header("x-request-id", "settings-1")
        .send()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-request-id"), Some("settings-1"));
    let policy = r.header("content-security-policy").unwrap();
    assert!(
        policy.starts_with("default-src 'none'; script-src 'sha256-"),
        "{policy}"
    );
    assert!(r.text().contains("<html"), "{}", r.text());
}
