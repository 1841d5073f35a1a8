use plugin_routes::auth::{Auth, AuthConfig, AuthRoutes};

async fn serve(pool: ()) {
    let auth = Auth::open(pool, AuthConfig::default()).await;
    let _routes = AuthRoutes::new(auth);
}

fn main() {
    let _ = serve(());
}
