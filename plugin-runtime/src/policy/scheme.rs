//! [`Scheme`]: a security scheme an [`Authenticator`](super::Authenticator) serves, in the
//! kinds OpenAPI knows, with the words the documents show and the challenge a 401 sends.

use serde_json::{Value, json};
use std::borrow::Cow;
use std::fmt;

/// A security scheme: a way to present a credential that an
/// [`Authenticator`](super::Authenticator) checks. Routes name it in `security(...)`; the
/// OpenAPI documents describe it under `components/securitySchemes/<name>` in its
/// authenticator's words; a `401` from a route that admits it sends its challenge in
/// `WWW-Authenticate`.
///
/// ```
/// use plugin_routes::auth::Scheme;
///
/// let gateway = Scheme::header("gateway", "x-user-id")
///     .describe("The user id the company gateway sets after its own login; never sent by browsers.");
/// assert_eq!(gateway.name(), "gateway");
/// assert_eq!(gateway.challenge(), Some(r#"ApiKey realm="api", in="header", name="x-user-id""#));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheme {
    name: &'static str,
    kind: SchemeKind,
    description: Option<Cow<'static, str>>,
    challenge: Option<Cow<'static, str>>,
    /// Whether the framework refuses cross-site requests that change state when this scheme
    /// admits them (cookie schemes, unless the authenticator does it itself).
    cross_site_check: bool,
}

/// What kind of credential a [`Scheme`] takes: OpenAPI's security scheme types.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemeKind {
    /// `Authorization: Bearer <token>`; `format` hints at the token's form (`JWT`).
    Bearer {
        /// The token's form, e.g. `JWT`.
        format: Option<Cow<'static, str>>,
    },
    /// `Authorization: Basic <base64 of user:password>`.
    Basic,
    /// A key in a header, a cookie or a query parameter.
    ApiKey {
        /// Where the key is sent.
        location: KeyLocation,
        /// The header, cookie or query parameter's name.
        name: Cow<'static, str>,
    },
    /// An OAuth 2 access token, obtained through the flows listed.
    OAuth2 {
        /// How a client obtains a token.
        flows: Vec<OAuthFlow>,
    },
    /// OpenID Connect, its provider described at the discovery URL.
    OpenIdConnect {
        /// The provider's `/.well-known/openid-configuration` URL.
        url: Cow<'static, str>,
    },
    /// Mutual TLS: a client certificate.
    MutualTls,
}

/// Where an API key is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyLocation {
    /// In a request header.
    Header,
    /// In a cookie.
    Cookie,
    /// In a query parameter.
    Query,
}

impl KeyLocation {
    const fn as_str(self) -> &'static str {
        match self {
            KeyLocation::Header => "header",
            KeyLocation::Cookie => "cookie",
            KeyLocation::Query => "query",
        }
    }
}

/// One OAuth 2 flow of a [`SchemeKind::OAuth2`] scheme, with its endpoints. The scopes each
/// flow offers are those the app's routes require, filled in by the documents.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthFlow {
    /// The authorization code flow (with PKCE, for browsers and native apps).
    AuthorizationCode {
        /// Where the user authorizes the client.
        authorization_url: Cow<'static, str>,
        /// Where the code is exchanged for a token.
        token_url: Cow<'static, str>,
    },
    /// The client credentials flow, for services calling on their own behalf.
    ClientCredentials {
        /// Where the client obtains a token.
        token_url: Cow<'static, str>,
    },
}

impl Scheme {
    /// A scheme of any kind named `name`, as `security(...)` names it. Prefer the shorthands
    /// ([`Scheme::bearer`], [`Scheme::header`], ...).
    ///
    /// # Panics
    /// When `name` is not a valid component name: one or more ASCII letters, digits, `.`, `-`
    /// or `_`.
    pub fn new(name: &'static str, kind: SchemeKind) -> Self {
        assert!(
            plugin_routes_rules::is_scheme_name(name) && name != "none",
            "the security scheme name `{name}` is not valid: use ASCII letters, digits, `.`, `-` and `_` (and not `none`, which `security(none)` reads as public)"
        );
        match &kind {
            SchemeKind::ApiKey { name: key, .. } => assert!(
                !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b';' | b',')),
                "the key name of security scheme `{name}` cannot be a header, cookie or query name: {key:?}"
            ),
            SchemeKind::OAuth2 { flows } => {
                assert!(
                    !flows.is_empty(),
                    "the OAuth 2 security scheme `{name}` needs at least one flow"
                );
                for (i, f) in flows.iter().enumerate() {
                    assert!(
                        !flows[..i]
                            .iter()
                            .any(|g| std::mem::discriminant(g) == std::mem::discriminant(f)),
                        "the OAuth 2 security scheme `{name}` lists one kind of flow twice"
                    );
                }
            }
            _ => {}
        }
        let challenge = default_challenge(&kind).map(Cow::Owned);
        let cross_site_check = matches!(
            kind,
            SchemeKind::ApiKey {
                location: KeyLocation::Cookie,
                ..
            }
        );
        Scheme {
            name,
            kind,
            description: None,
            challenge,
            cross_site_check,
        }
    }

    /// `Authorization: Bearer <token>`, challenged with `Bearer realm="api"`.
    pub fn bearer(name: &'static str) -> Self {
        Scheme::new(name, SchemeKind::Bearer { format: None })
    }

    /// `Authorization: Bearer <token>` where the token has the form `format` (`JWT`).
    pub fn bearer_format(name: &'static str, format: impl Into<Cow<'static, str>>) -> Self {
        Scheme::new(
            name,
            SchemeKind::Bearer {
                format: Some(format.into()),
            },
        )
    }

    /// `Authorization: Basic ...`, challenged with `Basic realm="api", charset="UTF-8"`.
    pub fn basic(name: &'static str) -> Self {
        Scheme::new(name, SchemeKind::Basic)
    }

    /// A key in the request header `header` (a gateway's `x-user-id`).
    pub fn header(name: &'static str, header: impl Into<Cow<'static, str>>) -> Self {
        Scheme::api_key(name, KeyLocation::Header, header)
    }

    /// A key in the cookie `cookie` (a session).
    pub fn cookie(name: &'static str, cookie: impl Into<Cow<'static, str>>) -> Self {
        Scheme::api_key(name, KeyLocation::Cookie, cookie)
    }

    /// A key in the query parameter `parameter`.
    pub fn query(name: &'static str, parameter: impl Into<Cow<'static, str>>) -> Self {
        Scheme::api_key(name, KeyLocation::Query, parameter)
    }

    fn api_key(
        name: &'static str,
        location: KeyLocation,
        key: impl Into<Cow<'static, str>>,
    ) -> Self {
        Scheme::new(
            name,
            SchemeKind::ApiKey {
                location,
                name: key.into(),
            },
        )
    }

    /// An OAuth 2 access token from one of `flows`, sent as `Authorization: Bearer`.
    pub fn oauth2(name: &'static str, flows: Vec<OAuthFlow>) -> Self {
        Scheme::new(name, SchemeKind::OAuth2 { flows })
    }

    /// OpenID Connect, the provider described at `url` (its discovery document).
    pub fn openid_connect(name: &'static str, url: impl Into<Cow<'static, str>>) -> Self {
        Scheme::new(name, SchemeKind::OpenIdConnect { url: url.into() })
    }

    /// A client certificate, checked by the TLS layer in front.
    pub fn mutual_tls(name: &'static str) -> Self {
        Scheme::new(name, SchemeKind::MutualTls)
    }

    /// Sets what the documents say of the scheme: where a caller gets the credential, what it
    /// stands for. Markdown.
    #[must_use]
    pub fn describe(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the challenge a `401` sends in `WWW-Authenticate` for this scheme (RFC 9110:
    /// `<auth-scheme> <params>`), instead of the kind's default.
    ///
    /// # Panics
    /// When `challenge` cannot be a header value (a control character, a line break).
    #[must_use]
    pub fn challenge_with(mut self, challenge: impl Into<Cow<'static, str>>) -> Self {
        let challenge = challenge.into();
        assert!(
            http::HeaderValue::from_str(&challenge).is_ok(),
            "the challenge of security scheme `{}` cannot be sent in a header: {challenge:?}",
            self.name
        );
        self.challenge = Some(challenge);
        self
    }

    /// Sends no challenge for this scheme (a session cookie, which a browser cannot be asked
    /// for) where the route admits others that have one; a `401` from a route admitting no
    /// scheme with a challenge still sends this one's kind default, as RFC 9110 asks.
    #[must_use]
    pub fn without_challenge(mut self) -> Self {
        self.challenge = None;
        self
    }

    /// For a cookie scheme whose authenticator refuses cross-site requests itself
    /// ([`Refusal::cross_site`](super::Refusal::cross_site), with its own list of allowed
    /// origins): the framework then leaves them to it. Otherwise a request that changes state,
    /// admitted by a cookie scheme, from another site (`Sec-Fetch-Site: cross-site`, or an
    /// `Origin` that is not the `Host`) is refused with `403 CSRF_REJECTED`, whoever
    /// authenticated it.
    #[must_use]
    pub fn checks_cross_site_itself(mut self) -> Self {
        self.cross_site_check = false;
        self
    }

    /// Whether the framework refuses cross-site requests that change state for this scheme.
    pub(crate) fn framework_checks_cross_site(&self) -> bool {
        self.cross_site_check
    }

    /// The name `security(...)` uses, and the key under `components/securitySchemes`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The kind of credential.
    pub fn kind(&self) -> &SchemeKind {
        &self.kind
    }

    /// What the documents say of it.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The challenge a `401` sends for it, if any.
    pub fn challenge(&self) -> Option<&str> {
        self.challenge.as_deref()
    }

    /// The challenge of the scheme's kind, whatever the scheme sets.
    pub(crate) fn kind_challenge(&self) -> Option<String> {
        default_challenge(&self.kind)
    }

    /// What a caller sends, in a few words, for a 401's message: "`x-user-id` header".
    pub fn credential(&self) -> String {
        let name = self.name;
        match &self.kind {
            SchemeKind::Bearer { .. }
            | SchemeKind::OAuth2 { .. }
            | SchemeKind::OpenIdConnect { .. } => {
                format!("`{name}` (Authorization: Bearer <token>)")
            }
            SchemeKind::Basic => format!("`{name}` (Authorization: Basic <credentials>)"),
            SchemeKind::ApiKey {
                location,
                name: key,
            } => {
                format!("`{name}` (the `{key}` {})", location.as_str())
            }
            SchemeKind::MutualTls => format!("`{name}` (a client certificate)"),
        }
    }

    /// The scheme as an OpenAPI security scheme object; an OAuth 2 scheme's flows offer
    /// `scopes`.
    pub(crate) fn to_openapi(&self, scopes: &[&str]) -> Value {
        let mut value = match &self.kind {
            SchemeKind::Bearer { format } => {
                let mut v = json!({"type": "http", "scheme": "bearer"});
                if let Some(f) = format {
                    v["bearerFormat"] = json!(f);
                }
                v
            }
            SchemeKind::Basic => json!({"type": "http", "scheme": "basic"}),
            SchemeKind::ApiKey { location, name } => {
                json!({"type": "apiKey", "in": location.as_str(), "name": name})
            }
            SchemeKind::OAuth2 { flows } => {
                let offered: serde_json::Map<String, Value> = scopes
                    .iter()
                    .map(|s| ((*s).to_owned(), json!("")))
                    .collect();
                let mut all = serde_json::Map::new();
                for flow in flows {
                    let (key, mut v) = match flow {
                        OAuthFlow::AuthorizationCode {
                            authorization_url,
                            token_url,
                        } => (
                            "authorizationCode",
                            json!({"authorizationUrl": authorization_url, "tokenUrl": token_url}),
                        ),
                        OAuthFlow::ClientCredentials { token_url } => {
                            ("clientCredentials", json!({"tokenUrl": token_url}))
                        }
                    };
                    v["scopes"] = Value::Object(offered.clone());
                    all.insert(key.to_owned(), v);
                }
                json!({"type": "oauth2", "flows": all})
            }
            SchemeKind::OpenIdConnect { url } => {
                json!({"type": "openIdConnect", "openIdConnectUrl": url})
            }
            SchemeKind::MutualTls => json!({"type": "mutualTLS"}),
        };
        if let Some(d) = &self.description {
            value["description"] = json!(d);
        }
        value
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The challenge a kind sends unless its scheme says otherwise. Schemes without a registered
/// HTTP authentication scheme (API keys, client certificates) name themselves, so a 401 always
/// says what to send, as RFC 9110 asks.
fn default_challenge(kind: &SchemeKind) -> Option<String> {
    Some(match kind {
        SchemeKind::Bearer { .. }
        | SchemeKind::OAuth2 { .. }
        | SchemeKind::OpenIdConnect { .. } => "Bearer realm=\"api\"".to_owned(),
        SchemeKind::Basic => "Basic realm=\"api\", charset=\"UTF-8\"".to_owned(),
        SchemeKind::ApiKey { location, name } => format!(
            "ApiKey realm=\"api\", in=\"{}\", name=\"{}\"",
            location.as_str(),
            name.replace(['"', '\\'], "")
        ),
        SchemeKind::MutualTls => "MutualTLS realm=\"api\"".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_the_openapi_object() {
        let cases = [
            (
                Scheme::bearer_format("t", "JWT").describe("d"),
                json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "d"}),
            ),
            (
                Scheme::basic("b"),
                json!({"type": "http", "scheme": "basic"}),
            ),
            (
                Scheme::cookie("c", "sid"),
                json!({"type": "apiKey", "in": "cookie", "name": "sid"}),
            ),
            (
                Scheme::query("q", "key"),
                json!({"type": "apiKey", "in": "query", "name": "key"}),
            ),
            (
                Scheme::openid_connect("o", "https://id.example/.well-known/openid-configuration"),
                json!({"type": "openIdConnect", "openIdConnectUrl": "https://id.example/.well-known/openid-configuration"}),
            ),
            (Scheme::mutual_tls("m"), json!({"type": "mutualTLS"})),
            (
                Scheme::oauth2(
                    "oa",
                    vec![OAuthFlow::ClientCredentials {
                        token_url: "https://id.example/token".into(),
                    }],
                ),
                json!({"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": "https://id.example/token", "scopes": {"notes:read": ""}}}}),
            ),
        ];
        for (scheme, expected) in cases {
            assert_eq!(scheme.to_openapi(&["notes:read"]), expected, "{scheme}");
        }
    }

    #[test]
    fn challenges_default_by_kind_and_can_be_replaced() {
        assert_eq!(
            Scheme::bearer("t").challenge(),
            Some("Bearer realm=\"api\"")
        );
        assert_eq!(
            Scheme::basic("b").challenge(),
            Some("Basic realm=\"api\", charset=\"UTF-8\"")
        );
        assert_eq!(
            Scheme::cookie("c", "sid").without_challenge().challenge(),
            None
        );
        assert_eq!(
            Scheme::bearer("t")
                .challenge_with("Bearer realm=\"notes\"")
                .challenge(),
            Some("Bearer realm=\"notes\"")
        );
    }

    #[test]
    #[should_panic(expected = "is not valid")]
    fn a_name_openapi_cannot_key_is_refused() {
        let _ = Scheme::bearer("two words");
    }
}
