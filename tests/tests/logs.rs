//! Every log line written while serving a request carries the plugin, the route and the request
//! id, including the framework's own line about an internal error.

use crate::fixtures::client;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far, by every test.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The test binary's one log subscriber, writing into a buffer. It is global rather than scoped to
/// the test: tracing caches per-callsite interest process-wide, so a scoped subscriber can miss
/// spans that tests on other threads reached first.
pub(crate) fn captured() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            captured
        })
        .clone()
}

#[tokio::test]
async fn log_lines_carry_plugin_route_and_request_id() {
    let captured = captured();
    let c = client().await;
    let r = c
        .get("/v1/plugins/probe/fail")
        .header("x-request-id", "log-test-7")
        .send()
        .await;
    assert_eq!(r.status(), 500);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // Other tests log into the same buffer; this request's lines are those with its id.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request_id=log-test-7"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("about to fail"), "{}", lines[0]);
    assert!(lines[1].contains("handler failed"), "{}", lines[1]);
    for line in lines {
        assert!(line.contains("plugin=\"probe\""), "{line}");
        assert!(line.contains("route=\"fails\""), "{line}");
    }
    // The cause is logged for the operator, never sent to the client.
    assert!(text.contains("password hunter2"), "{text}");
    assert!(!r.text().contains("hunter2"));
}
