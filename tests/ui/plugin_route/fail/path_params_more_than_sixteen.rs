use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Sum {
    total: u32,
}

// The parameters reach the handler as one tuple, and serde reads tuples of at most 16.
#[plugin_route(
    method = "GET",
    path = "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}/{q}",
    security(none)
)]
async fn handler(
    a: u32, b: u32, c: u32, d: u32, e: u32, f: u32, g: u32, h: u32, i: u32,
    j: u32, k: u32, l: u32, m: u32, n: u32, o: u32, p: u32, q: u32,
) -> RouteResult<Sum> {
    Ok(Sum { total: a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p + q })
}

#[plugin(name = "demo", version = "1.0.0", routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
