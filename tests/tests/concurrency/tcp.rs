//! Over real TCP with `plugin_routes::serve`: a stream holds its place until the client hangs
//! up, and one address cannot hold every connection.

use super::app;
use axum::Router;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// A server on 127.0.0.1 with `app`, at most `connections` connections at once.
async fn serve(app: Router, connections: usize) -> std::net::SocketAddr {
    serve_with(app, |s| s.with_max_connections(connections)).await
}

/// A server on 127.0.0.1 with `app`, set up by `configure`.
async fn serve_with(
    app: Router,
    configure: impl FnOnce(plugin_routes::Serve) -> plugin_routes::Serve,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server =
        configure(plugin_routes::serve(listener, app)).with_shutdown_signal(std::future::pending());
    tokio::spawn(server.into_future());
    address
}

/// A connection to `server` from the loopback address `from` (all of 127.0.0.0/8 is loopback).
async fn connect_from(from: [u8; 4], server: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(server).await.unwrap()
}

/// Sends `GET path` on `conn` and reads until the head and `until` have arrived; what was read,
/// or `None` if the server closed the connection first.
async fn get(conn: &mut TcpStream, path: &str, until: &str) -> Option<String> {
    let head = format!("GET /v1/plugins/capped{path} HTTP/1.1\r\nhost: test\r\n\r\n");
    if conn.write_all(head.as_bytes()).await.is_err() {
        return None;
    }
    let mut read = Vec::new();
    let reading = async {
        loop {
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => read.extend_from_slice(&chunk[..n]),
            }
            let text = String::from_utf8_lossy(&read);
            if let Some(end) = text.find("\r\n\r\n")
                && text[end..].contains(until)
            {
                return Some(text.into_owned());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .expect("an answer, or the connection closed, within 10 s")
}

#[tokio::test]
async fn over_tcp_a_stream_holds_its_place_until_the_client_hangs_up() {
    let server = serve(app(), 64).await;
    let mut first = connect_from([127, 0, 0, 1], server).await;
    let mut second = connect_from([127, 0, 0, 1], server).await;
    for conn in [&mut first, &mut second] {
        let answer = get(conn, "/feed", "data: ").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let mut third = connect_from([127, 0, 0, 1], server).await;
    let answer = get(&mut third, "/feed", "}}").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("\"policy\":\"concurrency\""), "{answer}");

    // The client hangs up one stream; the server notices and gives its place back.
    drop(first);
    let mut admitted = false;
    for _ in 0..100 {
        let mut conn = connect_from([127, 0, 0, 1], server).await;
        let answer = get(&mut conn, "/feed", "\n\n").await.unwrap();
        if answer.starts_with("HTTP/1.1 200") {
            admitted = true;
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        admitted,
        "a stream is admitted within 10 s of another's client hanging up"
    );
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    // A cap of 8 connections: each address may hold a quarter of them, 2.
    let server = serve(app(), 8).await;
    let health = "/health";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = connect_from([127, 0, 0, 1], server).await;
        let answer = get(&mut conn, health, "\"status\"").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(conn);
    }
    // A third connection from the same address is closed without an answer.
    let mut extra = connect_from([127, 0, 0, 1], server).await;
    assert_eq!(get(&mut extra, health, "\"status\"").await, None);
    // Other addresses are still served, up to their own share.
    for from in [[127, 0, 0, 2], [127, 0, 0, 3]] {
        let mut conn = connect_from(from, server).await;
        let answer = get(&mut conn, health, "\"status\"").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer} from {from:?}");
        held.push(conn);
    }
    // Once the first address closes one, it may open another.
    drop(held.remove(0));
    let mut again = None;
    for _ in 0..100 {
        let mut conn = connect_from([127, 0, 0, 1], server).await;
        if let Some(answer) = get(&mut conn, health, "\"status\"").await {
            again = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.unwrap().starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn the_share_can_be_set_and_trusted_proxies_are_exempt() {
    let proxy = [127, 0, 0, 9];
    let server = serve_with(app(), |s| {
        s.with_max_connections(8)
            .with_max_connections_per_address(3)
            .with_trusted_proxies(plugin_routes::TrustedProxies::parse("127.0.0.9").unwrap())
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = connect_from([127, 0, 0, 1], server).await;
        let answer = get(&mut conn, "/health", "\"status\"").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(conn);
    }
    let mut extra = connect_from([127, 0, 0, 1], server).await;
    assert_eq!(get(&mut extra, "/health", "\"status\"").await, None);
    // Everyone behind the proxy shares its address: it may use the rest of the cap.
    for _ in 0..5 {
        let mut conn = connect_from(proxy, server).await;
        let answer = get(&mut conn, "/health", "\"status\"").await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        held.push(conn);
    }
}
