//! `host-app serve <address>` serves the team's service; `host-app export <dir>` writes the
//! OpenAPI documents and the manifest it serves.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let app = plugin_host_app::assembled();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["export", dir] => match app.write_documents(std::path::Path::new(dir)) {
            Ok(written) => {
                for path in written {
                    println!("{}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("host-app: cannot write the documents under {dir}: {e}");
                ExitCode::FAILURE
            }
        },
        ["serve", address] => {
            let listener = match tokio::net::TcpListener::bind(address).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("host-app: cannot listen on {address}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let router = plugin_host_app::router(&app);
            match plugin_routes::serve(listener, router).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("host-app: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: host-app serve <address> | host-app export <dir>");
            ExitCode::from(2)
        }
    }
}
