//! `example-server`: the items plugin on SQLite, served over HTTP.
//!
//! ```text
//! example-server [--host 127.0.0.1] [--port 8080]     (PORT, HOST and DATABASE_URL also work)
//! example-server openapi --out openapi                 writes the OpenAPI documents
//! example-server manifest --out openapi/manifest.json  writes the plugin manifest
//! ```
//! The database defaults to `./data/items.db`, created on first start. `openapi` and `manifest`
//! start no server and open no database.

use clap::{Parser, Subcommand};
use items_example::ItemsState;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "example-server",
    version,
    about = "Serves the items plugin under /v1/plugins/items"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// SQLite database URL.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/items.db")]
    database_url: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes the OpenAPI documents the server serves, as files under a directory.
    Openapi {
        /// The directory (created if missing).
        #[arg(long, default_value = "openapi")]
        out: PathBuf,
    },
    /// Writes the plugin manifest: plugins, routes, errors, limits.
    Manifest {
        /// The file.
        #[arg(long, default_value = "openapi/manifest.json")]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = items_example::config();
    match &args.command {
        Some(Command::Openapi { out }) => {
            let specs = plugin_runtime::openapi::Specs::build(&config, items_example::PLUGINS);
            for (name, bytes) in specs.files() {
                write(&out.join(name), bytes)?;
            }
            return Ok(());
        }
        Some(Command::Manifest { out }) => {
            let manifest = plugin_runtime::manifest(&config, items_example::PLUGINS);
            let mut bytes = serde_json::to_vec_pretty(&manifest)?;
            bytes.push(b'\n');
            write(out, &bytes)?;
            return Ok(());
        }
        None => {}
    }

    ensure_parent_dir(&args.database_url)?;
    let state = ItemsState::connect(&args.database_url).await?;
    let app = items_example::app(state);

    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(database = %args.database_url, "listening on http://{addr}");
    tracing::info!("API documents at http://{addr}/openapi.json, Swagger UI at http://{addr}/docs");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    tracing::info!("stopped");
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)?;
    println!("{}", path.display());
    Ok(())
}

/// Creates the directory of a file-backed SQLite URL, so the default works on a fresh checkout.
fn ensure_parent_dir(url: &str) -> std::io::Result<()> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(());
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Ok(());
    }
    match std::path::Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
