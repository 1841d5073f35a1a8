//! `permissions(...)` on a plugin and on a route: presets expanded, the route's replacing the
//! plugin's entirely, `none` allowing nothing.
use plugin_routes::prelude::*;

#[plugin_route(method = "GET", path = "/status")]
async fn status() -> RouteResult<String> {
    Ok(String::new())
}

#[plugin_route(
    method = "POST",
    path = "/push",
    permissions(git, shell("git push"), net("{remote}", "127.0.0.1:9418"))
)]
async fn push() -> RouteResult<String> {
    Ok(String::new())
}

#[plugin_route(method = "GET", path = "/quiet", permissions(none))]
async fn quiet() -> RouteResult<String> {
    Ok(String::new())
}

#[plugin(
    name = "demo",
    version = "1.0.0",
    permissions(git, tmp, fs(read("/etc/ssl")), env("EDITOR", "MY_*")),
    routes(status, push, quiet)
)]
pub struct DemoPlugin;

fn main() {
    let meta = <DemoPlugin as plugin_routes::Plugin>::META;
    let status = meta.routes[0].effective_permissions(meta);
    assert_eq!(status.presets, ["git", "tmp"]);
    assert_eq!(status.shell, ["git"]);
    assert_eq!(status.read, ["{home}/.gitconfig", "{home}/.config/git", "/etc/ssl"]);
    assert_eq!(status.write, ["{repo}", "{tmp}"]);
    assert_eq!(status.env, ["GIT_*", "HOME", "PATH", "LANG", "LC_ALL", "TMPDIR", "EDITOR", "MY_*"]);
    assert!(status.net.is_empty());
    // The route's own replace the plugin's: no `tmp`, no `/etc/ssl`.
    let push = meta.routes[1].effective_permissions(meta);
    assert_eq!(push.presets, ["git"]);
    assert_eq!(push.shell, ["git", "git push"]);
    assert_eq!(push.write, ["{repo}"]);
    assert_eq!(push.read, ["{home}/.gitconfig", "{home}/.config/git"]);
    assert_eq!(push.net, ["{remote}", "127.0.0.1:9418"]);
    assert_eq!(push.placeholders(), ["home", "repo", "remote"]);
    assert!(meta.routes[2].effective_permissions(meta).is_empty());
}
