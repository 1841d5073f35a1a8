//! The typed clients: `ItemsClient` against the real `example-server` binary over TCP (every
//! route's success, every declared code and the framework's codes each as its variant, inputs
//! refused before sending with the server's own field errors), and a client of a test plugin
//! against a server that answers what the declarations do not allow.

use crate::server::{Server, cli, fresh_sqlite, server_binary};
use items_example::items_client::{
    CreateItemError, DeleteItemError, GetItemError, ItemsClient, ListItemsError, UpdateItemError,
};
use items_example::{CreateItem, ItemStatus, ListQuery, UpdateItem};
use plugin_routes::Location;
/// A user with `items:*` and keys: one with every scope, one that may only read.
fn keys(binary: &std::path::PathBuf, url: &str) -> (String, String) {
    let out = cli(
        binary,
        url,
        &[
            "users",
            "create",
            "--email",
            "client@example.com",
            "--scopes",
            "items:*",
            "--with-api-key",
            "all",
        ],
        "a long password\n",
    );
    let all = out.lines().last().unwrap().to_owned();
    let out = cli(
        binary,
        url,
        &[
            "api-keys",
            "create",
            "--email",
            "client@example.com",
            "--name",
            "reader",
            "--scopes",
            "items:read",
        ],
        "",
    );
    (all, out.lines().last().unwrap().to_owned())
}

fn lamp(name: &str) -> CreateItem {
    CreateItem {
        name: name.to_owned(),
        status: ItemStatus::Active,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_items_client_calls_every_route_and_gets_every_answer_as_a_type() {
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("client");
    let (all, reader) = keys(&binary, &url);
    let server = Server::start_with(&binary, &url, &[("AUTH_FAILURES_PER_MINUTE", "2")]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let client = ItemsClient::new(&base).unwrap().bearer(&all);

    // Success on every route, in the handlers' own types.
    let health = client.health().await.unwrap();
    assert_eq!((&*health.status, &*health.plugin), ("healthy", "items"));
    let made = client.create_item(lamp("lamp")).await.unwrap();
    assert_eq!(
        (made.name.as_str(), made.status),
        ("lamp", ItemStatus::Active)
    );
    assert_eq!(client.get_item(made.id).await.unwrap(), made);
    let page = client
        .list_items(ListQuery {
            page: 1,
            limit: 20,
            filter: Some(ItemStatus::Active),
        })
        .await
        .unwrap();
    assert_eq!(page.items, std::slice::from_ref(&made));
    let renamed = client
        .update_item(
            made.id,
            UpdateItem {
                name: Some("desk lamp".into()),
                status: Some(ItemStatus::Archived),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.status),
        ("desk lamp", ItemStatus::Archived)
    );
    client.create_item(lamp("chair")).await.unwrap();

    // Each declared code as its variant, with the envelope's message and request id.
    client.delete_item(made.id).await.unwrap();
    match client.get_item(made.id).await {
        Err(GetItemError::ItemNotFound(e)) => {
            assert_eq!(e.code, "ITEM_NOT_FOUND");
            assert!(e.request_id.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.delete_item(made.id).await,
        Err(DeleteItemError::ItemNotFound(_))
    ));
    assert!(matches!(
        client.create_item(lamp("chair")).await,
        Err(CreateItemError::ItemExists(_))
    ));
    let chair = client
        .list_items(ListQuery {
            page: 1,
            limit: 20,
            filter: None,
        })
        .await
        .unwrap()
        .items
        .remove(0);
    let taken = UpdateItem {
        name: Some("chair".into()),
        status: None,
    };
    assert!(matches!(
        client
            .update_item(chair.id + 100, UpdateItem::default())
            .await,
        Err(UpdateItemError::ItemNotFound(_))
    ));
    let table = client.create_item(lamp("table")).await.unwrap();
    assert!(matches!(
        client.update_item(table.id, taken).await,
        Err(UpdateItemError::ItemExists(_))
    ));

    // Invalid input: refused before sending, with the field errors the server would list.
    let too_long = lamp(&"x".repeat(101));
    let before = match client.create_item(too_long).await {
        Err(CreateItemError::InvalidInput(i)) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(before.request_id, None, "nothing was sent");
    let unchecked = client.clone().validate_before_sending(false);
    let after = match unchecked.create_item(lamp(&"x".repeat(101))).await {
        Err(CreateItemError::InvalidInput(i)) => i,
        other => panic!("{other:?}"),
    };
    assert!(after.request_id.is_some(), "the server answered");
    assert_eq!(
        before.fields, after.fields,
        "the same rules, the same words"
    );
    assert_eq!(
        (before.fields[0].location, before.fields[0].path.as_str()),
        (Location::Body, "name")
    );
    let query = ListQuery {
        page: 0,
        limit: 500,
        filter: None,
    };
    let (ListItemsError::InvalidInput(local), ListItemsError::InvalidInput(remote)) = (
        client
            .list_items(ListQuery {
                page: 0,
                limit: 500,
                filter: None,
            })
            .await
            .unwrap_err(),
        unchecked.list_items(query).await.unwrap_err(),
    ) else {
        panic!("both are INVALID_INPUT");
    };
    assert_eq!(local.fields, remote.fields);
    assert_eq!(local.fields.len(), 2, "both problems listed");

    // A body over the server's limit, sent unchecked.
    let big = unchecked.create_item(lamp(&"y".repeat(2 << 20))).await;
    assert!(
        matches!(big, Err(CreateItemError::PayloadTooLarge(_))),
        "{big:?}"
    );

    // Who may call: no credential, a key without the scope, then too many failures (which
    // refuse the address for a while, so they come last).
    let reader = ItemsClient::new(&base).unwrap().bearer(&reader);
    match reader.create_item(lamp("stool")).await {
        Err(CreateItemError::Forbidden(f)) => assert_eq!(f.missing_scopes, ["items:write"]),
        other => panic!("{other:?}"),
    }
    assert!(reader.get_item(chair.id).await.is_ok());
    let nobody = ItemsClient::new(&base).unwrap();
    assert!(matches!(
        nobody.get_item(chair.id).await,
        Err(GetItemError::Unauthorized(_))
    ));
    let wrong = ItemsClient::new(&base).unwrap().bearer("plk_not_a_key");
    let mut limited = None;
    for _ in 0..4 {
        if let Err(GetItemError::RateLimited(r)) = wrong.get_item(1).await {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("failed authentications are rate limited");
    assert!(limited.retry_after.is_some_and(|d| d.as_secs() > 0));

    server.kill();

    // No server at all: a transport failure, not a panic.
    assert!(matches!(
        client.get_item(1).await,
        Err(GetItemError::Transport(_))
    ));
    let _ = std::fs::remove_dir_all(dir);
}

/// A plugin of the test's own, for the framework codes the items server cannot be made to send.
pub(crate) mod odd {
    use plugin_routes::prelude::*;
    use std::time::Duration;

    #[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
    pub(crate) struct Pong {
        pub(crate) n: u32,
    }

    /// Never in time.
    #[plugin_route(method = "GET", path = "/slow", timeout_ms = 50, security(none))]
    pub(crate) async fn slow() -> RouteResult<Pong> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(Pong { n: 0 })
    }

    /// Always failing inside.
    #[plugin_route(method = "GET", path = "/broken", security(none))]
    pub(crate) async fn broken() -> RouteResult<Pong> {
        Err(plugin_routes::RouteError::internal("the disk is gone"))
    }

    /// Answers, or says it is not there.
    #[plugin_route(
        method = "GET",
        path = "/pong/{n}",
        security(none),
        errors(NO_PONG = 404)
    )]
    pub(crate) async fn pong(n: u32) -> RouteResult<Pong> {
        if n == 0 {
            return Err(route_error!(NO_PONG, "no pong for 0"));
        }
        Ok(Pong { n })
    }

    /// The word back.
    #[plugin_route(method = "GET", path = "/echo/{word}", security(none))]
    pub(crate) async fn echo(word: String) -> RouteResult<String> {
        Ok(word)
    }

    /// Counts to `n`, then fails if `n` is odd.
    #[plugin_route(method = "GET", path = "/count/{n}", security(none), errors(ODD = 409))]
    pub(crate) async fn count(n: u32) -> RouteResult<plugin_routes::EventStream<Pong>> {
        let items = (1..=n)
            .map(Ok)
            .chain((n % 2 == 1).then(|| Err(route_error!(ODD, "{n} is odd"))));
        Ok(plugin_routes::EventStream::new(futures_util::stream::iter(
            items.map(|r| r.map(|n| Pong { n })),
        )))
    }

    /// A plugin whose client is tested against servers good and bad.
    #[plugin(name = "odd", version = "1.0.0", client = OddClient, routes(slow, broken, pong, count, echo))]
    pub(crate) struct OddPlugin;
}

pub(crate) async fn listen(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { plugin_routes::serve(listener, app).await });
    format!("http://127.0.0.1:{port}")
}

/// A gateway in front of the odd plugin: it lets a request through only with `x-user-id` and an
/// `x-signature` of its method and path, as a host's own authentication might.
async fn gateway(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let headers = request.headers();
    let signed = format!("{} {}", request.method(), request.uri().path());
    let user = headers.get("x-user-id").and_then(|v| v.to_str().ok());
    let signature = headers.get("x-signature").and_then(|v| v.to_str().ok());
    if user == Some("ada") && signature == Some(signed.as_str()) {
        next.run(request).await
    } else {
        axum::response::IntoResponse::into_response((
            axum::http::StatusCode::UNAUTHORIZED,
            "the gateway says no",
        ))
    }
}

#[tokio::test]
async fn the_client_sends_the_host_s_headers_and_goes_through_its_layers() {
    use odd::odd_client::{OddClient, PongError};
    use plugin_routes::client::Client;
    let app =
        plugin_routes::plugins![odd::OddPlugin::new()].layer(axum::middleware::from_fn(gateway));
    let base = listen(app).await;
    // Signs each request as it leaves, whatever the route.
    let sign = tower::util::MapRequestLayer::new(
        |mut request: axum::http::Request<http_body_util::Full<bytes::Bytes>>| {
            let signed = format!("{} {}", request.method(), request.uri().path());
            request
                .headers_mut()
                .insert("x-signature", signed.parse().unwrap());
            request
        },
    );
    let client = OddClient::from_client(
        Client::new(&base)
            .unwrap()
            .header("x-user-id", "ada")
            .unwrap()
            .layer(sign.clone()),
    );
    assert_eq!(client.pong(3).await.unwrap(), odd::Pong { n: 3 });
    assert!(matches!(client.pong(0).await, Err(PongError::NoPong(_))));
    // A stream's events come through the layer too.
    use futures_util::StreamExt;
    let events: Vec<_> = client.count(2).await.unwrap().collect().await;
    assert_eq!(events, [Ok(odd::Pong { n: 1 }), Ok(odd::Pong { n: 2 })]);

    // Without either, the gateway refuses, and the client says the answer was not declared.
    let unsigned = OddClient::new(&base)
        .unwrap()
        .header("x-user-id", "ada")
        .unwrap();
    match unsigned.pong(3).await {
        Err(PongError::Unexpected(u)) => assert_eq!(u.status, 401),
        other => panic!("{other:?}"),
    }
    let anonymous = OddClient::from_client(Client::new(&base).unwrap().layer(sign));
    assert!(matches!(
        anonymous.pong(3).await,
        Err(PongError::Unexpected(_))
    ));
    // A header that cannot be sent is refused where it is given, naming it.
    let refused = Client::new(&base)
        .unwrap()
        .header("x user", "ada")
        .unwrap_err();
    assert!(refused.to_string().contains("`x user`"), "{refused}");
    let refused = Client::new(&base)
        .unwrap()
        .header("x-user-id", "a\nb")
        .unwrap_err();
    assert!(refused.to_string().contains("x-user-id"), "{refused}");
}

#[tokio::test]
async fn timeouts_failures_and_answers_the_declaration_does_not_allow_are_their_variants() {
    use odd::odd_client::{BrokenError, OddClient, PongError, SlowError};
    let real = listen(plugin_routes::plugins![odd::OddPlugin::new()]).await;
    let client = OddClient::new(&real).unwrap();
    assert_eq!(client.pong(3).await.unwrap(), odd::Pong { n: 3 });
    assert!(matches!(client.pong(0).await, Err(PongError::NoPong(_))));
    assert!(matches!(client.slow().await, Err(SlowError::Timeout(_))));
    match client.broken().await {
        Err(BrokenError::Internal(e)) => {
            assert!(!e.message.contains("disk"), "the cause stays in the log");
        }
        other => panic!("{other:?}"),
    }

    use odd::odd_client::EchoError;
    assert_eq!(
        client.echo("héllo wörld/?".into()).await.unwrap(),
        "héllo wörld/?"
    );
    assert!(matches!(
        client.echo("x".repeat(20_000)).await,
        Err(EchoError::HeadersTooLarge(_))
    ));

    // A stream: its events typed as they arrive, an error event as the stream's last item.
    use futures_util::StreamExt;
    let events: Vec<_> = client.count(2).await.unwrap().collect().await;
    assert_eq!(events, [Ok(odd::Pong { n: 1 }), Ok(odd::Pong { n: 2 })]);
    let mut events = client.count(3).await.unwrap();
    for n in 1..=3 {
        assert_eq!(events.next().await, Some(Ok(odd::Pong { n })));
    }
    match events.next().await {
        Some(Err(plugin_routes::client::EventError::Refused(e))) => {
            assert_eq!((e.code.as_str(), e.message.as_str()), ("ODD", "3 is odd"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events.next().await, None);

    // A server that is not what the declarations say.
    let liar = axum::Router::new().route(
        "/v1/plugins/odd/pong/{n}",
        axum::routing::get(
            |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                match n {
                    1 => (axum::http::StatusCode::IM_A_TEAPOT, "short and stout").into_response(),
                    2 => (axum::http::StatusCode::OK, "{\"m\": 2}").into_response(),
                    3 => (
                        axum::http::StatusCode::CONFLICT,
                        [("content-type", "application/json")],
                        "{\"error\":{\"code\":\"SURPRISE\",\"message\":\"not declared\"}}",
                    )
                        .into_response(),
                    _ => (
                        axum::http::StatusCode::NOT_FOUND,
                        [("content-type", "application/json")],
                        "{\"error\":{\"code\":\"NO_PONG\",\"message\":\"declared\"}}",
                    )
                        .into_response(),
                }
            },
        ),
    );
    use axum::response::IntoResponse;
    let fake = listen(liar).await;
    let client = OddClient::new(&fake).unwrap();
    for (n, status, body, why) in [
        (1, 418, "short and stout", "not the error envelope"),
        (2, 200, "{\"m\": 2}", "not the route's output"),
        (3, 409, "SURPRISE", "does not declare 409 SURPRISE"),
    ] {
        match client.pong(n).await {
            Err(PongError::Unexpected(u)) => {
                assert_eq!(u.status, status, "{n}");
                assert!(u.body.contains(body), "{n}: {}", u.body);
                assert!(u.why.contains(why), "{n}: {}", u.why);
            }
            other => panic!("{n}: {other:?}"),
        }
    }
    assert!(matches!(client.pong(4).await, Err(PongError::NoPong(_))));
}

/// Accepts TLS connections with the test certificate for `127.0.0.1`, for `axum::serve`.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that fails the handshake (it does not trust the certificate) is dropped.
            if let Ok(tls) = self.tls.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn test_key(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("keys")
            .join(name),
    )
    .unwrap()
}

#[tokio::test]
async fn over_https_the_client_trusts_the_roots_it_is_given() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&test_key("tls-server.pem"))
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&test_key("tls-server-key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let listener = TlsListener {
        tcp: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tls: tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
    };
    let port = axum::serve::Listener::local_addr(&listener).unwrap().port();
    let app = plugin_routes::plugins![odd::OddPlugin::new()];
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("https://127.0.0.1:{port}");

    let trusted = plugin_routes::client::Client::with_roots(&url, &test_key("tls-ca.pem")).unwrap();
    let client = odd::odd_client::OddClient::from_client(trusted);
    assert_eq!(client.pong(5).await.unwrap(), odd::Pong { n: 5 });
    // The system's roots do not know the test CA: the handshake fails, as a transport error.
    let system = odd::odd_client::OddClient::new(&url).unwrap();
    match system.pong(5).await {
        Err(odd::odd_client::PongError::Transport(t)) => {
            assert!(t.0.contains("certificate"), "{}", t.0);
        }
        other => panic!("{other:?}"),
    }
}
