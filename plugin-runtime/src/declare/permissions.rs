//! What a plugin's own code may do, as `permissions(...)` declares it on `#[plugin]` (the default
//! of its routes) and on `#[plugin_route]` (replacing the plugin's entirely). The macro checks
//! each entry with `plugin-routes-rules` and expands the presets, so these lists are the effective ones;
//! placeholders (`{repo}`) are still unresolved: they are filled in at start.

/// What a plugin's code may start, read, write, reach and read from the environment.
#[derive(Debug, PartialEq, Eq)]
pub struct Permissions {
    /// The presets it was built from (`git`, `tmp`), already expanded into the lists below.
    pub presets: &'static [&'static str],
    /// Programs, by name, optionally with the only first argument allowed (`git push`).
    pub shell: &'static [&'static str],
    /// Paths it may read: absolute, or starting with a placeholder.
    pub read: &'static [&'static str],
    /// Paths it may write (and read).
    pub write: &'static [&'static str],
    /// Hosts and ports it may connect to (`api.openai.com:443`), or a placeholder whose value is
    /// a URL or `host:port`.
    pub net: &'static [&'static str],
    /// Environment variables it may read (`GIT_*` is a family).
    pub env: &'static [&'static str],
}

impl Permissions {
    /// Nothing at all: what a route has when neither it nor its plugin declares permissions, and
    /// what `permissions(none)` declares.
    pub const NONE: Permissions = Permissions {
        presets: &[],
        shell: &[],
        read: &[],
        write: &[],
        net: &[],
        env: &[],
    };

    /// Whether it allows nothing.
    pub fn is_empty(&self) -> bool {
        self.shell.is_empty()
            && self.read.is_empty()
            && self.write.is_empty()
            && self.net.is_empty()
            && self.env.is_empty()
    }

    /// As the manifest and the documents' `x-permissions` show it: `presets`, `shell`, `fs`
    /// (`read`, `write`), `net` and `env`, empty lists left out; `{}` allows nothing.
    pub fn json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let put = |map: &mut serde_json::Map<String, serde_json::Value>, key: &str, v: &[&str]| {
            if !v.is_empty() {
                map.insert(key.to_owned(), v.into());
            }
        };
        put(&mut out, "presets", self.presets);
        put(&mut out, "shell", self.shell);
        let mut fs = serde_json::Map::new();
        put(&mut fs, "read", self.read);
        put(&mut fs, "write", self.write);
        if !fs.is_empty() {
            out.insert("fs".to_owned(), fs.into());
        }
        put(&mut out, "net", self.net);
        put(&mut out, "env", self.env);
        out.into()
    }

    /// The placeholders its entries name (`repo` for `{repo}/.git`), each once, in order.
    pub fn placeholders(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for entry in self.read.iter().chain(self.write).chain(self.net) {
            if let Some((name, _)) = plugin_routes_rules::split_placeholder(entry)
                && !out.contains(&name)
            {
                out.push(name);
            }
        }
        out
    }
}
