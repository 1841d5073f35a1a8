//! Bringing one's own authentication: the items plugin mounted with an authenticator written
//! here (signed team tokens), not the built-in store. The routes' declared `security(...)` and
//! `scopes(...)` are enforced on whatever it answers, and documented the same way.

use items_example::{ItemsPlugin, ItemsState};
use plugin_runtime::auth::{Authentication, Authenticator, Refusal, Requirement};
use plugin_runtime::testing::TestClient;
use plugin_runtime::{AuthMethod, Principal, plugins};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `x-team: <team>:<secret>:<scope>,<scope>`; the team is the caller. Counts its calls, so a test
/// can see that public routes never ask it.
struct TeamTokens {
    secret: &'static str,
    calls: Arc<AtomicUsize>,
}

impl Authenticator for TeamTokens {
    fn authenticate<'a>(
        &'a self,
        request: &'a axum::http::request::Parts,
        _route: Requirement,
    ) -> Authentication<'a> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let header = request.headers.get("x-team").and_then(|v| v.to_str().ok());
        let Some([team, secret, scopes]) = header.map(|h| {
            let mut parts = h.splitn(3, ':');
            [(); 3].map(|()| parts.next().unwrap_or(""))
        }) else {
            return Authentication::refuse(Refusal::unauthorized("send `x-team`"));
        };
        if secret != self.secret || team.is_empty() {
            return Authentication::refuse(Refusal::unauthorized("send `x-team`"));
        }
        let scopes = scopes.split(',').map(str::to_owned).collect();
        // Checked like a database lookup would be: after a wait.
        Authentication::later(async move {
            tokio::task::yield_now().await;
            Ok(Arc::new(Principal::new(
                team,
                None,
                AuthMethod::ApiKey,
                scopes,
            )))
        })
    }
}

/// An authenticator that answers with a method the items routes do not admit.
struct SessionsOnly;

impl Authenticator for SessionsOnly {
    fn authenticate<'a>(
        &'a self,
        _: &'a axum::http::request::Parts,
        _: Requirement,
    ) -> Authentication<'a> {
        Authentication::admit(Principal::new(
            "someone",
            None,
            AuthMethod::Session,
            vec!["*".into()],
        ))
    }
}

async fn items() -> ItemsState {
    let url = "sqlite::memory:";
    let pool = plugin_runtime::database::connect(url).await.unwrap();
    ItemsState::open(pool, url).await.unwrap()
}

#[tokio::test]
async fn items_plugin_with_a_user_written_authenticator() {
    let calls = Arc::new(AtomicUsize::new(0));
    let auth = TeamTokens {
        secret: "s3cret",
        calls: Arc::clone(&calls),
    };
    let app = plugins![auth = auth; ItemsPlugin::new(items().await)];
    let c = TestClient::new(app);
    const ITEMS: &str = "/v1/plugins/items/items";

    // No credential, a wrong one: the authenticator's 401, in the envelope.
    let r = c.get(ITEMS).send().await;
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(
        r.json::<serde_json::Value>()["error"]["message"],
        "send `x-team`"
    );
    assert!(r.headers().contains_key("www-authenticate"));
    let r = c
        .get(ITEMS)
        .header("x-team", "red:wrong:items:read")
        .send()
        .await;
    assert_eq!(r.status(), 401);

    // Reading needs `items:read` (the plugin's scopes); writing also `items:write`.
    let reader = "red:s3cret:items:read";
    let r = c.get(ITEMS).header("x-team", reader).send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let r = c
        .post(ITEMS)
        .header("x-team", reader)
        .json(&serde_json::json!({"name": "lamp", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 403, "{}", r.text());
    assert_eq!(
        r.json::<serde_json::Value>()["error"]["details"]["missingScopes"],
        serde_json::json!(["items:write"])
    );

    // With both scopes the item is made, owned by the team the authenticator named.
    let writer = "red:s3cret:items:*";
    let r = c
        .post(ITEMS)
        .header("x-team", writer)
        .json(&serde_json::json!({"name": "lamp", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    let id = r.json::<serde_json::Value>()["id"].as_i64().unwrap();
    let one = format!("{ITEMS}/{id}");
    assert_eq!(
        c.get(&one).header("x-team", writer).send().await.status(),
        200
    );
    // Another team does not see it.
    let blue = "blue:s3cret:items:*";
    assert_eq!(
        c.get(&one).header("x-team", blue).send().await.status(),
        404
    );

    // The public health route never asks the authenticator.
    let before = calls.load(Ordering::Relaxed);
    let r = c.get("/v1/plugins/items/health").send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(calls.load(Ordering::Relaxed), before);
}

#[tokio::test]
async fn a_session_principal_is_admitted_where_sessions_are() {
    // The items routes admit `user, token, oauth`, so a session principal is let in.
    let app = plugins![auth = SessionsOnly; ItemsPlugin::new(items().await)];
    let c = TestClient::new(app);
    assert_eq!(c.get("/v1/plugins/items/items").send().await.status(), 200);
}

#[tokio::test]
async fn the_framework_refuses_what_the_route_does_not_admit_whatever_the_authenticator_says() {
    use plugin_runtime::prelude::*;

    /// Only API keys may call this.
    #[plugin_route(method = "GET", path = "/keys-only", security(token))]
    async fn keys_only() -> RouteResult<String> {
        Ok("in".into())
    }

    #[plugin(name = "strict", version = "1.0.0", routes(keys_only))]
    pub struct StrictPlugin;

    let app = plugins![auth = SessionsOnly; StrictPlugin::new()];
    let r = TestClient::new(app)
        .get("/v1/plugins/strict/keys-only")
        .send()
        .await;
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(
        r.json::<serde_json::Value>()["error"]["code"],
        "UNAUTHORIZED"
    );
}

#[tokio::test]
async fn mounted_by_hand_without_an_authenticator_a_secured_route_answers_401() {
    use plugin_runtime::{Plugin, ServerConfig};
    let router = ItemsPlugin::new(items().await).mount(&ServerConfig::default(), None);
    let c = TestClient::new(router);
    let r = c.get("/v1/plugins/items/items").send().await;
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(c.get("/v1/plugins/items/health").send().await.status(), 200);
}
