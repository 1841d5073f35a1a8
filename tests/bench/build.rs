//! Generates `many_routes.rs` for the start-up benchmark: 500 routes in 10 plugins, each route
//! with a path parameter, a query or body input, an output and a declared error, so building
//! the router and the documents does the work a real API of that size would.

use std::fmt::Write as _;

const PLUGINS: usize = 10;
const ROUTES_PER_PLUGIN: usize = 50;

fn main() {
    let mut out = String::new();
    for p in 0..PLUGINS {
        let mut names = Vec::new();
        for r in 0..ROUTES_PER_PLUGIN {
            let name = format!("route_{p}_{r}");
            let (method, arg, ty, tags) = if r % 2 == 0 {
                (
                    "GET",
                    "query",
                    "Query",
                    "query.tag.into_iter().take(query.page as usize).collect()",
                )
            } else {
                ("POST", "input", "Body", "vec![input.name]")
            };
            let _ = writeln!(
                out,
                "/// Route {r} of plugin {p}.
#[plugin_route(method = \"{method}\", path = \"/r{r}/{{id}}\", errors(NOT_THERE_{r} = 404))]
async fn {name}(id: i64, {arg}: {ty}) -> RouteResult<Output> {{
    if id < 0 {{
        return Err(route_error!(NOT_THERE_{r}));
    }}
    Ok(Output {{ id, tags: {tags} }})
}}
"
            );
            names.push(name);
        }
        let _ = writeln!(
            out,
            "/// Plugin {p}.\n#[plugin(name = \"p{p}\", version = \"1.0.0\", routes({}))]\npub struct Plugin{p};\n",
            names.join(", ")
        );
    }
    let constructors: Vec<String> = (0..PLUGINS).map(|p| format!("Plugin{p}::new()")).collect();
    let metas: Vec<String> = (0..PLUGINS)
        .map(|p| format!("<Plugin{p} as Plugin>::META"))
        .collect();
    let _ = writeln!(
        out,
        "/// All the plugins in one router, with their documents.
pub fn router() -> axum::Router {{
    plugins![auth = plugin_routes::testing::RefuseAll; {}]
}}

/// The plugins' metadata.
pub const METAS: &[&PluginMeta] = &[{}];",
        constructors.join(", "),
        metas.join(", ")
    );
    let dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let path = std::path::Path::new(&dir).join("many_routes.rs");
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
