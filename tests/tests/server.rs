//! The real `example-server` binary on a free port, spoken to over TCP: statuses seen from a
//! socket, a chunked upload over the limit, and durability across a hard kill and restart.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Builds (if needed) and locates the binary through cargo, so the test works from any target dir.
fn server_binary() -> PathBuf {
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

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts the server on port 0 and reads the port it logs.
    fn start(binary: &PathBuf, database_url: &str) -> Server {
        let mut child = Command::new(binary)
            .env("PORT", "0")
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("example-server starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("the server logs before exiting")
                .unwrap();
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, port }
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

    fn call(&self, method: &str, path: &str, json: Option<&Value>) -> (u16, String, String) {
        let body = json.map(Value::to_string).unwrap_or_default();
        let content_type = if json.is_some() {
            "content-type: application/json\r\n"
        } else {
            ""
        };
        self.request(&format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\n{content_type}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ))
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap()["error"]["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn example_server_over_tcp() {
    let binary = server_binary();
    let dir = std::env::temp_dir().join(format!("plugin-tests-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("items.db").display());

    let server = Server::start(&binary, &url);
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
    let mut chunked = String::from(
        "POST /v1/plugins/items/items HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
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
    let server = Server::start(&binary, &url);
    let (status, _, body) = server.call("GET", &format!("/v1/plugins/items/items/{id}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["name"],
        "kept"
    );
    server.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
