//! Compile-time checks for duplicate routes and plugins, for routes that need an authenticator
//! the server was not given, and for routes leaving out error codes their plugin does not share.
//!
//! `#[plugin]` and `plugins![]` emit `const _: () = check_…(…);` items. Constants are evaluated
//! by `cargo check` as well as `cargo build`, so a conflict is a compile error whose message
//! names both sides, spanned on the later one. Two routes conflict when they have the same
//! method and full path, or when their paths differ only in a parameter's name at the same
//! position (axum's router cannot hold both, whatever the methods). Two documented routes also
//! conflict when they have the same operation id, explicit or derived.

use crate::declare::{PluginMeta, RouteMeta, is_default_health};
use plugin_routes_rules::str_eq;

/// Checks route `index` of `plugin` against the routes before it, and that each code it leaves
/// out with `errors(CODE = none)` is one the plugin declares.
pub const fn check_plugin_route(
    plugin: &PluginMeta,
    fingerprints: &[RouteFingerprint],
    index: usize,
) {
    let route = plugin.routes[index];
    let mut k = 0;
    while k < route.left_out_errors.len() {
        let code = route.left_out_errors[k];
        let mut declared = false;
        let mut e = 0;
        while e < plugin.errors.len() {
            declared = declared || str_eq(plugin.errors[e].code, code);
            e += 1;
        }
        if !declared {
            fail(
                Msg::new()
                    .s("route `")
                    .s(route.handler)
                    .s("` leaves out `")
                    .s(code)
                    .s("` with `errors(")
                    .s(code)
                    .s(" = none)`, but plugin `")
                    .s(plugin.name)
                    .s("` does not declare it: remove it, or declare it in the plugin's `errors(...)`"),
            );
        }
        k += 1;
    }
    let mut j = 0;
    while j < index {
        sibling_conflict(plugin, fingerprints, index, j);
        j += 1;
    }
}

/// What the checks of two routes of one plugin compare first, computed once a route by
/// [`route_fingerprints`]. Two paths can only conflict when their shapes are equal without their
/// parameters' names, or when they agree up to a parameter named differently at the same
/// position, whatever follows (axum's router cannot hold both); so the fingerprint hashes the
/// shape, and the shape up to the first parameter. Derived operation ids,
/// `<plugin>_<handler>`, are equal exactly when the handlers' names are, so it hashes the name.
/// Each `#[plugin]` compares every pair of its routes, and rustc interprets the comparisons:
/// whole, they made a plugin of fifty routes take seconds to type-check.
#[derive(Clone, Copy, Debug)]
pub struct RouteFingerprint {
    shape: u64,
    /// `0` for a path without parameters.
    to_first_param: u64,
    handler: u64,
}

impl RouteFingerprint {
    /// Whether the paths of the two routes may conflict.
    const fn paths_may_meet(&self, other: &RouteFingerprint) -> bool {
        self.shape == other.shape
            || self.to_first_param != 0 && self.to_first_param == other.to_first_param
    }
}

/// The fingerprints of the first `N` routes of `plugin`, in order.
pub const fn route_fingerprints<const N: usize>(plugin: &PluginMeta) -> [RouteFingerprint; N] {
    let mut out = [RouteFingerprint {
        shape: 0,
        to_first_param: 0,
        handler: 0,
    }; N];
    let mut i = 0;
    while i < N && i < plugin.routes.len() {
        let r = plugin.routes[i];
        let (shape, to_first_param) = shape_hashes(relative(r.path).as_bytes());
        out[i] = RouteFingerprint {
            shape,
            to_first_param,
            handler: fnv(FNV_OFFSET, r.handler.as_bytes()),
        };
        i += 1;
    }
    out
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

const fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash = fnv_byte(hash, bytes[i]);
        i += 1;
    }
    hash
}

const fn fnv_byte(hash: u64, byte: u8) -> u64 {
    (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3)
}

/// The hashes of a path's shape, each parameter's name left out (`/a/{id}` and `/a/{name}` hash
/// alike), and of its shape up to and with its first parameter (`0` without one).
const fn shape_hashes(path: &[u8]) -> (u64, u64) {
    let mut hash = FNV_OFFSET;
    let mut to_first_param = 0;
    let mut i = 0;
    while i < path.len() {
        hash = fnv_byte(hash, path[i]);
        if path[i] == b'{' && i > 0 && path[i - 1] == b'/' {
            while i + 1 < path.len() && path[i + 1] != b'/' {
                i += 1;
            }
            if to_first_param == 0 {
                to_first_param = hash | 1;
            }
        }
        i += 1;
    }
    (hash, to_first_param)
}

/// [`path_conflict`] and [`id_conflict`] for routes `later` and `earlier` of one plugin, each
/// run only when the fingerprints say it may find something (always, without them).
const fn sibling_conflict(
    plugin: &PluginMeta,
    prints: &[RouteFingerprint],
    later: usize,
    earlier: usize,
) {
    let (l, e) = (plugin.routes[later], plugin.routes[earlier]);
    if l.is_fallback() || e.is_fallback() {
        return;
    }
    let printed = later < prints.len() && earlier < prints.len();
    if !printed || prints[later].paths_may_meet(&prints[earlier]) {
        path_conflict(plugin, l, plugin, e);
    }
    let derived = l.operation_id.is_none() && e.operation_id.is_none();
    if !printed || !derived || prints[later].handler == prints[earlier].handler {
        id_conflict(plugin, l, plugin, e);
    }
}

/// A route's path as it adds to its plugin's base path: `/` adds nothing.
const fn relative(path: &str) -> &str {
    if str_eq(path, "/") { "" } else { path }
}

/// Checks plugin `index` of `plugins` against the plugins before it: names, base paths and every
/// pair of routes, default health endpoints included.
pub const fn check_plugins(plugins: &[&PluginMeta], index: usize) {
    let p = plugins[index];
    if p.is_fallback() {
        return;
    }
    let mut j = 0;
    while j < index {
        let q = plugins[j];
        if q.is_fallback() {
            j += 1;
            continue;
        }
        if str_eq(p.name, q.name) {
            fail(
                Msg::new()
                    .s("two plugins are named `")
                    .s(p.name)
                    .s("`: `")
                    .s(q.type_name)
                    .s("` and `")
                    .s(p.type_name)
                    .s("`; plugin names must be unique"),
            );
        }
        if str_eq(p.base_path, q.base_path) {
            fail(
                Msg::new()
                    .s("plugins `")
                    .s(q.name)
                    .s("` (`")
                    .s(q.type_name)
                    .s("`) and `")
                    .s(p.name)
                    .s("` (`")
                    .s(p.type_name)
                    .s("`) share the base path `")
                    .s(p.base_path)
                    .s("`; give one of them another `base_path`"),
            );
        }
        check_routes(p, q);
        j += 1;
    }
}

/// For `plugins![...]` given no authenticator: the message that fails compilation if a route
/// of plugin `index` needs one, by its own or its plugin's `security(...)`, or by inheriting the
/// server's default `security(user, token)`. With `defer_inherited` (the server's default comes
/// from a `config` built at run time) inherited security is left to `Assembly::finish`, at
/// start. Nothing could check its callers' credentials, so it would answer 401 to everyone.
/// The generated `const` panics with the message itself, so the error is that one line, at the
/// plugin in `plugins![...]`, without the notes of a panic inside this function.
pub const fn check_authenticator_needed(
    plugins: &[&PluginMeta],
    index: usize,
    defer_inherited: bool,
) -> Option<Msg> {
    let p = plugins[index];
    if p.is_fallback() {
        return None;
    }
    let mut i = 0;
    while i < p.routes.len() {
        let r = p.routes[i];
        let declared = match r.security {
            Some(s) => Some(s),
            None => p.security,
        };
        let public = match declared {
            Some(s) => s.is_public(),
            None => defer_inherited,
        };
        if !r.is_fallback() && !public {
            let schemes = match declared {
                Some(s) => s.schemes(),
                None => crate::declare::Security::DEFAULT.schemes(),
            };
            let mut m = describe(
                Msg::new().s("route `").s(r.method.as_str()).s(" "),
                p.base_path,
                r.path,
            )
            .s("` (")
            .s_route(r, p)
            .s(") admits callers by the scheme");
            m = if schemes.len() > 1 {
                m.s("s ")
            } else {
                m.s(" ")
            };
            let mut k = 0;
            while k < schemes.len() {
                if k > 0 {
                    m = m.s(if k + 1 == schemes.len() { " or " } else { ", " });
                }
                m = m.s("`").s(schemes[k]).s("`");
                k += 1;
            }
            let (them, naming_them) = if schemes.len() > 1 {
                ("them", "naming them")
            } else {
                ("it", "naming it")
            };
            return Some(
                m.s(", but `plugins![...]` has no authenticator to serve ")
                    .s(them)
                    .s(": add `auth = <an Authenticator>;` ")
                    .s(naming_them)
                    .s(" in its `schemes()` (the built-in store, `plugin_routes::auth::Auth`, serves `user`, `token` and `oauth`), or declare `security(none)` on the route or its plugin if it is public"),
            );
        }
        i += 1;
    }
    None
}

/// Checks every route of `p` against every route of `q`, skipping what cannot collide: when the
/// base paths part before either ends, no two full paths can be equal; when the names part, no
/// two derived operation ids can be, and only explicit ones need comparing. Plugins that share
/// no prefix and set no explicit ids are not compared route by route at all: rustc bounds how
/// long a constant may take to evaluate, and a large API would exceed it.
const fn check_routes(p: &PluginMeta, q: &PluginMeta) {
    let paths_may_meet = !diverge(p.base_path.as_bytes(), q.base_path.as_bytes());
    let ids_may_meet = !diverge(p.name.as_bytes(), q.name.as_bytes());
    let explicit_ids = has_explicit_id(p) || has_explicit_id(q);
    if !paths_may_meet && !ids_may_meet && !explicit_ids {
        return;
    }
    let mut a = 0;
    while a < route_count(p) {
        let ra = route_at(p, a);
        let mut b = 0;
        while b < route_count(q) {
            let rb = route_at(q, b);
            if paths_may_meet {
                path_conflict(p, ra, q, rb);
            }
            if ids_may_meet || ra.operation_id.is_some() || rb.operation_id.is_some() {
                id_conflict(p, ra, q, rb);
            }
            b += 1;
        }
        a += 1;
    }
}

const fn has_explicit_id(p: &PluginMeta) -> bool {
    let mut i = 0;
    while i < p.routes.len() {
        if p.routes[i].operation_id.is_some() {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether `a` and `b` differ at some position both have (`-` and `_` count as equal, as they
/// do in derived operation ids): then neither starts with the other.
const fn diverge(a: &[u8], b: &[u8]) -> bool {
    let mut i = 0;
    while i < a.len() && i < b.len() {
        let (x, y) = (a[i], b[i]);
        let same = x == y || (x == b'-' || x == b'_') && (y == b'-' || y == b'_');
        if !same {
            return true;
        }
        i += 1;
    }
    false
}

const fn route_count(p: &PluginMeta) -> usize {
    p.routes.len() + if p.serves_default_health() { 1 } else { 0 }
}

const fn route_at(p: &PluginMeta, i: usize) -> &RouteMeta {
    if i < p.routes.len() {
        p.routes[i]
    } else {
        p.health
    }
}

/// Fails compilation if two documented routes have the same operation id.
const fn id_conflict(lp: &PluginMeta, later: &RouteMeta, ep: &PluginMeta, earlier: &RouteMeta) {
    if later.is_fallback() || earlier.is_fallback() {
        return;
    }
    if !later.is_hidden(lp) && !earlier.is_hidden(ep) {
        let (a, b) = (OpId::new(lp, later), OpId::new(ep, earlier));
        if a.eq(&b) {
            fail(
                a.write(Msg::new().s("operation id `"))
                    .s("` is used by ")
                    .s_route(later, lp)
                    .s(" and by ")
                    .s_route(earlier, ep)
                    .s("; operation ids are unique across all plugins: set `operation_id = \"...\"` on one of them"),
            );
        }
    }
}

/// Fails compilation if two routes have the same method and path, or name a path parameter
/// differently at the same position.
const fn path_conflict(lp: &PluginMeta, later: &RouteMeta, ep: &PluginMeta, earlier: &RouteMeta) {
    if later.is_fallback() || earlier.is_fallback() {
        return;
    }
    match compare(lp.base_path, later.path, ep.base_path, earlier.path) {
        Shape::Different => {}
        Shape::Same => {
            if later.method as u8 == earlier.method as u8 {
                fail(
                    describe(
                        Msg::new()
                            .s("duplicate route `")
                            .s(later.method.as_str())
                            .s(" "),
                        lp.base_path,
                        later.path,
                    )
                    .s("`: declared by ")
                    .s_route(later, lp)
                    .s(" and by ")
                    .s_route(earlier, ep),
                );
            } else if later.operation.is_some() && earlier.operation.is_some() {
                // Each adds `GET {path}/operations/{operationId}` and the rest beside itself.
                let m = describe(
                    Msg::new().s("routes `").s(later.method.as_str()).s(" "),
                    lp.base_path,
                    later.path,
                )
                .s("` (")
                .s_route(later, lp)
                .s(") and `")
                .s(earlier.method.as_str())
                .s("` (")
                .s_route(earlier, ep)
                .s(") are both operations on one path, so both would serve `GET ");
                fail(
                    describe(m, ep.base_path, earlier.path)
                        .s("/operations/{operationId}`; give one a path of its own, or make only one an `operation`"),
                );
            }
        }
        Shape::ParamNamesDiffer => {
            let m = describe(
                Msg::new().s("routes `").s(later.method.as_str()).s(" "),
                lp.base_path,
                later.path,
            )
            .s("` (")
            .s_route(later, lp)
            .s(") and `")
            .s(earlier.method.as_str())
            .s(" ");
            fail(
                describe(m, ep.base_path, earlier.path)
                    .s("` (")
                    .s_route(earlier, ep)
                    .s(") name the same path parameter differently; use one name at each position"),
            );
        }
    }
}

enum Shape {
    Different,
    Same,
    ParamNamesDiffer,
}

/// Compares `base_a + rel_a` with `base_b + rel_b` segment by segment.
const fn compare(base_a: &str, rel_a: &str, base_b: &str, rel_b: &str) -> Shape {
    let a = Joined::new(base_a, rel_a);
    let b = Joined::new(base_b, rel_b);
    let (mut i, mut j) = (0, 0);
    loop {
        if i >= a.len() && j >= b.len() {
            return Shape::Same;
        }
        if i >= a.len() || j >= b.len() {
            return Shape::Different;
        }
        // Both are at a `/`; step over it and find the segments' ends.
        i += 1;
        j += 1;
        let ea = a.segment_end(i);
        let eb = b.segment_end(j);
        let pa = i < a.len() && a.at(i) == b'{';
        let pb = j < b.len() && b.at(j) == b'{';
        if pa && pb {
            if !a.range_eq(i, ea, &b, j, eb) {
                return Shape::ParamNamesDiffer;
            }
        } else if pa || pb || !a.range_eq(i, ea, &b, j, eb) {
            return Shape::Different;
        }
        i = ea;
        j = eb;
    }
}

/// A base path and a route path read as one string, as `full_path` joins them: a route path of
/// `/` adds nothing, and the site base path `/` stands for nothing before a route path.
struct Joined<'a> {
    base: &'a [u8],
    rel: &'a [u8],
}

impl<'a> Joined<'a> {
    const fn new(base: &'a str, rel: &'a str) -> Self {
        let rel = if str_eq(rel, "/") { "" } else { rel };
        let base = if str_eq(base, "/") && !rel.is_empty() {
            ""
        } else {
            base
        };
        Joined {
            base: base.as_bytes(),
            rel: rel.as_bytes(),
        }
    }

    const fn len(&self) -> usize {
        self.base.len() + self.rel.len()
    }

    const fn at(&self, i: usize) -> u8 {
        if i < self.base.len() {
            self.base[i]
        } else {
            self.rel[i - self.base.len()]
        }
    }

    const fn segment_end(&self, mut i: usize) -> usize {
        while i < self.len() && self.at(i) != b'/' {
            i += 1;
        }
        i
    }

    const fn range_eq(&self, i: usize, ei: usize, other: &Joined<'_>, j: usize, ej: usize) -> bool {
        if ei - i != ej - j {
            return false;
        }
        let mut k = 0;
        while k < ei - i {
            if self.at(i + k) != other.at(j + k) {
                return false;
            }
            k += 1;
        }
        true
    }
}

/// A route's operation id, `operation_id` or the one `plugin_routes_rules::derive_operation_id` derives,
/// readable byte by byte in a `const fn`.
struct OpId<'a> {
    explicit: Option<&'a [u8]>,
    plugin: &'a str,
    handler: &'a str,
}

impl<'a> OpId<'a> {
    const fn new(p: &'a PluginMeta, r: &'a RouteMeta) -> Self {
        OpId {
            explicit: match r.operation_id {
                Some(id) => Some(id.as_bytes()),
                None => None,
            },
            plugin: p.name,
            handler: r.handler,
        }
    }

    const fn len(&self) -> usize {
        match self.explicit {
            Some(e) => e.len(),
            None => self.plugin.len() + 1 + self.handler.len(),
        }
    }

    const fn at(&self, i: usize) -> u8 {
        match self.explicit {
            Some(e) => e[i],
            None => plugin_routes_rules::operation_id_byte(self.plugin, self.handler, i),
        }
    }

    const fn eq(&self, other: &OpId<'_>) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut i = 0;
        while i < self.len() {
            if self.at(i) != other.at(i) {
                return false;
            }
            i += 1;
        }
        true
    }

    const fn write(&self, mut m: Msg) -> Msg {
        let mut i = 0;
        while i < self.len() {
            m = m.byte(self.at(i));
            i += 1;
        }
        m
    }
}

const fn describe(m: Msg, base: &str, rel: &str) -> Msg {
    if str_eq(rel, "/") {
        m.s(base)
    } else if str_eq(base, "/") {
        m.s(rel)
    } else {
        m.s(base).s(rel)
    }
}

/// A message built at compile time; long parts are cut rather than overflowing.
#[doc(hidden)]
#[derive(Debug)]
pub struct Msg {
    buf: [u8; 1024],
    len: usize,
}

impl Msg {
    const fn new() -> Self {
        Msg {
            buf: [0; 1024],
            len: 0,
        }
    }

    const fn s(mut self, s: &str) -> Self {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() && self.len < self.buf.len() {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn byte(mut self, b: u8) -> Self {
        if self.len < self.buf.len() {
            self.buf[self.len] = b;
            self.len += 1;
        }
        self
    }

    /// "`module::handler` in plugin `name`", or its default health endpoint.
    const fn s_route(self, r: &RouteMeta, p: &PluginMeta) -> Self {
        let m = if is_default_health(r) {
            self.s("the default `GET /health`")
        } else {
            self.s("`").s(r.module).s("::").s(r.handler).s("`")
        };
        m.s(" in plugin `").s(p.name).s("`")
    }
}

const fn fail(m: Msg) {
    panic!("{}", m.text())
}

impl Msg {
    /// The message. Cutting at the buffer's end may split a multi-byte character: the valid
    /// part then.
    pub const fn text(&self) -> &str {
        let (head, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(head) {
            Ok(s) => s,
            Err(e) => match core::str::from_utf8(head.split_at(e.valid_up_to()).0) {
                Ok(s) => s,
                Err(_) => "",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(a: (&str, &str), b: (&str, &str)) -> &'static str {
        match compare(a.0, a.1, b.0, b.1) {
            Shape::Different => "different",
            Shape::Same => "same",
            Shape::ParamNamesDiffer => "names",
        }
    }

    #[test]
    fn compares_full_paths() {
        assert_eq!(
            shape(("/v1/plugins/a", "/items"), ("/v1/plugins/a", "/items")),
            "same"
        );
        assert_eq!(
            shape(("/v1/plugins/a", "/x/y"), ("/v1/plugins/a/x", "/y")),
            "same"
        );
        assert_eq!(
            shape(("/v1/plugins/a", "/"), ("/v1/plugins/a", "/")),
            "same"
        );
        assert_eq!(
            shape(
                ("/v1/plugins/a", "/items/{id}"),
                ("/v1/plugins/a", "/items/{key}")
            ),
            "names"
        );
        assert_eq!(
            shape(
                ("/v1/plugins/a", "/items/{id}/x"),
                ("/v1/plugins/a", "/items/{key}")
            ),
            "names"
        );
        assert_eq!(
            shape(
                ("/v1/plugins/a", "/items/{id}"),
                ("/v1/plugins/a", "/items/new")
            ),
            "different"
        );
        assert_eq!(
            shape(("/v1/plugins/a", "/items"), ("/v1/plugins/b", "/items")),
            "different"
        );
        assert_eq!(
            shape(("/v1/plugins/a", "/item"), ("/v1/plugins/a", "/items")),
            "different"
        );
    }

    /// A fingerprint may say "maybe" wrongly, never "no": whenever two relative paths compare
    /// as anything but different, their shapes hash alike.
    #[test]
    fn shapes_hash_alike_whenever_paths_may_conflict() {
        let paths = [
            "/",
            "/items",
            "/items/",
            "/item",
            "/items/{id}",
            "/items/{key}",
            "/items/{*rest}",
            "/items/new",
            "/items/{id}/x",
            "/items/{key}/x",
            "/items/{id}/y",
            "/{a}",
            "/{b}/c",
            "/x{y}",
            "/x{z}",
        ];
        for a in paths {
            for b in paths {
                let may_conflict =
                    !matches!(compare("", relative(a), "", relative(b)), Shape::Different);
                let print = |p: &str| {
                    let (shape, to_first_param) = shape_hashes(relative(p).as_bytes());
                    RouteFingerprint {
                        shape,
                        to_first_param,
                        handler: 0,
                    }
                };
                if may_conflict {
                    assert!(
                        print(a).paths_may_meet(&print(b)),
                        "`{a}` and `{b}` may conflict but their fingerprints say not"
                    );
                }
                assert_eq!(
                    may_conflict,
                    matches!(
                        compare("/v1/plugins/p", a, "/v1/plugins/p", b),
                        Shape::Same | Shape::ParamNamesDiffer
                    ),
                    "`{a}` and `{b}` compare otherwise under a shared base path"
                );
            }
        }
        assert_ne!(shape_hashes(b"/items/{id}"), shape_hashes(b"/items/new"));
        assert_eq!(
            shape_hashes(b"/items/{id}/x"),
            shape_hashes(b"/items/{key}/x")
        );
        assert_eq!(shape_hashes(b"/items").1, 0);
    }

    #[test]
    fn diverge_means_neither_starts_with_the_other() {
        assert!(diverge(b"/v1/plugins/a", b"/v1/plugins/b"));
        assert!(!diverge(b"/v1/plugins/a", b"/v1/plugins/a/x"));
        assert!(!diverge(b"a-b", b"a_b"));
        assert!(!diverge(b"a", b"a-b"));
    }

    const fn plugin(
        name: &'static str,
        base_path: &'static str,
        routes: &'static [&'static RouteMeta],
    ) -> PluginMeta {
        PluginMeta {
            name,
            version: "1.0.0",
            base_path,
            type_name: "P",
            routes,
            ..PluginMeta::BLANK
        }
    }

    /// Plugin `a-b`'s `c` and plugin `a`'s `b_c` both derive `a_b_c`; the names share a prefix,
    /// so the pair is compared even though nothing is explicit.
    #[test]
    #[should_panic(expected = "operation id `a_b_c` is used by")]
    fn derived_ids_that_meet_across_plugins_are_found() {
        const C: RouteMeta = RouteMeta {
            handler: "c",
            module: "m",
            path: "/c",
            hidden: false,
            ..RouteMeta::BLANK
        };
        const BC: RouteMeta = RouteMeta {
            handler: "b_c",
            module: "m",
            path: "/bc",
            hidden: false,
            ..RouteMeta::BLANK
        };
        const FIRST: PluginMeta = plugin("a-b", "/v1/plugins/x", &[&C]);
        const SECOND: PluginMeta = plugin("a", "/v1/plugins/y", &[&BC]);
        check_plugins(&[&FIRST, &SECOND], 1);
    }
}
