//! Bringing one's own authentication: plugins mounted with an authenticator written here (a
//! team header), not the built-in store. It names the scheme it serves; routes name schemes in
//! `security(...)`; the framework enforces the declaration on whatever the authenticator
//! answers, the documents describe the authenticator's scheme in its words and no other, a 401
//! challenges for it, and a route naming a scheme nothing serves stops the server at start.

use items_example::{ItemsPlugin, ItemsState};
use plugin_routes::auth::{Authentication, Authenticator, OAuthFlow, Refusal, Requirement, Scheme};
use plugin_routes::testing::TestClient;
use plugin_routes::{Principal, Security, ServerConfig, app, plugins};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `x-team: <team>:<secret>:<scope>,<scope>`; the team is the caller. Counts its calls, so a test
/// can see that public routes never ask it.
struct TeamTokens {
    secret: &'static str,
    calls: Arc<AtomicUsize>,
}

const TEAM_WORDS: &str =
    "`<team>:<secret>:<scopes>`, set by the company gateway after its own login.";

impl Authenticator for TeamTokens {
    fn schemes(&self) -> Vec<Scheme> {
        vec![Scheme::header("team", "x-team").describe(TEAM_WORDS)]
    }

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
            Ok(Arc::new(Principal::new(team, None, "team", scopes)))
        })
    }
}

fn team_tokens() -> TeamTokens {
    TeamTokens {
        secret: "s3cret",
        calls: Arc::new(AtomicUsize::new(0)),
    }
}

async fn items() -> ItemsState {
    let url = "sqlite::memory:";
    let pool = plugin_routes::database::connect(url).await.unwrap();
    ItemsState::open(pool, url).await.unwrap()
}

/// The items plugin is written for the built-in store (`security(user, token, oauth)`); the
/// host admits its callers by its own scheme instead.
fn behind_the_gateway() -> ServerConfig {
    ServerConfig::default()
        .with_default_security(Security::of(&["team"]))
        .with_plugin_security("items", Security::of(&["team"]))
}

#[tokio::test]
async fn items_plugin_with_a_user_written_authenticator() {
    let auth = team_tokens();
    let calls = Arc::clone(&auth.calls);
    let app = plugins![config = behind_the_gateway(); auth = auth; ItemsPlugin::new(items().await)];
    let c = TestClient::new(app);
    const ITEMS: &str = "/v1/plugins/items/items";

    // No credential, a wrong one: the authenticator's 401, in the envelope, challenging for
    // the scheme it serves.
    let r = c.get(ITEMS).send().await;
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(r.error()["message"], "send `x-team`");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"ApiKey realm="api", in="header", name="x-team""#)
    );
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
        .json(&json!({"name": "lamp", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 403, "{}", r.text());
    assert_eq!(
        r.error()["details"]["missingScopes"],
        json!(["items:write"])
    );

    // With both scopes the item is made, owned by the team the authenticator named.
    let writer = "red:s3cret:items:*";
    let r = c
        .post(ITEMS)
        .header("x-team", writer)
        .json(&json!({"name": "lamp", "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    let id = r.json::<Value>()["id"].as_i64().unwrap();
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
async fn the_documents_describe_the_host_s_scheme_and_no_other() {
    let app =
        app![config = behind_the_gateway(); auth = team_tokens(); ItemsPlugin::new(items().await)];
    let served: Value = TestClient::new(app.router())
        .get("/openapi.json")
        .send()
        .await
        .json();
    assert_eq!(
        served["components"]["securitySchemes"],
        json!({"team": {"type": "apiKey", "in": "header", "name": "x-team", "description": TEAM_WORDS}}),
    );
    let list = &served["paths"]["/v1/plugins/items/items"]["get"];
    assert_eq!(list["security"], json!([{"team": ["items:read"]}]));
    assert_eq!(
        served["paths"]["/v1/plugins/items/health"]["get"]["security"],
        json!([])
    );
    // Nothing of the built-in store is promised: no API keys, no login.
    let text = served.to_string();
    for absent in ["plk_", "/v1/auth", "apiKey\":{", "session"] {
        assert!(!text.contains(absent), "the document mentions {absent}");
    }
    // The 401 says what it challenges with.
    let challenge =
        &served["components"]["responses"]["Unauthorized"]["headers"]["www-authenticate"];
    let words = challenge["description"].as_str().unwrap();
    assert!(
        words.contains(r#"`ApiKey realm="api", in="header", name="x-team"` for `team`"#),
        "{words}"
    );
    // The manifest names the scheme too.
    let routes = app.manifest()["plugins"][0]["routes"]
        .as_array()
        .unwrap()
        .clone();
    let list = routes
        .iter()
        .find(|r| r["path"] == "/v1/plugins/items/items" && r["method"] == "GET")
        .unwrap();
    assert_eq!(list["security"], json!(["team"]), "{list}");
}

/// Two schemes: the team header, and partners' bearer tokens.
struct TeamsAndPartners;

impl Authenticator for TeamsAndPartners {
    fn schemes(&self) -> Vec<Scheme> {
        vec![
            Scheme::header("team", "x-team").describe(TEAM_WORDS),
            Scheme::bearer("partner")
                .describe("A partner's token, issued by the partner desk.")
                .challenge_with(r#"Bearer realm="partners""#),
        ]
    }

    fn authenticate<'a>(
        &'a self,
        request: &'a axum::http::request::Parts,
        _: Requirement,
    ) -> Authentication<'a> {
        let scheme = if request.headers.contains_key("authorization") {
            "partner"
        } else {
            "team"
        };
        Authentication::admit(Principal::new("someone", None, scheme, vec!["*".into()]))
    }
}

mod strict {
    use plugin_routes::prelude::*;

    /// Only teams may call this; it says which scheme admitted the caller.
    #[plugin_route(method = "GET", path = "/teams-only", security(team))]
    pub(crate) async fn teams_only(ctx: Ctx<()>) -> RouteResult<String> {
        Ok(ctx
            .principal()
            .map(|p| p.scheme())
            .unwrap_or("?")
            .to_owned())
    }

    /// Teams or partners.
    #[plugin_route(method = "GET", path = "/either", security(team, partner))]
    pub(crate) async fn either(ctx: Ctx<()>) -> RouteResult<String> {
        Ok(ctx
            .principal()
            .map(|p| p.scheme())
            .unwrap_or("?")
            .to_owned())
    }

    #[plugin(name = "strict", version = "1.0.0", routes(teams_only, either))]
    pub struct StrictPlugin;
}
use strict::StrictPlugin;

#[tokio::test]
async fn the_framework_refuses_a_scheme_the_route_does_not_admit_and_says_which_admitted() {
    let c = TestClient::new(plugins![auth = TeamsAndPartners; StrictPlugin::new()]);
    let r = c.get("/v1/plugins/strict/teams-only").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<String>(), "team");
    let r = c
        .get("/v1/plugins/strict/either")
        .header("authorization", "Bearer p")
        .send()
        .await;
    assert_eq!(r.json::<String>(), "partner");

    // A partner is admitted by the authenticator, but the route admits only teams.
    let r = c
        .get("/v1/plugins/strict/teams-only")
        .header("authorization", "Bearer p")
        .send()
        .await;
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(r.error()["code"], "UNAUTHORIZED");
    assert_eq!(
        r.error()["message"],
        "authentication required: send `team` (the `x-team` header)"
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"ApiKey realm="api", in="header", name="x-team""#)
    );
}

#[tokio::test]
async fn a_401_challenges_for_every_scheme_the_route_admits() {
    struct Nobody;
    impl Authenticator for Nobody {
        fn schemes(&self) -> Vec<Scheme> {
            TeamsAndPartners.schemes()
        }
        fn authenticate<'a>(
            &'a self,
            _: &'a axum::http::request::Parts,
            _: Requirement,
        ) -> Authentication<'a> {
            Authentication::refuse(Refusal::unauthorized("nobody gets in"))
        }
    }
    let c = TestClient::new(plugins![auth = Nobody; StrictPlugin::new()]);
    let r = c.get("/v1/plugins/strict/either").send().await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"ApiKey realm="api", in="header", name="x-team", Bearer realm="partners""#)
    );
}

/// The message of the panic `f` makes.
fn start_refusal(f: impl FnOnce()) -> String {
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("the server started");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn a_route_naming_a_scheme_nothing_serves_stops_the_server_at_start() {
    // `team` alone is served; `either` also names `partner`.
    let message = start_refusal(|| {
        let _ = plugins![auth = team_tokens(); StrictPlugin::new()];
    });
    assert!(
        message.contains("GET /v1/plugins/strict/either names `partner`"),
        "{message}"
    );
    assert!(message.contains("it serves `team`"), "{message}");
    assert!(!message.contains("teams-only"), "{message}");

    // A typo is met with the served name closest to it.
    mod typo {
        use plugin_routes::prelude::*;
        #[plugin_route(method = "GET", path = "/t", security(teem))]
        pub(crate) async fn t() -> RouteResult<String> {
            Ok(String::new())
        }
        #[plugin(name = "typo", version = "1.0.0", routes(t))]
        pub struct TypoPlugin;
    }
    let message = start_refusal(|| {
        let _ = plugins![auth = team_tokens(); typo::TypoPlugin::new()];
    });
    assert!(
        message.contains("GET /v1/plugins/typo/t names `teem` (did you mean `team`?)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_plugin_that_declares_nothing_takes_the_server_default_which_must_be_served() {
    let state = items().await;
    let message = start_refusal(move || {
        // The items plugin names the store's schemes; no host security for it.
        let _ = plugins![auth = team_tokens(); ItemsPlugin::new(state)];
    });
    assert!(
        message.contains("GET /v1/plugins/items/items names `user` and `token` and `oauth`"),
        "{message}"
    );

    mod quiet {
        use plugin_routes::prelude::*;
        #[plugin_route(method = "GET", path = "/q")]
        pub(crate) async fn q() -> RouteResult<String> {
            Ok(String::new())
        }
        #[plugin(name = "quiet", version = "1.0.0", routes(q))]
        pub struct QuietPlugin;
    }
    let message = start_refusal(|| {
        let _ = plugins![config = ServerConfig::default(); auth = team_tokens(); quiet::QuietPlugin::new()];
    });
    assert!(
        message.contains("with_default_security(Security::of(&[...]))"),
        "{message}"
    );
    // With the default set, it starts and admits teams.
    let config = ServerConfig::default().with_default_security(Security::of(&["team"]));
    let c =
        TestClient::new(plugins![config = config; auth = team_tokens(); quiet::QuietPlugin::new()]);
    let r = c
        .get("/v1/plugins/quiet/q")
        .header("x-team", "red:s3cret:")
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
}

#[test]
fn host_security_for_a_plugin_that_is_not_mounted_stops_the_server() {
    let message = start_refusal(|| {
        let config = ServerConfig::default()
            .with_default_security(Security::of(&["team"]))
            .with_plugin_security("itms", Security::of(&["team"]));
        let _ = plugins![config = config; auth = team_tokens(); StrictPlugin::new()];
    });
    assert!(message.contains("names `itms`"), "{message}");
}

#[tokio::test]
async fn an_oauth_scheme_offers_the_scopes_the_routes_require() {
    struct Provider;
    impl Authenticator for Provider {
        fn schemes(&self) -> Vec<Scheme> {
            vec![
                Scheme::oauth2(
                    "team",
                    vec![OAuthFlow::ClientCredentials {
                        token_url: "https://id.example.com/token".into(),
                    }],
                )
                .describe("Tokens from the company's identity provider."),
            ]
        }
        fn authenticate<'a>(
            &'a self,
            _: &'a axum::http::request::Parts,
            _: Requirement,
        ) -> Authentication<'a> {
            Authentication::refuse(Refusal::unauthorized("send a token"))
        }
    }
    let app = app![config = behind_the_gateway(); auth = Provider; ItemsPlugin::new(items().await)];
    let doc: Value = serde_json::from_slice(
        app.documents()
            .into_iter()
            .find(|(name, _)| name == "openapi.json")
            .unwrap()
            .1,
    )
    .unwrap();
    let flow = &doc["components"]["securitySchemes"]["team"]["flows"]["clientCredentials"];
    assert_eq!(flow["tokenUrl"], "https://id.example.com/token");
    let offered: Vec<&str> = flow["scopes"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(offered, ["items:read", "items:write"]);
    // An OAuth 2 scheme is challenged as a bearer token.
    let r = TestClient::new(app.router())
        .get("/v1/plugins/items/items")
        .send()
        .await;
    assert_eq!(r.header("www-authenticate"), Some(r#"Bearer realm="api""#));
}

#[tokio::test]
async fn mounted_by_hand_without_an_authenticator_a_secured_route_answers_401() {
    use plugin_routes::Plugin;
    let router = ItemsPlugin::new(items().await).mount(&ServerConfig::default(), None);
    let c = TestClient::new(router);
    let r = c.get("/v1/plugins/items/items").send().await;
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(c.get("/v1/plugins/items/health").send().await.status(), 200);
}

/// A session cookie of the host's own, its authenticator leaving cross-site checks to the
/// framework.
struct Sessions;

impl Authenticator for Sessions {
    fn schemes(&self) -> Vec<Scheme> {
        vec![Scheme::cookie("sid", "sid").describe("The host's own session.")]
    }

    fn authenticate<'a>(
        &'a self,
        request: &'a axum::http::request::Parts,
        _: Requirement,
    ) -> Authentication<'a> {
        if request.headers.contains_key("cookie") {
            Authentication::admit(Principal::new("ada", None, "sid", vec!["*".into()]))
        } else {
            Authentication::refuse(Refusal::unauthorized("log in"))
        }
    }
}

mod cookies {
    use plugin_routes::prelude::*;

    /// Changes state.
    #[plugin_route(method = "POST", path = "/touch", status = 204, security(sid))]
    pub(crate) async fn touch() -> RouteResult<()> {
        Ok(())
    }

    /// Reads.
    #[plugin_route(method = "GET", path = "/look", security(sid))]
    pub(crate) async fn look() -> RouteResult<String> {
        Ok("seen".into())
    }

    /// Wrong password: the route's own 401.
    #[plugin_route(
        method = "POST",
        path = "/login",
        status = 204,
        security(none),
        errors(WRONG_PASSWORD = 401)
    )]
    pub(crate) async fn login() -> RouteResult<()> {
        Err(route_error!(WRONG_PASSWORD))
    }

    #[plugin(name = "cookies", version = "1.0.0", routes(touch, look, login))]
    pub struct CookiesPlugin;
}

#[tokio::test]
async fn a_cookie_scheme_of_the_host_s_own_is_refused_across_sites_by_the_framework() {
    let c = TestClient::new(plugins![auth = Sessions; cookies::CookiesPlugin::new()]);
    const TOUCH: &str = "/v1/plugins/cookies/touch";
    let r = c
        .post(TOUCH)
        .header("cookie", "sid=1")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await;
    assert_eq!(r.status(), 403, "{}", r.text());
    assert_eq!(r.error()["code"], "CSRF_REJECTED");
    let r = c
        .post(TOUCH)
        .header("cookie", "sid=1")
        .header("host", "app.example")
        .header("origin", "https://evil.example")
        .send()
        .await;
    assert_eq!(r.error()["code"], "CSRF_REJECTED");
    // From its own site, and reads from anywhere, go through.
    let r = c
        .post(TOUCH)
        .header("cookie", "sid=1")
        .header("host", "app.example")
        .header("origin", "https://app.example")
        .send()
        .await;
    assert_eq!(r.status(), 204, "{}", r.text());
    let r = c
        .get("/v1/plugins/cookies/look")
        .header("cookie", "sid=1")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    // The documents promise exactly that.
    let doc: Value = c.get("/openapi.json").send().await.json();
    let touch = &doc["paths"][TOUCH]["post"]["responses"]["403"];
    assert_eq!(
        touch["$ref"], "#/components/responses/CsrfRejected",
        "{touch}"
    );
}

#[tokio::test]
async fn a_401_the_route_answers_itself_names_how_to_authenticate() {
    let c = TestClient::new(plugins![auth = Sessions; cookies::CookiesPlugin::new()]);
    let r = c.post("/v1/plugins/cookies/login").send().await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.error()["code"], "WRONG_PASSWORD");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"ApiKey realm="api", in="cookie", name="sid""#)
    );
}

mod mixed {
    use plugin_routes::prelude::*;

    /// Takes the plugin's security.
    #[plugin_route(method = "GET", path = "/inherits")]
    pub(crate) async fn inherits(ctx: Ctx<()>) -> RouteResult<String> {
        Ok(ctx
            .principal()
            .map(|p| p.scheme())
            .unwrap_or("?")
            .to_owned())
    }

    /// Narrowed on purpose: teams only.
    #[plugin_route(method = "GET", path = "/own", security(team))]
    pub(crate) async fn own(ctx: Ctx<()>) -> RouteResult<String> {
        Ok(ctx
            .principal()
            .map(|p| p.scheme())
            .unwrap_or("?")
            .to_owned())
    }

    #[plugin(
        name = "mixed",
        version = "1.0.0",
        security(team),
        routes(inherits, own)
    )]
    pub struct MixedPlugin;
}

#[tokio::test]
async fn the_host_s_security_for_a_plugin_never_replaces_what_a_route_declares() {
    let config = ServerConfig::default().with_plugin_security("mixed", Security::of(&["partner"]));
    let c = TestClient::new(
        plugins![config = config; auth = TeamsAndPartners; mixed::MixedPlugin::new()],
    );
    let partner = |path: &'static str| c.get(path).header("authorization", "Bearer p").send();
    // The inherited security is the host's now...
    assert_eq!(partner("/v1/plugins/mixed/inherits").await.status(), 200);
    assert_eq!(
        c.get("/v1/plugins/mixed/inherits").send().await.status(),
        401
    );
    // ...and the route that narrowed its own keeps it.
    assert_eq!(partner("/v1/plugins/mixed/own").await.status(), 401);
    assert_eq!(c.get("/v1/plugins/mixed/own").send().await.status(), 200);
}

#[tokio::test]
async fn a_client_certificate_scheme_is_written_for_openapi_3_0_too() {
    struct Certificates;
    impl Authenticator for Certificates {
        fn schemes(&self) -> Vec<Scheme> {
            vec![Scheme::mutual_tls("team").describe("The client certificate the proxy checked.")]
        }
        fn authenticate<'a>(
            &'a self,
            _: &'a axum::http::request::Parts,
            _: Requirement,
        ) -> Authentication<'a> {
            Authentication::refuse(Refusal::unauthorized("present a certificate"))
        }
    }
    let app = app![auth = Certificates; mixed::MixedPlugin::new()];
    let doc = |name: &str| -> Value {
        let (_, bytes) = app
            .documents()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap();
        serde_json::from_slice(bytes).unwrap()
    };
    assert_eq!(
        doc("openapi.json")["components"]["securitySchemes"]["team"]["type"],
        "mutualTLS"
    );
    let v30 = &doc("openapi-3.0.json")["components"]["securitySchemes"]["team"];
    assert_eq!(v30["type"], "http");
    assert_eq!(v30["scheme"], "mutual");
    assert!(
        v30["description"]
            .as_str()
            .unwrap()
            .starts_with("The client certificate")
    );
}
