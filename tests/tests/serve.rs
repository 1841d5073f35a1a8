//! `plugin_routes::serve` over real TCP on 127.0.0.1: request heads have a deadline and a size
//! cap, silent connections cannot starve the server, HTTP/2 without TLS is served, and shutdown
//! lets requests in flight finish while idle connections do not hold it open. Every wait is
//! bounded.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use plugin_routes::{ClientAddr, Serve, TrustedProxies};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Far longer than any deadline set below: a wait that reaches it is a failure.
const BOUND: Duration = Duration::from_secs(10);

/// The size of `/big`'s answer: more than the kernel buffers between a server and a client
/// that reads through a small window (`slow_reader`), so the server is still writing it while
/// the client waits.
const BIG: usize = 8 << 20;

fn app() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "finished"
            }),
        )
        // Ten chunks 100 ms apart, and three after pauses of 500 ms: the handler is done at
        // once, the body takes a second or more.
        .route(
            "/stream",
            get(|| async { chunks(10, Duration::from_millis(100)) }),
        )
        .route(
            "/pauses",
            get(|| async { chunks(3, Duration::from_millis(500)) }),
        )
        .route("/forever", get(std::future::pending::<&'static str>))
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        // Answers at once with a body that reads the upload and says at its end how long it
        // was: the answer goes out while the request's body still arrives.
        .route(
            "/summary",
            axum::routing::post(|body: axum::body::Body| async move {
                use futures_util::StreamExt;
                let mut upload = body.into_data_stream();
                axum::body::Body::from_stream(futures_util::stream::once(async move {
                    let mut n = 0;
                    while let Some(Ok(chunk)) = upload.next().await {
                        n += chunk.len();
                    }
                    Ok::<_, std::convert::Infallible>(format!("{n} bytes"))
                }))
            }),
        )
        .route(
            "/echo",
            axum::routing::post(|body: String| async move { format!("{} bytes", body.len()) }),
        )
        // A body over 1 KiB is refused once more than that has come, the rest unread.
        .route(
            "/small",
            axum::routing::post(
                |body: bytes::Bytes| async move { format!("{} bytes", body.len()) },
            )
            .layer(axum::extract::DefaultBodyLimit::max(1024)),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        .route(
            "/client",
            get(|ClientAddr(ip): ClientAddr| async move { ip.to_string() }),
        )
}

/// A body of `count` chunks `0;`, `1;`, ..., each sent after `pause`.
fn chunks(count: u8, pause: Duration) -> axum::body::Body {
    let chunks = futures_util::stream::unfold(0u8, move |n| async move {
        if n == count {
            return None;
        }
        tokio::time::sleep(pause).await;
        Some((Ok::<_, std::convert::Infallible>(format!("{n};")), n + 1))
    });
    axum::body::Body::from_stream(chunks)
}

/// Asserts `response` is a `200` whose chunked body has all of `count` chunks and its end.
fn assert_whole(response: &str, count: u8) {
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for n in 0..count {
        assert!(response.contains(&format!("{n};")), "{response:?}");
    }
    // The last chunk of a chunked body: the answer was finished, not cut.
    assert!(response.ends_with("0\r\n\r\n"), "{response:?}");
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

async fn start(configure: impl FnOnce(Serve) -> Serve) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = configure(plugin_routes::serve(listener, app())).with_shutdown_signal(async {
        let _ = stopped.await;
    });
    let server = tokio::spawn(serve.into_future());
    Running {
        addr,
        stop: Some(stop),
        server,
    }
}

use std::future::IntoFuture;

/// A server with these head and idle timeouts.
async fn start_with(head: Duration, idle: Duration) -> Running {
    start(|s| s.with_head_timeout(head).with_idle_timeout(idle)).await
}

/// Sends `request` and reads until the server closes the connection.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    String::from_utf8_lossy(&until_closed(&mut s).await).into_owned()
}

/// Everything the server sends on `s` until it closes it, within the bound.
async fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut out))
        .await
        .expect("the server answered in time")
        .unwrap();
    out
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Whether the server closes `s` (a read sees end of file or a reset) within the bound.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    matches!(
        tokio::time::timeout(BOUND, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await,
        Ok(())
    )
}

#[tokio::test]
async fn a_normal_request_is_answered_with_the_client_s_address() {
    let server = start(|s| s).await;
    let response = exchange(server.addr, &get_request("/peer")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("127.0.0.1"), "{response}");
}

#[tokio::test]
async fn a_head_trickled_byte_by_byte_is_cut_off() {
    let server = start(|s| s.with_head_timeout(Duration::from_millis(300))).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /hello HTTP/1.1\r\n").await.unwrap();
    // One header byte every 50 ms would take minutes; the server must not wait that long.
    let trickle = async {
        for _ in 0..200 {
            if s.write_all(b"x").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    let cut = tokio::time::timeout(BOUND, trickle).await.unwrap_or(false);
    assert!(
        cut || closed_by_server(&mut s).await,
        "the trickled head was never cut off"
    );
}

#[tokio::test]
async fn silent_connections_are_closed_and_do_not_starve_others() {
    let server = start(|s| s.with_head_timeout(Duration::from_millis(500))).await;
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let response = exchange(server.addr, &get_request("/hello")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for s in &mut silent[..5] {
        assert!(closed_by_server(s).await, "a silent connection stayed open");
    }
}

fn with_header_of(bytes: usize) -> String {
    format!(
        "GET /hello HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(bytes)
    )
}

#[tokio::test]
async fn an_oversized_head_gets_431_in_the_envelope_and_the_server_serves_on() {
    let server = start(|s| s).await;
    let response = exchange(server.addr, with_header_of(20 * 1024).as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    assert!(
        response.contains(r#""code":"HEADERS_TOO_LARGE""#),
        "{response}"
    );
    assert!(
        response.contains("this server accepts at most 16384"),
        "{response}"
    );
    // Over twice the cap, the head is not read to its end: a bare 431 from the HTTP layer.
    let response = exchange(server.addr, with_header_of(40 * 1024).as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    let response = exchange(server.addr, &get_request("/hello")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn past_the_connection_cap_new_clients_wait_their_turn() {
    let server = start(|s| s.with_max_connections(1)).await;
    // The one place, held by a connection that sends nothing (its deadline is 30 s away).
    let holder = TcpStream::connect(server.addr).await.unwrap();
    let addr = server.addr;
    let mut waiting = tokio::spawn(async move { exchange(addr, &get_request("/hello")).await });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "a second connection was served past the cap of one"
    );
    // Its place freed, the waiting client is served.
    drop(holder);
    let response = tokio::time::timeout(BOUND, waiting)
        .await
        .expect("served once the place was free")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn http2_without_tls_is_served() {
    let server = start(|s| s).await;
    let (mut sender, _connection) = h2_client(server.addr).await;
    let request = http_request("/hello");
    let response = tokio::time::timeout(BOUND, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), axum::http::Version::HTTP_2);
}

/// An HTTP/2 client connection to `addr` (prior knowledge), driven by a task of its own that
/// ends when the connection does.
async fn h2_client(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    JoinHandle<hyper::Result<()>>,
) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    (sender, tokio::spawn(connection))
}

fn http_request(path: &str) -> axum::http::Request<http_body_util::Empty<bytes::Bytes>> {
    axum::http::Request::builder()
        .uri(format!("http://test{path}"))
        .body(http_body_util::Empty::new())
        .unwrap()
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_and_closes_idle_connections() {
    let mut server = start(|s| s.with_shutdown_grace(Duration::from_secs(5))).await;
    // An idle keep-alive connection: one request answered, then nothing.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let addr = server.addr;
    let slow = tokio::spawn(async move { exchange(addr, &get_request("/slow")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().unwrap().send(());

    let response = slow.await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("finished"), "{response}");
    assert!(
        closed_by_server(&mut idle).await,
        "the idle connection held the shutdown"
    );
    let ended = tokio::time::timeout(BOUND, &mut server.server)
        .await
        .expect("serve returned after shutdown");
    assert!(ended.unwrap().is_ok());
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

/// `X-Forwarded-For` is believed only from the proxies named; a proxy on this host or a private
/// network that was not named is warned of once for each address, since every client behind it
/// then shares its address for rate limits and failed logins.
#[tokio::test]
async fn forwarded_for_is_followed_only_through_trusted_proxies() {
    let logs = crate::fixtures::Captured::default();
    let _logging = logs.install();
    let request = b"GET /client HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 192.0.2.9, 203.0.113.7, 10.0.0.2\r\nConnection: close\r\n\r\n";
    // By default the header is anyone's to send: the client is the peer.
    let server = start(|s| s).await;
    let response = exchange(server.addr, request).await;
    assert!(response.ends_with("\r\n\r\n127.0.0.1"), "{response}");
    // A second connection forwarded the same way: said once for the address, not again.
    let response = exchange(server.addr, request).await;
    assert!(response.ends_with("\r\n\r\n127.0.0.1"), "{response}");
    let said = logs.text();
    assert_eq!(
        said.matches("which is not a trusted proxy").count(),
        1,
        "{said}"
    );
    assert!(
        said.contains("WARN") && said.contains("counts as 127.0.0.1 for rate limits"),
        "{said}"
    );
    // Another address on this host (the real proxy, after a developer's curl): said too.
    let from = |ip: [u8; 4]| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((ip, 0))).unwrap();
        let mut s = socket.connect(server.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        String::from_utf8_lossy(&until_closed(&mut s).await).into_owned()
    };
    for _ in 0..2 {
        let response = from([127, 0, 0, 2]).await;
        assert!(response.ends_with("\r\n\r\n127.0.0.2"), "{response}");
    }
    let said = logs.text();
    assert_eq!(
        said.matches("which is not a trusted proxy").count(),
        2,
        "{said}"
    );
    assert!(
        said.contains("counts as 127.0.0.2 for rate limits"),
        "{said}"
    );
    // A proxy that sends only `Forwarded`, which is not read: told to send X-Forwarded-For.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 3], 0))).unwrap();
    let mut s = socket.connect(server.addr).await.unwrap();
    s.write_all(
        b"GET /client HTTP/1.1\r\nHost: t\r\nForwarded: for=192.0.2.9\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let response = String::from_utf8_lossy(&until_closed(&mut s).await).into_owned();
    assert!(response.ends_with("\r\n\r\n127.0.0.3"), "{response}");
    let said = logs.text();
    assert!(
        said.contains("come from 127.0.0.3 with a Forwarded header and no X-Forwarded-For")
            && said.contains("have the proxy send X-Forwarded-For, and name it"),
        "{said}"
    );
    // Behind a proxy on 127.0.0.1 and others in 10.0.0.0/8: the first untrusted hop.
    let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
    let server = start(|s| s.with_trusted_proxies(proxies)).await;
    let response = exchange(server.addr, request).await;
    assert!(response.ends_with("\r\n\r\n203.0.113.7"), "{response}");
}

#[tokio::test]
async fn idle_connections_are_closed_over_either_protocol_but_busy_ones_are_not() {
    let server = start_with(Duration::from_secs(60), Duration::from_millis(200)).await;
    // HTTP/2: one request answered, then nothing; the client's connection ends.
    let (mut sender, connection) = h2_client(server.addr).await;
    let response = sender.send_request(http_request("/hello")).await.unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::timeout(BOUND, connection)
        .await
        .expect("the idle HTTP/2 connection was closed")
        .unwrap()
        .ok();

    // HTTP/1.1 keep-alive, idle after its answer, is closed too, well before the head deadline.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut idle).await);

    // A handler that takes twice the idle timeout is not cut off.
    let response = exchange(server.addr, &get_request("/slow")).await;
    assert!(response.ends_with("finished"), "{response}");
}

#[tokio::test]
async fn a_response_still_being_sent_is_not_cut_off_by_either_deadline() {
    // Both deadlines far shorter than the second the body takes: while it is being written, the
    // connection is not waiting for a head, nor idle.
    let server = start_with(Duration::from_millis(300), Duration::from_millis(300)).await;
    assert_whole(&exchange(server.addr, &get_request("/stream")).await, 10);
}

#[tokio::test]
async fn a_keep_alive_connection_waiting_for_its_next_head_is_closed_at_the_head_deadline() {
    // The idle timeout is far away: what closes the connection is the head deadline, which
    // starts again when a response has been sent.
    let server = start_with(Duration::from_millis(300), Duration::from_secs(60)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        // Each request well inside the deadline of the one before.
        tokio::time::sleep(Duration::from_millis(150)).await;
        s.write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    // Then half a head, and nothing more.
    s.write_all(b"GET /hello HTTP/1.1\r\n").await.unwrap();
    let started = std::time::Instant::now();
    assert!(closed_by_server(&mut s).await, "the connection stayed open");
    // Closed by the head deadline, not the idle timeout a minute away.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_response_that_pauses_longer_than_the_head_deadline_is_not_cut_off() {
    // The connection is not waiting for a head while its answer is being sent, however long
    // the answer pauses; only the idle timeout (far away here) bounds a pause.
    let server = start_with(Duration::from_millis(300), Duration::from_secs(5)).await;
    assert_whole(&exchange(server.addr, &get_request("/pauses")).await, 3);
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_though_the_server_pings() {
    // Equal deadlines: the server's keep-alive pings must not count as the connection being in
    // use.
    let server = start_with(Duration::from_millis(300), Duration::from_millis(300)).await;
    let (mut sender, connection) = h2_client(server.addr).await;
    let response = sender.send_request(http_request("/hello")).await.unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::timeout(BOUND, connection)
        .await
        .expect("the idle HTTP/2 connection was closed")
        .unwrap()
        .ok();
}

/// The HTTP/2 connection preface and an empty `SETTINGS` frame: what a client sends first.
const H2_OPENING: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
/// A `PING` frame (stream 0, eight bytes of data), which the server answers by itself.
const H2_PING: &[u8] = b"\0\0\x08\x06\0\0\0\0\0pingping";

#[tokio::test]
async fn an_http2_connection_that_only_pings_is_closed_at_the_head_deadline() {
    // Pings are bytes both ways, so the idle timeout never runs out; the head deadline does,
    // as no request comes.
    let server = start_with(Duration::from_millis(300), Duration::from_secs(60)).await;
    let s = TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = s.into_split();
    write.write_all(H2_OPENING).await.unwrap();
    let pinging = tokio::spawn(async move {
        loop {
            if write.write_all(H2_PING).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let mut answered = 0;
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answered += n,
            }
        }
    })
    .await;
    pinging.abort();
    assert!(closed.is_ok(), "a connection that only pings stayed open");
    // The server did answer: settings and pongs came back before the close.
    assert!(answered > 17 * 3, "{answered} bytes");
}

#[tokio::test]
async fn a_connection_that_stops_inside_the_http2_preface_is_closed_at_the_shorter_timeout() {
    // The head deadline is a minute away; the idle timeout is what runs out while the server
    // waits to tell the protocol.
    let server = start_with(Duration::from_secs(60), Duration::from_millis(300)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"PRI * HTTP").await.unwrap();
    assert!(closed_by_server(&mut s).await, "the connection stayed open");
}

#[tokio::test]
async fn a_request_body_the_client_stops_sending_is_bounded_by_the_idle_timeout() {
    // The handler waits for a body of 100 bytes; the client sends three and stops. Without a
    // route timeout nothing else would end the wait: the idle timeout does.
    let server = start_with(Duration::from_secs(60), Duration::from_millis(600)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nabc")
        .await
        .unwrap();
    assert!(closed_by_server(&mut s).await, "the connection stayed open");

    // A body sent in pieces, each pause shorter than the idle timeout, is read whole.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 12\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    for piece in [b"abcd", b"efgh", b"ijkl"] {
        tokio::time::sleep(Duration::from_millis(100)).await;
        s.write_all(piece).await.unwrap();
    }
    let out = until_closed(&mut s).await;
    let response = String::from_utf8_lossy(&out);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("12 bytes"), "{response}");
}

/// `POST /small` with a body of `len` bytes announced; `Connection: close` is not sent, so
/// what closes the connection is the refusal.
fn small_head(len: usize) -> String {
    format!("POST /small HTTP/1.1\r\nHost: test\r\nContent-Length: {len}\r\n\r\n")
}

#[tokio::test]
async fn a_body_refused_before_it_is_read_leaves_the_client_its_answer_not_a_reset() {
    // The server answers `413` after the first kilobyte and closes the connection with most
    // of the body still to come. Closing with bytes unread would reset the connection: the client's
    // writing would fail before it read the answer. The close lingers instead, reading and
    // discarding, so the whole body goes out and the answer is there to read.
    // The first two kilobytes come with the head, the rest after a pause: when the server
    // closes, nothing may be unread yet, and the rest must still not meet a reset.
    let server = start(|s| s).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let mut first = small_head(BIG).into_bytes();
    first.extend([b'y'; 2048]);
    s.write_all(&first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(BOUND, s.write_all(&vec![b'y'; BIG - 2048]))
        .await
        .expect("the body was taken in time")
        .expect("the body was read and discarded, not refused by a reset");
    let answer = String::from_utf8_lossy(&until_closed(&mut s).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // The server serves on, and a body within the limit is read.
    let answer = exchange(
        server.addr,
        b"POST /small HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    assert!(answer.ends_with("5 bytes"), "{answer}");
}

#[tokio::test]
async fn a_lingering_close_reads_on_after_the_answer_and_stops_after_a_pause() {
    // Timeouts far beyond the waits below, so that only the linger decides.
    let server = start_with(Duration::from_secs(60), Duration::from_secs(60)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(&get_request("/hello")).await.unwrap();
    let answer = String::from_utf8_lossy(&until_closed(&mut s).await).into_owned();
    assert!(answer.ends_with("hello"), "{answer}");
    // The server has sent its end, and still reads: what the client sends now is discarded,
    // not answered by a reset (which would fail the second write).
    for _ in 0..2 {
        s.write_all(b"more").await.expect("the server still reads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Quiet for longer than the linger's pause (2 s), but not its whole 5 s: it has closed,
    // so the next bytes meet a reset, and a write after it fails.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let _ = s.write_all(b"late").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        s.write_all(b"later").await.is_err(),
        "the close was still lingering after a pause of 3.5 s"
    );
}

#[tokio::test]
async fn a_lingering_close_ends_though_the_client_never_stops_sending() {
    // Timeouts far beyond the bound, so that only the linger's own limit can end it.
    let server = start_with(Duration::from_secs(60), Duration::from_secs(60)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(small_head(usize::MAX >> 1).as_bytes())
        .await
        .unwrap();
    let chunk = vec![b'y'; 64 * 1024];
    let sent = tokio::time::timeout(BOUND, async {
        loop {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(sent.is_ok(), "the server was still reading after {BOUND:?}");
}

#[tokio::test]
async fn shutdown_closes_connections_that_have_sent_no_request_at_once() {
    // Deadlines and grace far beyond the bound: only the shutdown itself can close these.
    let mut server = start(|s| {
        s.with_head_timeout(Duration::from_secs(60))
            .with_idle_timeout(Duration::from_secs(60))
            .with_shutdown_grace(Duration::from_secs(60))
    })
    .await;
    // One that sent nothing (its protocol not told yet), one that sent half a head.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /hello HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().unwrap().send(());
    assert!(
        closed_by_server(&mut silent).await,
        "the silent connection held the shutdown"
    );
    assert!(
        closed_by_server(&mut half).await,
        "the half head held the shutdown"
    );
    let ended = tokio::time::timeout(BOUND, &mut server.server)
        .await
        .expect("serve returned at once");
    assert!(ended.unwrap().is_ok());
}

#[tokio::test]
async fn after_the_grace_period_requests_still_running_are_closed() {
    let mut server = start(|s| s.with_shutdown_grace(Duration::from_millis(300))).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /forever HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().unwrap().send(());
    let ended = tokio::time::timeout(BOUND, &mut server.server)
        .await
        .expect("serve returned after the grace period");
    assert!(ended.unwrap().is_ok());
    // Its connection is closed, not left to run after `serve` returned.
    assert!(
        closed_by_server(&mut s).await,
        "the request outlived the shutdown"
    );
}

/// A connection to `addr` whose client reads through a small window: what the server writes
/// past the kernel's buffers waits until the client reads.
async fn slow_reader(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Reads until the server closes `s`; how many bytes of `/big`'s body came, after its head.
async fn body_read(s: &mut TcpStream) -> usize {
    let out = until_closed(s).await;
    let head = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&out[..head])
    );
    out.len() - head
}

#[tokio::test]
async fn an_answer_still_being_written_to_a_slow_client_is_not_cut_at_the_head_deadline() {
    // hyper takes the whole body at once and writes it as the client reads: the connection is
    // not waiting for a head meanwhile, however long the client takes (within the idle
    // timeout).
    let server = start_with(Duration::from_millis(300), Duration::from_secs(5)).await;
    let mut s = slow_reader(server.addr).await;
    s.write_all(b"GET /big HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // Three head deadlines without reading a byte.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(body_read(&mut s).await, BIG, "the answer was cut");
}

#[tokio::test]
async fn shutdown_lets_an_answer_being_written_finish() {
    let mut server = start(|s| s.with_shutdown_grace(Duration::from_secs(5))).await;
    let mut s = slow_reader(server.addr).await;
    s.write_all(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    // The handler is done and its body handed to hyper, which waits for the client to read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = server.stop.take().unwrap().send(());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        body_read(&mut s).await,
        BIG,
        "the answer was cut by the shutdown"
    );
    let ended = tokio::time::timeout(BOUND, &mut server.server)
        .await
        .expect("serve returned once the answer was written");
    assert!(ended.unwrap().is_ok());
}

#[tokio::test]
async fn over_http2_a_body_the_client_stops_sending_is_closed_though_it_pings() {
    // The client pings every 50 ms, which the server answers: bytes both ways, but none of
    // the body its handler waits for.
    let server = start_with(Duration::from_secs(60), Duration::from_millis(600)).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Duration::from_millis(50))
            .keep_alive_while_idle(true)
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    // Three bytes of the body, then nothing.
    let body = http_body_util::StreamBody::new(Box::pin(futures_util::stream::unfold(
        0u8,
        |n| async move {
            if n > 0 {
                std::future::pending::<()>().await;
            }
            Some((
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(
                    bytes::Bytes::from_static(b"abc"),
                )),
                n + 1,
            ))
        },
    )));
    let request = axum::http::Request::post("http://test/echo")
        .body(body)
        .unwrap();
    let answered = tokio::spawn(async move { sender.send_request(request).await });
    tokio::time::timeout(BOUND, connection)
        .await
        .expect("the connection was closed")
        .unwrap()
        .ok();
    assert!(answered.await.unwrap().is_err(), "the request was answered");
}

/// Reads what the server sends on `read` until it closes the connection, while `write` sends
/// `frames` every 50 ms; whether it closed within the bound.
async fn closed_while_sending(
    mut read: tokio::net::tcp::OwnedReadHalf,
    mut write: tokio::net::tcp::OwnedWriteHalf,
    frames: Vec<u8>,
) -> bool {
    let sending = tokio::spawn(async move {
        while write.write_all(&frames).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    sending.abort();
    closed.is_ok()
}

#[tokio::test]
async fn an_http2_connection_that_pings_in_batches_is_closed_at_the_head_deadline() {
    // Eight pings at once: the server's answers to them go out together, more bytes than any
    // single frame it sends by itself, and still no request.
    let server = start_with(Duration::from_millis(300), Duration::from_secs(60)).await;
    let s = TcpStream::connect(server.addr).await.unwrap();
    let (read, mut write) = s.into_split();
    write.write_all(H2_OPENING).await.unwrap();
    assert!(
        closed_while_sending(read, write, H2_PING.repeat(8)).await,
        "a connection that pings in batches stayed open"
    );
}

#[tokio::test]
async fn an_http2_answer_the_client_never_lets_through_is_closed_though_it_pings() {
    // The client allows no data on its streams (an initial window of 0), asks for `/hello`,
    // then only pings: the answer cannot move, and pings do not count as it moving.
    let server = start_with(Duration::from_secs(60), Duration::from_millis(300)).await;
    let (read, write) = h2_get_with_window(server.addr, 0, "/hello").await;
    assert!(
        closed_while_sending(read, write, H2_PING.to_vec()).await,
        "a stalled answer held the connection open"
    );
}

#[tokio::test]
async fn an_answer_that_reads_its_upload_is_not_cut_while_the_upload_arrives() {
    // The handler is done at once; its answer says nothing until the upload ends, two seconds
    // after, in pieces 100 ms apart: the upload moving is the answer moving.
    let server = start_with(Duration::from_secs(60), Duration::from_secs(1)).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"POST /summary HTTP/1.1\r\nHost: test\r\nContent-Length: 20\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        s.write_all(b"a").await.unwrap();
    }
    let out = until_closed(&mut s).await;
    let response = String::from_utf8_lossy(&out);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("20 bytes"), "{response}");
}

#[tokio::test]
async fn an_http2_answer_held_up_by_the_client_s_window_is_closed_though_it_pings() {
    // A window of one byte: hyper takes the whole of `/big` and h2 holds it, waiting for a
    // window update that never comes. The server's answers to pings are not the answer moving.
    let server = start_with(Duration::from_secs(60), Duration::from_millis(300)).await;
    let (read, write) = h2_get_with_window(server.addr, 1, "/big").await;
    assert!(
        closed_while_sending(read, write, H2_PING.repeat(4)).await,
        "a held-up answer stayed open"
    );
}

/// An HTTP/2 connection to `addr` whose client allows `window` bytes of data on each stream,
/// and has asked for `path` (stream 1): the halves of its socket.
async fn h2_get_with_window(
    addr: SocketAddr,
    window: u8,
    path: &str,
) -> (
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf,
) {
    let s = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = s.into_split();
    let mut opening = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS: INITIAL_WINDOW_SIZE (4).
    opening.extend_from_slice(b"\0\0\x06\x04\0\0\0\0\0\0\x04\0\0\0");
    opening.push(window);
    // HEADERS on stream 1, END_STREAM and END_HEADERS: GET http://test{path}, in HPACK (the
    // static table's `:method GET` and `:scheme http`, `:authority` and `:path` literal).
    let mut block = b"\x82\x86\x01\x04test\x04".to_vec();
    block.push(path.len() as u8);
    block.extend_from_slice(path.as_bytes());
    opening.extend_from_slice(&[0, 0, block.len() as u8, 1, 5, 0, 0, 0, 1]);
    opening.extend_from_slice(&block);
    write.write_all(&opening).await.unwrap();
    (read, write)
}
