//! The team's service end to end: its gateway's headers are the only credential, its prefix the
//! only layout, the documents it exports from its own binary are the bytes it serves and
//! describe its own authentication, and the typed client sends the gateway's headers.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use plugin_host_app::notes_client::{CreateNoteError, ListNotesError, NotesClient};
use plugin_host_app::{GATEWAY_WORDS, NewNote, NotesPlugin, PREFIX};
use plugin_routes::Plugin;
use plugin_routes::client::Client;
use serde_json::{Value, json};

async fn listen() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = plugin_host_app::assembled();
    tokio::spawn(
        async move { plugin_routes::serve(listener, plugin_host_app::router(&app)).await },
    );
    format!("http://127.0.0.1:{port}")
}

/// The client as the gateway would call: `x-user-id`, `x-scopes`, the host's prefix.
fn as_user(base: &str, user: &str, scopes: &str) -> NotesClient {
    NotesClient::from_client(
        Client::new(base)
            .unwrap()
            .with_plugin_prefix(PREFIX)
            .unwrap()
            .header("x-user-id", user)
            .unwrap()
            .header("x-scopes", scopes)
            .unwrap(),
    )
}

/// `GET path` over TCP: status, `www-authenticate`, body.
async fn get(base: &str, path: &str) -> (u16, Option<String>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    let challenge = head
        .lines()
        .find_map(|l| l.strip_prefix("www-authenticate: "))
        .map(str::to_owned);
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body);
    }
    (status, challenge, body)
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..line]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line + 2..line + 2 + size]);
        raw = &raw[line + 2 + size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_s_users_write_and_read_their_notes_through_the_typed_client() {
    let base = listen().await;
    let ada = as_user(&base, "ada", "notes:read notes:write");
    let note = ada
        .create_note(NewNote {
            title: "plan".into(),
        })
        .await
        .unwrap();
    assert_eq!(note.author, "ada");
    assert!(matches!(
        ada.create_note(NewNote {
            title: "plan".into()
        })
        .await,
        Err(CreateNoteError::NoteExists(_))
    ));
    assert_eq!(ada.list_notes().await.unwrap(), [note]);
    // Another user sees none of them; a reader cannot write.
    let bob = as_user(&base, "bob", "notes:read");
    assert_eq!(bob.list_notes().await.unwrap(), []);
    match bob.create_note(NewNote { title: "x".into() }).await {
        Err(CreateNoteError::Forbidden(f)) => assert_eq!(f.missing_scopes, ["notes:write"]),
        other => panic!("{other:?}"),
    }
    // Without the gateway's headers: the 401 the declaration allows, in the client's words.
    let stranger = NotesClient::from_client(
        Client::new(&base)
            .unwrap()
            .with_plugin_prefix(PREFIX)
            .unwrap(),
    );
    assert!(matches!(
        stranger.list_notes().await,
        Err(ListNotesError::Unauthorized(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_answers_in_the_host_s_layout_and_challenges_for_the_gateway() {
    let base = listen().await;
    let (status, challenge, body) = get(&base, "/api/v1/plugin/notes/notes").await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"ApiKey realm="api", in="header", name="x-user-id""#)
    );
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        error["error"]["message"],
        "come through the company gateway (it sets `x-user-id`)"
    );
    assert_eq!(get(&base, "/v1/plugins/notes/notes").await.0, 404);
    assert_eq!(get(&base, "/api/v1/plugin/notes/health").await.0, 200);
    assert_eq!(get(&base, "/status").await.2, b"up");
    // Built on its own (`cargo test -p plugin-host-app`), the runtime has no Swagger UI.
    if option_env!("HOST_APP_ALONE").is_some() {
        assert_eq!(get(&base, "/docs/").await.0, 404);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documents_exported_by_the_host_s_binary_are_what_it_serves() {
    let dir = std::env::temp_dir().join(format!("host-app-export-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_host-app"))
        .args(["export", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = listen().await;
    for (file, served) in [
        ("openapi.json", "/openapi.json"),
        ("openapi-plugins.json", "/openapi-plugins.json"),
        ("plugins/notes.json", "/openapi/notes.json"),
        ("openapi-3.0.json", "/openapi-3.0.json"),
    ] {
        let exported = std::fs::read(dir.join(file)).unwrap();
        let (status, _, body) = get(&base, served).await;
        assert_eq!(status, 200, "{served}");
        assert!(exported == body, "{file} differs from what {served} serves");
    }
    let doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("openapi.json")).unwrap()).unwrap();
    // Its own authentication, in its own words, and nothing of the built-in store's.
    assert_eq!(
        doc["components"]["securitySchemes"],
        json!({"gateway": {"type": "apiKey", "in": "header", "name": "x-user-id", "description": GATEWAY_WORDS}})
    );
    assert_eq!(
        doc["paths"]["/api/v1/plugin/notes/notes"]["post"]["security"],
        json!([{"gateway": ["notes:write"]}])
    );
    let text = doc.to_string();
    for absent in ["/v1/plugins/", "/v1/auth", "plk_", "Bearer"] {
        assert!(!text.contains(absent), "the document mentions {absent}");
    }
    // The host's own route is served, and not described.
    assert!(doc["paths"].get("/status").is_none());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["plugins"][0]["basePath"], "/api/v1/plugin/notes");
    // Every plugin the crate declares is mounted.
    plugin_host_app::assembled().assert_mounted(&[NotesPlugin::META]);
    std::fs::remove_dir_all(&dir).unwrap();
}
