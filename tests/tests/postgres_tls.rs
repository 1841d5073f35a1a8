//! PostgreSQL over TLS (feature `postgres-tls`), through a double of a PostgreSQL server's front
//! door: it answers a client's `SSLRequest` as PostgreSQL does — `S` and a TLS handshake with
//! the test certificate for `localhost` and `127.0.0.1` (`tests/keys`), or `N` as a server
//! without TLS — and forwards what it decrypts to the real PostgreSQL that
//! `PLUGIN_TEST_POSTGRES_URL` names. It counts the connections that came over TLS and those
//! that did not, so a test sees which way the bytes went.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The codes of PostgreSQL's `SSLRequest` and `GSSENCRequest`, sent in place of a protocol
/// version before the start-up message.
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// A PostgreSQL front door on loopback.
struct PgFront {
    front: crate::fixtures::Front,
    tls: Arc<AtomicUsize>,
    plain: Arc<AtomicUsize>,
}

impl PgFront {
    /// Forwards to `upstream` (`host:port`); offers TLS when `offer_tls`, as a server with
    /// `ssl = on` does, else answers `N` as one with `ssl = off`.
    fn start(upstream: String, offer_tls: bool) -> PgFront {
        let tls = Arc::new(AtomicUsize::new(0));
        let plain = Arc::new(AtomicUsize::new(0));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config()));
        let counts = (Arc::clone(&tls), Arc::clone(&plain));
        let front = crate::fixtures::Front::start(move |client| {
            let upstream = upstream.clone();
            let acceptor = acceptor.clone();
            let (tls, plain) = (Arc::clone(&counts.0), Arc::clone(&counts.1));
            async move {
                let _ = serve_one(
                    client,
                    &upstream,
                    offer_tls.then_some(&acceptor),
                    &tls,
                    &plain,
                )
                .await;
            }
        });
        PgFront { front, tls, plain }
    }

    fn port(&self) -> u16 {
        self.front.port
    }

    /// Connections that came over TLS, and those that did not.
    fn counts(&self) -> (usize, usize) {
        (
            self.tls.load(Ordering::SeqCst),
            self.plain.load(Ordering::SeqCst),
        )
    }
}

/// One client: its negotiation answered, then everything forwarded both ways.
async fn serve_one(
    mut client: tokio::net::TcpStream,
    upstream: &str,
    tls: Option<&tokio_rustls::TlsAcceptor>,
    over_tls: &AtomicUsize,
    plain: &AtomicUsize,
) -> std::io::Result<()> {
    loop {
        let mut head = [0u8; 8];
        client.read_exact(&mut head).await?;
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        match (length, code, tls) {
            (8, SSL_REQUEST, Some(acceptor)) => {
                client.write_all(b"S").await?;
                let mut secured = acceptor.accept(client).await?;
                over_tls.fetch_add(1, Ordering::SeqCst);
                let mut server = tokio::net::TcpStream::connect(upstream).await?;
                tokio::io::copy_bidirectional(&mut secured, &mut server).await?;
                return Ok(());
            }
            // A server without TLS (or GSSAPI) says no, and the client goes on in the clear.
            (8, SSL_REQUEST | GSSENC_REQUEST, _) => client.write_all(b"N").await?,
            _ => {
                // A start-up message, sent without asking for TLS.
                plain.fetch_add(1, Ordering::SeqCst);
                let mut server = tokio::net::TcpStream::connect(upstream).await?;
                server.write_all(&head).await?;
                tokio::io::copy_bidirectional(&mut client, &mut server).await?;
                return Ok(());
            }
        }
    }
}

pub(crate) fn key_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("keys")
        .join(name)
}

pub(crate) fn server_config() -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(key_file("tls-server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(key_file("tls-server-key.pem")).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
}

/// `url` (a PostgreSQL URL) sent through `front`, with `params` added to its query.
fn through(url: &str, front: &PgFront, params: &str) -> String {
    let upstream = upstream_of(url);
    let url = url.replacen(&upstream, &format!("127.0.0.1:{}", front.port()), 1);
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// The `host:port` of a PostgreSQL URL.
fn upstream_of(url: &str) -> String {
    let after = url.split_once('@').map_or(url, |(_, a)| a);
    let after = after.split_once("://").map_or(after, |(_, a)| a);
    after.split(['/', '?']).next().unwrap().to_owned()
}

fn verified(url: &str, front: &PgFront) -> String {
    let ca = key_file("tls-ca.pem");
    through(
        url,
        front,
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    )
}

/// With `sslmode=verify-full` and the CA that signed the server's certificate, the pool's
/// connections go over TLS; without that CA the server is not trusted and nothing connects; a
/// server that offers no TLS is refused when the URL requires it; and `sslmode=disable` stays in
/// the clear.
#[tokio::test]
async fn the_database_is_reached_over_tls_as_its_url_asks() {
    let Ok(base) = std::env::var("PLUGIN_TEST_POSTGRES_URL") else {
        eprintln!("skipped: set PLUGIN_TEST_POSTGRES_URL to run it");
        return;
    };
    let front = PgFront::start(upstream_of(&base), true);
    answers(&verified(&base, &front)).await;
    let (tls, plain) = front.counts();
    assert!(tls >= 1, "over TLS: {tls}");
    assert_eq!(plain, 0, "nothing in the clear");

    // The system's roots do not know the test CA.
    let untrusted = through(&base, &front, "sslmode=verify-full");
    let e = plugin_routes::database::connect(&untrusted)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("certificate"), "{e}");
    assert!(e.contains("UnknownIssuer"), "{e}");

    // A server without TLS, where the URL requires it.
    let clear = PgFront::start(upstream_of(&base), false);
    let e = plugin_routes::database::connect(&through(&base, &clear, "sslmode=require"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not support TLS"), "{e}");
    assert_eq!(clear.counts(), (0, 0), "no start-up message was sent");

    // `disable`: no request for TLS at all.
    let before = front.counts();
    answers(&through(&base, &front, "sslmode=disable")).await;
    let after = front.counts();
    assert_eq!(after.0, before.0, "no TLS");
    assert!(after.1 > before.1, "in the clear");
}

/// A pool opened on `url` answers a query; closed after.
async fn answers(url: &str) {
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
    pool.close().await;
}

/// The example server on PostgreSQL over TLS, verifying the server against the CA its URL names,
/// confined by Landlock where the kernel can (each new connection reads that CA again): it
/// starts, writes and reads its database, and is ready; every connection it made came over TLS.
#[test]
fn the_example_server_keeps_its_database_over_tls_even_confined() {
    use crate::server::{Server, server_binary, user_with_key};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(pg) = rt.block_on(crate::fixtures::PgSchema::fresh("tls_server")) else {
        return;
    };
    let base = rt.block_on(pg.url_with_public_extension("hstore"));
    let front = PgFront::start(upstream_of(&base), true);
    let url = verified(&base, &front);
    let binary = server_binary();
    let key = user_with_key(&binary, &url, "tls@example.com", "items:*");
    let e = plugin_routes::reach::enforcement();
    let confine = e.fs.enforced && e.net.enforced;
    let env: &[(&str, &str)] = if confine {
        &[("CONFINE", "true")]
    } else {
        println!("not confined: the kernel cannot confine here: {e:?}");
        &[]
    };
    let mut server = Server::start_with(&binary, &url, env);
    server.key = Some(key);
    let (status, _, body) = server.call(
        "POST",
        "/v1/plugins/items/items",
        Some(&json!({"name": "lamp", "status": "active"})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = server.call("GET", "/v1/plugins/items/items", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("lamp"), "{body}");
    let (status, _, body) = server.call("GET", "/ready", None);
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["database"], "ready", "{ready}");
    assert_eq!(ready["serverConfined"], confine, "{ready}");
    server.kill();
    let (tls, plain) = front.counts();
    assert!(
        tls >= 2,
        "the command line's and the server's connections: {tls}"
    );
    assert_eq!(plain, 0, "nothing in the clear");
    drop(front);
    rt.block_on(pg.remove());
}
