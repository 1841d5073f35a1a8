//! The values of the placeholders a route's permissions name (`{repo}`, `{provider}`), given
//! when the server starts: a plugin's permissions are written once, at compile time, and where
//! its repository or its provider lives is known only to the server that runs it.

use std::collections::BTreeMap;

/// Placeholder name → one or more values. `{tmp}` (the system's temporary directory) and
/// `{home}` (the server's `HOME`) are always there.
///
/// For a path entry (`{repo}/.git`) a value is an absolute path; for a net entry (`{provider}`)
/// a URL (`https://api.openai.com/v1`) or `host:port`. A placeholder with several values allows
/// each of them.
///
/// ```
/// use plugin_routes::reach::Placeholders;
///
/// let values = Placeholders::new()
///     .with("repo", "/srv/repos/site")
///     .with("provider", "https://api.openai.com/v1");
/// assert_eq!(values.get("repo"), ["/srv/repos/site"]);
/// assert_eq!(values.get("tmp").len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placeholders {
    values: BTreeMap<String, Vec<String>>,
}

impl Placeholders {
    /// Only the built-in ones: `{tmp}` and `{home}`.
    pub fn new() -> Self {
        let mut values = BTreeMap::new();
        values.insert(
            "tmp".to_owned(),
            vec![std::env::temp_dir().to_string_lossy().into_owned()],
        );
        // Without a `HOME`, programs read no per-user files; `/` keeps entries under `{home}`
        // absolute and pointing at nothing that exists.
        let home = std::env::var("HOME")
            .ok()
            .filter(|h| h.starts_with('/'))
            .unwrap_or_else(|| "/".to_owned());
        values.insert("home".to_owned(), vec![home]);
        Placeholders { values }
    }

    /// Adds a value for `name` (without braces), next to any others it has.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        let (values, value) = (self.values.entry(name.into()).or_default(), value.into());
        if !values.contains(&value) {
            values.push(value);
        }
        self
    }

    /// [`insert`](Self::insert), builder style.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds every value of `other` (those already here are not repeated).
    pub fn extend(&mut self, other: &Placeholders) -> &mut Self {
        for (name, values) in &other.values {
            let mine = self.values.entry(name.clone()).or_default();
            for value in values {
                if !mine.contains(value) {
                    mine.push(value.clone());
                }
            }
        }
        self
    }

    /// Says that `name` has no value here, on purpose: entries naming it allow nothing (a
    /// repository without remotes reaches none), where a placeholder never given is a mistake
    /// that stops the assembly.
    pub fn insert_none(&mut self, name: impl Into<String>) -> &mut Self {
        self.values.entry(name.into()).or_default();
        self
    }

    /// Whether `name` was given, with values or with [`insert_none`](Self::insert_none).
    pub fn is_given(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The values of `name`; empty when it has none.
    pub fn get(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether `name` has a value.
    pub fn contains(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }
}

impl Default for Placeholders {
    fn default() -> Self {
        Placeholders::new()
    }
}
