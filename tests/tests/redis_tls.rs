//! Quotas counted in Redis over TLS (`rediss://`, feature `redis-tls`), through a front that
//! ends TLS with the test certificate for `localhost` and `127.0.0.1` (`tests/keys`) and forwards
//! what it decrypts to the real Redis that `PLUGIN_TEST_REDIS_URL` names. It counts the
//! connections whose handshake succeeded, so a test sees that the bytes went over TLS.

use crate::postgres_tls::{key_file, server_config};
use crate::throttling::{admitted_by_turns, fresh_prefix, redis_upstream, scarce_server};
use plugin_routes::{LimitStore, WhenUnreachable};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Redis behind TLS on loopback.
struct RedisOverTls {
    front: crate::fixtures::Front,
    secured: Arc<AtomicUsize>,
}

impl RedisOverTls {
    fn start(upstream: String) -> RedisOverTls {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config()));
        let secured = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&secured);
        let front = crate::fixtures::Front::start(move |client| {
            let (acceptor, upstream, count) =
                (acceptor.clone(), upstream.clone(), Arc::clone(&count));
            async move {
                let Ok(mut client) = acceptor.accept(client).await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
        RedisOverTls { front, secured }
    }

    /// Connections that completed a TLS handshake.
    fn secured(&self) -> usize {
        self.secured.load(Ordering::SeqCst)
    }
}

/// Two servers share a quota in Redis reached over TLS, trusting the test CA; a server trusting
/// only the system's roots does not trust that certificate, and its limited routes answer as
/// Redis being out of reach does, with the reason logged.
#[tokio::test]
async fn quotas_are_shared_through_redis_over_tls() {
    let Some(upstream) = redis_upstream() else {
        return;
    };
    let redis = RedisOverTls::start(upstream);
    let ca = std::fs::read(key_file("tls-ca.pem")).unwrap();
    let prefix = fresh_prefix("tls");
    // By name, and by the address the certificate also carries.
    for (i, host) in ["localhost", "127.0.0.1"].into_iter().enumerate() {
        let url = format!("rediss://{host}:{}", redis.front.port);
        let store = || {
            LimitStore::redis(&url)
                .unwrap()
                .with_roots(&ca)
                .unwrap()
                .key_prefix(format!("{prefix}:{i}"))
                .timeout(std::time::Duration::from_secs(5))
                .when_unreachable(WhenUnreachable::Refuse)
        };
        let (a, b) = (scarce_server(store()), scarce_server(store()));
        assert_eq!(
            admitted_by_turns(&a, &b, 8).await,
            5,
            "{host}: the quota, across both servers"
        );
    }
    assert!(redis.secured() >= 4, "over TLS: {}", redis.secured());

    // The system's roots do not hold the test CA.
    let logs = crate::fixtures::Captured::default();
    let _logging = logs.install();
    let untrusted = scarce_server(
        LimitStore::redis(&format!("rediss://localhost:{}", redis.front.port))
            .unwrap()
            .timeout(std::time::Duration::from_secs(5))
            .when_unreachable(WhenUnreachable::Refuse),
    );
    let r = untrusted.get("/v1/plugins/scarce/scarce").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());
    assert_eq!(r.error()["code"], "UNAVAILABLE");
    let said = logs.text();
    assert!(
        said.contains("the rate-limit store is unreachable")
            && said.contains("cannot connect over TLS")
            && said.contains("UnknownIssuer")
            && said.contains("its issuer is not among the roots trusted"),
        "{said}"
    );
}

/// The example server counts its login quota in Redis over TLS, trusting the CA that
/// `SSL_CERT_FILE` names in place of the system's, or `REDIS_CA_FILE` for Redis alone, confined by Landlock where the kernel can;
/// with no roots it can read, it says so at start and refuses limited routes as told.
#[test]
fn the_example_server_counts_in_redis_over_tls() {
    use crate::server::{Server, fresh_sqlite, server_binary};
    let Some(upstream) = redis_upstream() else {
        return;
    };
    let redis = RedisOverTls::start(upstream);
    let binary = server_binary();
    let url = format!("rediss://localhost:{}", redis.front.port);
    let ca = key_file("tls-ca.pem");
    let prefix = fresh_prefix("tls-server");
    let e = plugin_routes::reach::enforcement();
    let confine = if e.fs.enforced && e.net.enforced {
        "true"
    } else {
        println!("not confined: the kernel cannot confine here: {e:?}");
        "false"
    };
    let (dir, db) = fresh_sqlite("redis-tls");
    // Roots named that cannot be read: said at start, and limited routes refused meanwhile.
    let missing = dir.join("missing-ca.pem");
    let without = Server::start_with(
        &binary,
        &db,
        &[
            ("REDIS_URL", url.as_str()),
            ("REDIS_UNREACHABLE", "refuse"),
            ("SSL_CERT_FILE", missing.to_str().unwrap()),
            ("SSL_CERT_DIR", ""),
            ("CONFINE", confine),
        ],
    );
    let said = without.startup.join("\n");
    assert!(
        said.contains("the rate-limit store is unreachable")
            && said.contains("no root certificate")
            && said.contains("SSL_CERT_FILE=")
            && said.contains("missing-ca.pem"),
        "{said}"
    );
    // Said once, though a confined server starts twice (the first start's log is held back).
    assert_eq!(
        said.matches("the rate-limit store is unreachable").count(),
        1,
        "{said}"
    );
    let body = serde_json::json!({"email": "tls@example.com", "password": "a guess"});
    let (status, _, answer) = without.call("POST", "/v1/auth/login", Some(&body));
    assert_eq!(status, 503, "{answer}");
    without.kill();
    // The test CA as the process's roots (`SSL_CERT_FILE`), then as Redis's alone
    // (`REDIS_CA_FILE`), then in a directory of roots (`SSL_CERT_DIR`) beside a file that is
    // not PEM, each with a quota of its own.
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&ca, certs.join("test-ca.pem")).unwrap();
    std::fs::write(
        certs.join("broken.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let ca = ca.to_str().unwrap();
    for (i, roots) in [
        ("SSL_CERT_FILE", ca),
        ("REDIS_CA_FILE", ca),
        ("SSL_CERT_DIR", certs.to_str().unwrap()),
    ]
    .into_iter()
    .enumerate()
    {
        let prefix = format!("{prefix}:{i}");
        let server = Server::start_with(
            &binary,
            &db,
            &[
                ("REDIS_URL", url.as_str()),
                ("REDIS_KEY_PREFIX", prefix.as_str()),
                ("REDIS_UNREACHABLE", "refuse"),
                roots,
                ("CONFINE", confine),
            ],
        );
        assert!(
            server
                .startup
                .iter()
                .any(|l| l.contains("counting rate limits in Redis") && l.contains("rediss://")),
            "{roots:?}: {:?}",
            server.startup
        );
        if roots.0 == "SSL_CERT_DIR" {
            // The file that could not be read is named, and the others are trusted.
            let warned = server
                .startup
                .iter()
                .find(|l| l.contains("could not be read"));
            assert!(
                warned.is_some_and(|l| l.contains("broken.pem") && !l.contains("test-ca.pem")),
                "{:?}",
                server.startup
            );
        }
        let quota = plugin_routes::auth::LOGIN_FAILURES_PER_EMAIL.quota;
        let statuses: Vec<u16> = (0..quota + 1)
            .map(|_| server.call("POST", "/v1/auth/login", Some(&body)).0)
            .collect();
        assert_eq!(
            statuses.iter().filter(|&&s| s == 401).count(),
            quota as usize,
            "{roots:?}: {statuses:?}"
        );
        assert_eq!(statuses.last(), Some(&429), "{roots:?}: {statuses:?}");
        let (status, _, ready) = server.call("GET", "/ready", None);
        assert_eq!(status, 200, "{roots:?}: {ready}");
        server.kill();
    }
    assert!(redis.secured() >= 1, "over TLS: {}", redis.secured());
    let _ = std::fs::remove_dir_all(&dir);
}
