//! The real `example-server` binary on a free port, spoken to over TCP: a user and an API key
//! made on the command line, statuses seen from a socket, a chunked upload over the limit, an
//! unauthenticated upload refused before its body, and durability across a hard kill and restart.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Builds (if needed) and locates the binary through cargo, so the test works from any target dir.
pub(crate) fn server_binary() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "items-example",
            "--bin",
            "example-server",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "building example-server failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|m| {
            m["executable"]
                .as_str()
                .filter(|e| e.ends_with("example-server"))
                .map(PathBuf::from)
        })
        .expect("cargo reports the example-server executable")
}

pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    /// Sent as `Authorization: Bearer <key>` by [`Server::call`].
    pub(crate) key: Option<String>,
    /// What it logged before it listened.
    pub(crate) startup: Vec<String>,
}

/// Runs `example-server` with `args` on `database_url`, feeding `stdin`; its stdout.
pub(crate) fn cli(binary: &PathBuf, database_url: &str, args: &[&str], stdin: &str) -> String {
    let out = run_cli(binary, database_url, args, &[], stdin);
    assert!(
        out.status.success(),
        "example-server {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `example-server` with `args` and `env` on `database_url`, feeding `stdin`; how it ended.
pub(crate) fn run_cli(
    binary: &PathBuf,
    database_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> std::process::Output {
    let mut child = Command::new(binary)
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("example-server runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A user `email` holding `scopes`, made on the command line with an API key of the same
/// scopes: the key.
pub(crate) fn user_with_key(
    binary: &PathBuf,
    database_url: &str,
    email: &str,
    scopes: &str,
) -> String {
    let args = [
        "users",
        "create",
        "--email",
        email,
        "--scopes",
        scopes,
        "--with-api-key",
        "tests",
    ];
    let out = cli(binary, database_url, &args, "a long password\n");
    out.lines().last().unwrap().to_owned()
}

impl Server {
    /// Starts the server on port 0 and reads the port it logs.
    fn start(binary: &PathBuf, database_url: &str) -> Server {
        Self::start_with(binary, database_url, &[])
    }

    /// Starts the server with more environment variables (settings such as `AUTH_CACHE_TTL_MS`).
    pub(crate) fn start_with(binary: &PathBuf, database_url: &str, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(binary)
            .envs(env.iter().copied())
            .env("PORT", "0")
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("example-server starts");
        // The server logs to stderr.
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut startup = Vec::new();
        let port = loop {
            let Some(line) = lines.next() else {
                let status = child.wait().expect("example-server exits");
                panic!(
                    "example-server exited ({status}) before listening; it logged:\n{}",
                    startup.join("\n")
                );
            };
            let line = line.unwrap();
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
            startup.push(line);
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            port,
            key: None,
            startup,
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn request(&self, raw: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        json: Option<&Value>,
    ) -> (u16, String, String) {
        self.call_with(method, path, json, &[])
    }

    /// [`Server::call`] of a route that may start an operation: answered `202 Accepted`, the
    /// operation is read at its `Location` until it ends (within two minutes), and the answer
    /// is what the route would have answered within the request: its status, and its result or
    /// its error envelope. Any other answer is returned as it is.
    pub(crate) fn call_to_end(
        &self,
        method: &str,
        path: &str,
        json: Option<&Value>,
    ) -> (u16, String) {
        let (status, head, body) = self.call(method, path, json);
        let location = head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("location: ")
                .map(|_| l[10..].trim().to_owned())
        });
        let (202, Some(location)) = (status, location) else {
            return (status, body);
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let (status, _, body) = self.call("GET", &location, None);
            assert_eq!(status, 200, "the operation at {location}: {body}");
            let op: Value = serde_json::from_str(&body).unwrap();
            if op["finishedAt"].is_string() {
                let status = u16::try_from(op["status"].as_u64().unwrap()).unwrap();
                let body = match op.get("result") {
                    Some(result) => result.to_string(),
                    None => json!({"error": op["error"]}).to_string(),
                };
                return (status, body);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the operation at {location} is still {op}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// [`Server::call`] with more headers.
    fn call_with(
        &self,
        method: &str,
        path: &str,
        json: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let body = json.map(Value::to_string).unwrap_or_default();
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let content_type = if json.is_some() {
            "content-type: application/json\r\n"
        } else {
            ""
        };
        let auth = self.auth_header();
        self.request(&format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\n{auth}{extra}{content_type}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ))
    }

    fn auth_header(&self) -> String {
        self.key
            .as_ref()
            .map(|k| format!("authorization: Bearer {k}\r\n"))
            .unwrap_or_default()
    }

    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// A test that fails before it kills its server does not leave it running (a confined one, with
/// a Redis it keeps asking, was found alive an hour after its test failed).
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"]["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An empty directory for one test's SQLite database, and the database's URL.
pub(crate) fn fresh_sqlite(test: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("plugin-tests-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("items.db").display());
    (dir, url)
}

#[test]
fn example_server_over_tcp() {
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("tcp");

    // A user and a key from the command line: the password on stdin, the key alone on the last
    // line of stdout.
    let out = cli(
        &binary,
        &url,
        &[
            "users",
            "create",
            "--email",
            "cli@example.com",
            "--scopes",
            "items:*",
            "--with-api-key",
            "first",
        ],
        "a long password\n",
    );
    assert!(out.contains("cli@example.com"), "{out}");
    let first_key = out.lines().last().unwrap().to_owned();
    assert!(
        first_key.starts_with("plk_") && !first_key.contains(' '),
        "{out}"
    );
    let out = cli(
        &binary,
        &url,
        &[
            "api-keys",
            "create",
            "--email",
            "cli@example.com",
            "--name",
            "tcp",
            "--scopes",
            "items:read,items:write",
        ],
        "",
    );
    let key = out.lines().last().unwrap().to_owned();
    assert!(key.starts_with("plk_") && key != first_key, "{out}");

    let mut server = Server::start(&binary, &url);
    let (status, head, body) = server.call("GET", "/v1/plugins/items/items", None);
    assert_eq!((status, code(&body).as_str()), (401, "UNAUTHORIZED"));
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    // A 10 MB upload without a credential is answered 401 before a byte of it is sent.
    let ten_mb = "POST /v1/plugins/items/items HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 10485760\r\nconnection: close\r\n\r\n";
    let (status, _, body) = server.request(ten_mb);
    assert_eq!((status, code(&body).as_str()), (401, "UNAUTHORIZED"));
    server.key = Some(key.clone());
    let with_key = ten_mb.replacen(
        "host: localhost\r\n",
        &format!("host: localhost\r\n{}", server.auth_header()),
        1,
    );
    let (status, _, body) = server.request(&with_key);
    assert_eq!((status, code(&body).as_str()), (413, "PAYLOAD_TOO_LARGE"));

    let (status, head, body) = server.call(
        "POST",
        "/v1/plugins/items/items",
        Some(&json!({"name": "kept", "status": "active"})),
    );
    assert_eq!(status, 201, "{body}");
    assert!(
        head.to_ascii_lowercase().contains("x-request-id: "),
        "{head}"
    );
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();

    let (status, _, body) = server.call("GET", "/v1/plugins/items/items/abc", None);
    assert_eq!((status, code(&body).as_str()), (400, "INVALID_INPUT"));
    let (status, _, body) = server.call("GET", "/v1/plugins/items/nope", None);
    assert_eq!((status, code(&body).as_str()), (404, "NOT_FOUND"));
    let (status, head, body) = server.call("PUT", "/v1/plugins/items/items", Some(&json!({})));
    assert_eq!((status, code(&body).as_str()), (405, "METHOD_NOT_ALLOWED"));
    assert!(head.to_ascii_lowercase().contains("allow: "), "{head}");

    // A chunked body over the 1 MiB default is cut off at the limit.
    let mut chunked = format!(
        "POST /v1/plugins/items/items HTTP/1.1\r\nhost: localhost\r\n{}content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        server.auth_header()
    );
    let chunk = "a".repeat(64 * 1024);
    for _ in 0..20 {
        chunked.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    chunked.push_str("0\r\n\r\n");
    let (status, _, body) = server.request(&chunked);
    assert_eq!((status, code(&body).as_str()), (413, "PAYLOAD_TOO_LARGE"));

    // What was acknowledged survives a hard kill.
    server.kill();
    let mut server = Server::start(&binary, &url);
    server.key = Some(first_key);
    let (status, _, body) = server.call("GET", &format!("/v1/plugins/items/items/{id}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["name"],
        "kept"
    );
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two servers on one PostgreSQL database, as when scaling out: a session or key made through one
/// works on the other, items are shared, and a key revoked (or a session ended) on one stops
/// working on the other within the lookup cache's lifetime (here 1 s).
#[test]
fn two_servers_share_one_postgres() {
    let Ok(base_url) = std::env::var("PLUGIN_TEST_POSTGRES_URL") else {
        eprintln!("skipped: set PLUGIN_TEST_POSTGRES_URL to run the scale-out test on PostgreSQL");
        return;
    };
    // A schema of its own, so runs never meet each other's rows or migrations.
    let schema = format!("plugin_scale_{}", std::process::id());
    let admin = |sql: String| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&base_url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        });
    };
    // `example-server` opens its operations, whose queue (apalis) needs `hstore`: in `public`,
    // never in this schema, whose removal would take it from apalis's shared tables.
    admin(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
         CREATE EXTENSION IF NOT EXISTS hstore SCHEMA public"
    ));
    let sep = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{sep}options=-c%20search_path%3D{schema}%2Cpublic");

    let binary = server_binary();
    cli(
        &binary,
        &url,
        &[
            "users",
            "create",
            "--email",
            "scale@example.com",
            "--scopes",
            "items:*",
        ],
        "scale-out password\n",
    );
    // Each server's pool bounded, as a fleet sharing one PostgreSQL sizes them.
    let ttl = [
        ("AUTH_CACHE_TTL_MS", "1000"),
        ("DATABASE_MAX_CONNECTIONS", "4"),
    ];
    let a = Server::start_with(&binary, &url, &ttl);
    let b = Server::start_with(&binary, &url, &ttl);

    // A session made on A is valid on B.
    let (status, head, body) = a.call(
        "POST",
        "/v1/auth/login",
        Some(&json!({"email": "scale@example.com", "password": "scale-out password"})),
    );
    assert_eq!(status, 200, "{body}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let with_cookie = [("cookie", cookie.as_str())];
    let (status, _, body) = b.call_with("GET", "/v1/auth/me", None, &with_cookie);
    assert_eq!(status, 200, "{body}");

    // A key made on A works on B, and so do the items made with it.
    let (status, _, body) = a.call_with(
        "POST",
        "/v1/auth/api-keys",
        Some(&json!({"name": "shared", "scopes": ["items:*"]})),
        &with_cookie,
    );
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    let key = created["key"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let bearer = format!("Bearer {key}");
    let with_key = [("authorization", bearer.as_str())];
    let (status, _, body) = a.call_with(
        "POST",
        "/v1/plugins/items/items",
        Some(&json!({"name": "on a", "status": "active"})),
        &with_key,
    );
    assert_eq!(status, 201, "{body}");
    let item: Value = serde_json::from_str(&body).unwrap();
    let one = format!("/v1/plugins/items/items/{}", item["id"]);
    let (status, _, body) = b.call_with("GET", &one, None, &with_key);
    assert_eq!(status, 200, "{body}");

    // Revoked on A: refused on A at once, and on B (which has the key cached) within the bound.
    let (status, _, body) = a.call_with(
        "DELETE",
        &format!("/v1/auth/api-keys/{id}"),
        None,
        &with_cookie,
    );
    assert_eq!(status, 204, "{body}");
    assert_eq!(a.call_with("GET", &one, None, &with_key).0, 401);
    assert!(
        refused_within(&b, &one, &with_key, Duration::from_secs(3)),
        "B kept accepting a revoked key past the cache bound"
    );

    // Logged out on B: the session ends on A within the bound too.
    let (status, _, _) = b.call_with("POST", "/v1/auth/logout", None, &with_cookie);
    assert_eq!(status, 204);
    assert!(refused_within(
        &a,
        "/v1/auth/me",
        &with_cookie,
        Duration::from_secs(3)
    ));

    a.kill();
    b.kill();
    admin(format!("DROP SCHEMA {schema} CASCADE"));
}

/// Whether `server` answers 401 to `GET path` before `limit` has passed, asking every 100 ms.
fn refused_within(server: &Server, path: &str, headers: &[(&str, &str)], limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if server.call_with("GET", path, None, headers).0 == 401 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A deploy's SIGTERM: a request whose body is still arriving finishes and is answered, an idle
/// keep-alive connection does not hold the server open, and the process exits 0. Also, against
/// the real binary, an oversized request head gets 431.
#[test]
fn sigterm_drains_requests_in_flight_and_exits_0() {
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("term");
    let key = crate::server::user_with_key(&binary, &url, "term@example.com", "items:*");
    let mut server = Server::start(&binary, &url);

    let big = format!(
        "GET /v1/plugins/items/health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(big.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // An idle keep-alive connection, after one answered request.
    let mut idle = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /v1/plugins/items/health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    // A request in flight: its head and half its body sent.
    let body = r#"{"name":"drained","status":"active"}"#;
    let (first, rest) = body.split_at(10);
    let mut flight = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    flight
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        flight,
        "POST /v1/plugins/items/items HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    flight.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    flight.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // The idle connection is closed, and the process exits 0, within the bound.
    assert!(
        matches!(idle.read(&mut buf), Ok(0)),
        "the idle connection stayed open"
    );
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let exited = exited.expect("the server exited within 10 s of SIGTERM");
    assert!(exited.success(), "{exited:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `example-server` processes, each on its own database, sharing one Redis: a guesser
/// spreading wrong passwords for one email across both gets exactly the quota of answers, then
/// 429 from either. And a server whose Redis cannot be reached, set to refuse, answers 503.
#[test]
fn two_servers_on_one_redis_share_the_login_quota() {
    let Some(redis) = crate::throttling::redis_url() else {
        return;
    };
    let binary = server_binary();
    let prefix = crate::throttling::fresh_prefix("servers");
    let env = [
        ("REDIS_URL", redis.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let (dir_a, url_a) = fresh_sqlite("redis-a");
    let (dir_b, url_b) = fresh_sqlite("redis-b");
    let a = Server::start_with(&binary, &url_a, &env);
    let b = Server::start_with(&binary, &url_b, &env);
    // Whether Redis answers is said before the server listens.
    assert!(
        a.startup
            .iter()
            .any(|l| l.contains("counting rate limits in Redis")),
        "{:?}",
        a.startup
    );
    let quota = plugin_routes::auth::LOGIN_FAILURES_PER_EMAIL.quota;
    let body = json!({"email": "someone@example.com", "password": "a guess"});
    let mut answered = 0;
    let mut limited = 0;
    for i in 0..2 * quota {
        let server = if i % 2 == 0 { &a } else { &b };
        let (status, head, body) = server.call("POST", "/v1/auth/login", Some(&body));
        match status {
            401 => answered += 1,
            429 => {
                limited += 1;
                assert_eq!(code(&body), "RATE_LIMITED");
                assert!(
                    head.to_ascii_lowercase().contains("\r\nretry-after: "),
                    "{head}"
                );
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!((answered, limited), (quota, quota));
    a.kill();
    b.kill();

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = format!("redis://127.0.0.1:{closed}");
    let refusing = Server::start_with(
        &binary,
        &url_a,
        &[
            ("REDIS_URL", nowhere.as_str()),
            ("REDIS_UNREACHABLE", "refuse"),
        ],
    );
    // Said at start, not at the first limited request, with what such requests get.
    let said = refusing.startup.join("\n");
    assert!(
        said.contains("the rate-limit store is unreachable")
            && said.contains("refused with 503")
            && said.contains("Connection refused"),
        "{said}"
    );
    let (status, _, body) = refusing.call("POST", "/v1/auth/login", Some(&body));
    assert_eq!((status, code(&body).as_str()), (503, "UNAVAILABLE"));
    refusing.kill();
    let _ = std::fs::remove_dir_all(&dir_a);
    let _ = std::fs::remove_dir_all(&dir_b);
}

/// Against the real binary, with its head timeout set to one second: a head trickled a byte at a
/// time is cut off, and 200 connections that send nothing do not stop a normal request from
/// being answered; they are closed too.
#[test]
fn slow_and_silent_clients_cannot_hold_the_real_server() {
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("hostile");
    let server = Server::start_with(&binary, &url, &[("HEAD_TIMEOUT_SECS", "1")]);

    let mut trickle = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    trickle
        .write_all(b"GET /v1/plugins/items/health HTTP/1.1\r\n")
        .unwrap();
    // One byte every 50 ms for up to 10 s; the server must cut it off long before.
    let mut cut = false;
    for _ in 0..200 {
        if trickle.write_all(b"x").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !cut {
        trickle
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        cut = closed_by_peer(&mut trickle);
    }
    assert!(cut, "a trickled head was never cut off");

    let silent: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let (status, _, _) = server.call("GET", "/v1/plugins/items/health", None);
    assert_eq!(status, 200);
    for mut s in silent.into_iter().take(5) {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert!(closed_by_peer(&mut s), "a silent connection stayed open");
    }
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether the other end closed `s` (end of stream or a reset), waiting up to its read timeout;
/// a timeout is not a close.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    match s.read(&mut buf) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}
