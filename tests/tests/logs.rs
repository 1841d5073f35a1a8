//! Every log line written while serving a request carries the plugin, the route and the request
//! id, including the framework's own line about an internal error.

use crate::fixtures::client;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn log_lines_carry_plugin_route_and_request_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // The test runtime is single-threaded, so the subscriber sees everything the request logs.
    let _guard = tracing::subscriber::set_default(subscriber);

    let c = client().await;
    let r = c
        .get("/v1/plugins/probe/fail")
        .header("x-request-id", "log-test-7")
        .send()
        .await;
    assert_eq!(r.status(), 500);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("about to fail") || l.contains("handler failed"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for line in lines {
        assert!(line.contains("plugin=\"probe\""), "{line}");
        assert!(line.contains("route=\"fails\""), "{line}");
        assert!(line.contains("request_id=log-test-7"), "{line}");
    }
    // The cause is logged for the operator, never sent to the client.
    assert!(text.contains("password hunter2"), "{text}");
    assert!(!r.text().contains("hunter2"));
}
