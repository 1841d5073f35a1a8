//! A plugin's typed configuration: `#[plugin(config = CommitConfig)]` names a type with serde's
//! `Deserialize`, garde's `Validate` and schemars' `JsonSchema`; [`ConfigSource::load`] reads it
//! from environment variables with the plugin's prefix and from files, and checks it whole,
//! before the server listens.
//!
//! Where values come from, each layer over the one before:
//!
//! 1. a shared file given to [`ConfigSource::file`] (or named by `PLUGIN_CONFIG`), TOML or JSON,
//!    with a table per plugin (`[commit]`);
//! 2. the plugin's own file, named by `<PREFIX>CONFIG` (`COMMIT_CONFIG=commit.toml`);
//! 3. environment variables: `COMMIT_GIT_TIMEOUT_SECS` is `git_timeout_secs`, `__` goes one level
//!    down (`AI_PROVIDERS__OPENAI__API_KEY`), names are read in lower case. A number, a boolean or
//!    a list is read from the variable's text as the type asks (`COMMIT_SCOPES=src,docs`, or
//!    JSON: `["src","docs"]`); an empty variable leaves an optional number or flag unset. Of `X`
//!    and `X__Y`, the first in name order wins and the other is logged and ignored.
//!
//! A key starting with `$` (an editor's `$schema`) is ignored at the top of a file and of a
//! plugin's table.
//!
//! Every fault is found in one pass and named where it can be mended (the variable, or the key in
//! its file), with the rule it broke: a missing value, a wrong type, an unknown key in a file,
//! every garde rule. Values are never printed — not in faults, not in `Debug` of a
//! [`ConfigSource`] — so a secret cannot leak through an error; a type's own `Deserialize`
//! message is replaced by a plain one for that reason. Wrap secrets in
//! [`Secret`](super::Secret) so that `Debug` hides them too. A variable with the plugin's prefix
//! that names no setting is logged and ignored (other programs share the environment); an
//! unknown key in a file is a fault.
//!
//! What a configuration type should be, for all of this to hold:
//! - field names in snake_case (serde's default): variables are read in lower case, so a
//!   `rename_all = "camelCase"` field cannot be set from one, and garde names fields by their
//!   Rust names;
//! - `#[serde(deny_unknown_fields)]`, or a misspelt key in a file is silently ignored;
//! - garde `custom` rules whose messages do not repeat the value.
//!
//! On Kubernetes, service links put `<SERVICE>_PORT` and the like in every pod's environment: a
//! service named like a plugin fills its prefix with variables it does not know (logged and
//! ignored), or sets one it does (`COMMIT_PORT`); turn them off with `enableServiceLinks: false`.

use crate::declare::ConfigMeta;
use figment::Figment;
use figment::providers::{Format, Json, Toml};
use figment::value::{Dict, Map, Value as FigValue};
use run::Run;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod run;
mod value;

/// A plugin whose `#[plugin]` declares `config = T`. Implemented by the macro.
pub trait Configured {
    /// The configuration type: a [`PluginConfig`], which the macro checks where `config = T`
    /// names it (each missing derive reported by name) and every use asks for.
    type Config;
    /// What the attribute declares about it.
    const CONFIG: &'static ConfigMeta;
    /// The plugin's name: its table in a shared file.
    const NAME: &'static str;
}

/// What a configuration type must be: read with serde, checked with garde, described with
/// schemars. Each of the three is asked through a trait of its own, so that a missing derive is
/// reported by name at the type in `config = T`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a plugin's configuration",
    note = "derive `serde::Deserialize`, `garde::Validate` and `schemars::JsonSchema` on it (garde's context must be `()`)"
)]
pub trait PluginConfig: IsRead + IsChecked + IsDescribed + Send + 'static {}

impl<T: IsRead + IsChecked + IsDescribed + Send + 'static> PluginConfig for T {}

/// A plugin's configuration is read with serde.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a plugin's configuration, so it must derive `Deserialize` (serde)",
    label = "add `#[derive(Deserialize)]` to `{Self}` (with `use plugin_routes::prelude::*;`)",
    note = "a configuration is also checked with garde (`Validate`) and described with schemars (`JsonSchema`)"
)]
pub trait IsRead: serde::de::DeserializeOwned {}

impl<T: serde::de::DeserializeOwned> IsRead for T {}

/// A plugin's configuration is checked with garde, with no context.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a plugin's configuration, so it must derive `Validate` (garde)",
    label = "add `#[derive(Validate)]` to `{Self}` (with `use plugin_routes::prelude::*;`)",
    note = "mark each field `#[garde(...)]` with its rules, or `#[garde(skip)]`; a configuration's garde context must be `()`"
)]
pub trait IsChecked: garde::Validate<Context = ()> {}

impl<T: garde::Validate<Context = ()>> IsChecked for T {}

/// A plugin's configuration is described with schemars (the manifest shows its schema).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a plugin's configuration, so it must derive `JsonSchema` (schemars 1.x)",
    label = "add `#[derive(JsonSchema)]` to `{Self}` (with `use plugin_routes::prelude::*;`)",
    note = "the manifest lists each plugin's configuration schema"
)]
pub trait IsDescribed: schemars::JsonSchema {}

impl<T: schemars::JsonSchema> IsDescribed for T {}

/// The root JSON Schema of a configuration type (the manifest shows it).
#[doc(hidden)]
pub fn schema_of<T: schemars::JsonSchema>() -> schemars::Schema {
    schemars::SchemaGenerator::default().into_root_schema_for::<T>()
}

/// The root JSON Schema of a plugin's configuration, as `#[plugin(config = T)]` records it. Its
/// bounds are the check of `T` (each of [`PluginConfig`]'s three named by its own trait, so that
/// a missing derive is reported in words, once, at `T`).
#[doc(hidden)]
pub fn schema_of_config<T: IsRead + IsChecked + IsDescribed + Send + 'static>() -> schemars::Schema
{
    schema_of::<T>()
}

/// Where configurations are read from: the environment (the process's, or given variables) and
/// files. Its `Debug` shows the files and how many variables it holds, never a value.
#[derive(Clone, Default)]
pub struct ConfigSource {
    vars: Vec<(String, String)>,
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("variables", &self.vars.len())
            .field("files", &self.files)
            .finish()
    }
}

impl ConfigSource {
    /// The process's environment, and the shared file `PLUGIN_CONFIG` names, if set.
    pub fn from_env() -> Self {
        // The host's configuration, read once before the server listens: not plugin code.
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let shared = vars
            .iter()
            .find(|(k, v)| k == "PLUGIN_CONFIG" && !v.is_empty())
            .map(|(_, v)| PathBuf::from(v));
        let mut source = ConfigSource::from_vars(vars);
        if let Some(file) = shared {
            source = source.file(file);
        }
        source
    }

    /// These variables instead of the process's environment (for tests, or a host that reads
    /// its own).
    pub fn from_vars<K: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        ConfigSource {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            files: Vec::new(),
        }
    }

    /// Also reads `path`, a TOML (`.toml`) or JSON (`.json`) file with a table per plugin,
    /// under the environment and the plugin's own file.
    #[must_use]
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// Reads and checks plugin `P`'s configuration.
    ///
    /// # Errors
    /// Every fault found, each named by the variable or file key to mend.
    pub fn load<P: Configured>(&self) -> Result<P::Config, ConfigError>
    where
        P::Config: PluginConfig,
    {
        self.load_as::<P::Config>(P::NAME, P::CONFIG.env_prefix)
    }

    /// Reads and checks every plugin of a tuple, `(AiPlugin, CommitPlugin)`, and checks that
    /// each table of the shared files belongs to one of them: a table no plugin reads (a
    /// misspelt `[comit]`, a plugin not mounted) is a fault, as an unknown key inside a table is.
    /// Every fault of every plugin, and of the files, comes back at once.
    ///
    /// A file shared with another program, holding tables this one does not read, is read with
    /// [`load`](Self::load) and [`all`] instead, which look at their own tables only.
    ///
    /// # Errors
    /// Each plugin's [`ConfigError`], and one for the shared files' stray tables.
    pub fn load_all<T: ConfiguredAll>(&self) -> Result<T::Configs, ConfigErrors> {
        let mut shared = self.stray_tables(T::NAMES);
        let mut errors = match T::load(self) {
            Ok(configs) if shared.is_empty() => return Ok(configs),
            Ok(_) => Vec::new(),
            Err(errors) => errors.0,
        };
        // A shared file's own fault (missing, not TOML, not a table) is each plugin's that
        // reads it: said once, with the file's other faults.
        let files: Vec<String> = self.files.iter().map(|f| file_name(f)).collect();
        let mut own: Vec<Fault> = Vec::new();
        for error in &mut errors {
            error.faults.retain(|fault| {
                if fault.place != UNNAMED_SHARED && !files.contains(&fault.place) {
                    return true;
                }
                if !own.contains(fault) {
                    own.push(fault.clone());
                }
                false
            });
        }
        errors.retain(|e| !e.faults.is_empty());
        own.append(&mut shared);
        let shared = own;
        if !shared.is_empty() {
            errors.push(ConfigError {
                plugin: None,
                faults: shared,
            });
        }
        Err(ConfigErrors(errors))
    }

    /// The shared files' top-level keys that none of `plugins` reads (a key starting with `$`,
    /// such as an editor's `$schema`, is left alone). A file that cannot be read is named by
    /// each plugin's own load.
    fn stray_tables(&self, plugins: &[&'static str]) -> Vec<Fault> {
        let mut faults: Vec<Fault> = Vec::new();
        for file in &self.files {
            let Ok(figment) = provider_for(file) else {
                continue;
            };
            let Ok(tables) = figment.extract::<serde_json::Map<String, Value>>() else {
                continue;
            };
            for (key, value) in tables
                .iter()
                .filter(|(k, _)| !k.starts_with('$') && !plugins.contains(&k.as_str()))
            {
                let mut read: Vec<&str> = plugins.to_vec();
                read.sort_by_key(|p| std::cmp::Reverse(run::shared_prefix(p, key)));
                let read = read.join("`, `");
                let fault = Fault {
                    place: format!("`{key}` in {}", file_name(file)),
                    problem: if value.is_object() {
                        format!(
                            "no plugin here reads this table; the plugins configured are `{read}`"
                        )
                    } else {
                        format!(
                            "a setting outside any plugin's table; settings go in the table of their plugin: `{read}`"
                        )
                    },
                };
                if !faults.contains(&fault) {
                    faults.push(fault);
                }
            }
        }
        faults
    }

    /// [`load`](Self::load) for a type and prefix given directly.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_as<C: PluginConfig>(
        &self,
        plugin: &'static str,
        prefix: &str,
    ) -> Result<C, ConfigError> {
        let schema = schema_of::<C>();
        let mut run = Run {
            plugin,
            prefix,
            root: schema.as_value(),
            faults: Vec::new(),
            made_up: Vec::new(),
            stopped: false,
        };
        let figment = self.figment(plugin, prefix, &mut run.faults);
        let mut value = match figment.extract::<Value>() {
            Ok(v) => v,
            Err(e) => {
                for e in e {
                    run.faults.push(Fault {
                        place: e
                            .metadata
                            .as_ref()
                            .and_then(|m| m.source.as_ref())
                            .and_then(|s| s.file_path())
                            .map_or_else(|| "a configuration file".to_owned(), file_name),
                        problem: scrub(&e.kind.to_string()),
                    });
                }
                return Err(run.error());
            }
        };
        match &mut value {
            // An editor's `$schema` (or any key starting with `$`) names no setting.
            Value::Object(settings) => settings.retain(|key, _| !key.starts_with('$')),
            _ => value = Value::Object(serde_json::Map::new()),
        }
        run.coerce(&mut value, run.root, &mut Vec::new());
        let parsed = run.deserialize::<C>(&mut value, &figment);
        if let Some(config) = &parsed
            && let Err(report) = config.validate()
        {
            for (path, error) in report.iter() {
                let path: Vec<String> = path
                    .__iter()
                    .rev()
                    .filter(|(kind, _)| !matches!(kind, garde::error::Kind::None))
                    .map(|(_, c)| c.to_string())
                    .collect();
                if run.is_made_up(&path) {
                    continue;
                }
                let place = run.place(&figment, &path);
                run.faults.push(Fault {
                    place,
                    problem: run.with_bounds(&path, error.message()),
                });
            }
        }
        match parsed {
            Some(config) if run.faults.is_empty() => Ok(config),
            _ => Err(run.error()),
        }
    }

    /// The layers for one plugin: shared files' tables, its own file, its variables.
    fn figment(&self, plugin: &str, prefix: &str, faults: &mut Vec<Fault>) -> Figment {
        let mut figment = Figment::new();
        for file in &self.files {
            match provider_for(file) {
                Ok(shared) => figment = figment.merge(shared.focus(plugin)),
                Err(why) => faults.push(why.fault(file, None)),
            }
        }
        let own_var = format!("{prefix}CONFIG");
        // Set and empty is unset, as `KEY=` in a compose file or an env file says.
        if let Some((_, own)) = self
            .vars
            .iter()
            .find(|(k, v)| *k == own_var && !v.is_empty())
        {
            match provider_for(Path::new(own)) {
                Ok(own) => figment = figment.merge(own),
                Err(why) => faults.push(why.fault(Path::new(own), Some(&own_var))),
            }
        }
        figment.merge(Vars {
            prefix: prefix.to_owned(),
            own_var,
            vars: self
                .vars
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .cloned()
                .collect(),
        })
    }
}

/// A file as a figment, if it exists and its kind is known.
fn provider_for(path: &Path) -> Result<Figment, Unreadable> {
    // The name first: a value that does not end so is not printed (a variable meant to name a
    // file may have been given a secret, or settings written inline).
    let toml = match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => true,
        Some("json") => false,
        _ => return Err(Unreadable::Unnamed),
    };
    if path.is_dir() {
        return Err(Unreadable::Directory);
    }
    if !path.is_file() {
        return Err(Unreadable::Missing);
    }
    Ok(if toml {
        Figment::from(Toml::file_exact(path))
    } else {
        Figment::from(Json::file_exact(path))
    })
}

/// Where a shared file is named whose name is not printed (it ends in neither .toml nor .json).
const UNNAMED_SHARED: &str = "a shared configuration file";

/// Why a configuration file cannot be read, before it is parsed.
enum Unreadable {
    /// Its name ends in neither `.toml` nor `.json`: it is not printed.
    Unnamed,
    Directory,
    Missing,
}

impl Unreadable {
    /// The fault, for a shared file (`var` is `None`) or a plugin's own, named by `var`; the
    /// path is printed only where its name ends in `.toml` or `.json`.
    fn fault(self, path: &Path, var: Option<&str>) -> Fault {
        let problem = match self {
            Unreadable::Unnamed => "a configuration file must end in .toml or .json",
            Unreadable::Directory => "a directory, not a file",
            Unreadable::Missing => "no such file",
        };
        let named = !matches!(self, Unreadable::Unnamed);
        match var {
            Some(var) => Fault {
                place: var.to_owned(),
                problem: if named {
                    format!("{problem}: {}", file_name(path))
                } else {
                    problem.to_owned()
                },
            },
            None => Fault {
                place: if named {
                    file_name(path)
                } else {
                    UNNAMED_SHARED.to_owned()
                },
                problem: problem.to_owned(),
            },
        }
    }
}

fn file_name(path: &Path) -> String {
    path.display().to_string()
}

/// A file's parse error without anything quoted from the file: its first line and, where the
/// parser puts it on a line of its own (TOML's `duplicate key`), its reason, never the lines of
/// the file it shows between them; quoted text replaced (a JSON file holding only `"sk-…"` is a
/// string where a table was expected).
fn scrub(s: &str) -> String {
    let first = s.lines().next().unwrap_or_default();
    let reason = s
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains('|'))
        .last();
    let line = match reason {
        Some(reason) => format!("{first}: {reason}"),
        None => first.to_owned(),
    };
    let mut out = String::new();
    let mut inside: Option<char> = None;
    for c in line.chars() {
        match inside {
            Some(q) if c == q => {
                inside = None;
                out.push('…');
                out.push(c);
            }
            Some(_) => {}
            None if matches!(c, '"' | '`' | '\'') => {
                inside = Some(c);
                out.push(c);
            }
            None => out.push(c),
        }
    }
    out
}

/// The plugin's environment variables as a figment layer: `PREFIX_A__B=v` is `a.b = "v"`, the
/// text kept as it is (the type decides how to read it).
struct Vars {
    prefix: String,
    own_var: String,
    vars: Vec<(String, String)>,
}

/// The name figment gives values from [`Vars`]; how a value's origin is told from a file's.
pub(super) const FROM_ENV: &str = "environment variable";

impl figment::Provider for Vars {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(FROM_ENV)
    }

    fn data(&self) -> Result<Map<figment::Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        // In name order, so `X` comes before `X__Y` whatever the environment's order.
        let mut vars: Vec<&(String, String)> = self.vars.iter().collect();
        vars.sort();
        for (name, text) in vars {
            if *name == self.own_var {
                continue;
            }
            let Some(rest) = name.strip_prefix(&self.prefix) else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if keys.iter().any(String::is_empty) {
                continue;
            }
            if !insert(&mut dict, &keys, FigValue::from(text.clone())) {
                tracing::warn!(
                    "{name} is ignored: a variable before it in name order already gives that setting a value"
                );
            }
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// Puts `value` at `keys`, unless something is there already (`X` set, then `X__Y`): false then.
fn insert(dict: &mut Dict, keys: &[String], value: FigValue) -> bool {
    match keys {
        [] => false,
        [last] => {
            if dict.contains_key(last) {
                return false;
            }
            dict.insert(last.clone(), value);
            true
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| FigValue::from(Dict::new()));
            match entry {
                FigValue::Dict(_, inner) => insert(inner, rest, value),
                _ => false,
            }
        }
    }
}

/// One problem in a configuration, without the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Where to mend it: the variable (`COMMIT_REPO`), or the key and its file.
    pub place: String,
    /// What is wrong: the rule it broke.
    pub problem: String,
}

/// A plugin's configuration cannot be used: every fault, each named where it can be mended.
///
/// Its `Debug` is its message (as `{:#?}` gives the fields), so that an error returned with `?`
/// from `main`, which Rust prints with `Debug`, reads as the operator should see it.
pub struct ConfigError {
    plugin: Option<&'static str>,
    faults: Vec<Fault>,
}

impl ConfigError {
    /// The plugin, or `None` for the shared files' tables that no plugin reads
    /// ([`ConfigSource::load_all`]).
    pub fn plugin(&self) -> Option<&'static str> {
        self.plugin
    }

    /// Every fault found.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.faults.len();
        let s = if n == 1 { "" } else { "s" };
        match self.plugin {
            Some(plugin) => write!(
                f,
                "the configuration of plugin `{plugin}` has {n} problem{s}:"
            )?,
            None => write!(f, "the shared configuration has {n} problem{s}:")?,
        }
        for fault in &self.faults {
            write!(f, "\n  {}: {}", fault.place, fault.problem)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            f.debug_struct("ConfigError")
                .field("plugin", &self.plugin)
                .field("faults", &self.faults)
                .finish()
        } else {
            std::fmt::Display::fmt(self, f)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Several plugins' configuration errors, from [`all`] or [`ConfigSource::load_all`] (which adds
/// one, with no plugin, for the shared files themselves). Its `Debug` is its message, as
/// [`ConfigError`]'s is.
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Debug for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            f.debug_tuple("ConfigErrors").field(&self.0).finish()
        } else {
            std::fmt::Display::fmt(self, f)
        }
    }
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Several plugins' [`ConfigSource::load`] results, all loaded or every error at once:
/// `let (ai, commit) = config::all((source.load::<AiPlugin>(), source.load::<CommitPlugin>()))?;`
pub trait All {
    /// The configurations.
    type Output;
    /// All of them, or every error.
    ///
    /// # Errors
    /// Every plugin's that has faults.
    fn all(self) -> Result<Self::Output, ConfigErrors>;
}

/// See [`All`].
///
/// # Errors
/// Every plugin's configuration error at once.
pub fn all<T: All>(results: T) -> Result<T::Output, ConfigErrors> {
    results.all()
}

macro_rules! all_tuple {
    ($($t:ident $v:ident),+) => {
        impl<$($t),+> All for ($(Result<$t, ConfigError>,)+) {
            type Output = ($($t,)+);
            fn all(self) -> Result<Self::Output, ConfigErrors> {
                let ($($v,)+) = self;
                let mut errors = Vec::new();
                $(let $v = match $v { Ok(v) => Some(v), Err(e) => { errors.push(e); None } };)+
                match ($($v,)+) {
                    ($(Some($v),)+) => Ok(($($v,)+)),
                    _ => Err(ConfigErrors(errors)),
                }
            }
        }
    };
}
/// A tuple of plugins with configurations, for [`ConfigSource::load_all`]:
/// `(AiPlugin, CommitPlugin)`.
pub trait ConfiguredAll {
    /// Their configurations, in the same order.
    type Configs;
    /// Their names: the shared files' tables they read.
    const NAMES: &'static [&'static str];
    /// Every plugin's configuration, or every error.
    ///
    /// # Errors
    /// Every plugin's configuration error at once.
    fn load(source: &ConfigSource) -> Result<Self::Configs, ConfigErrors>;
}

macro_rules! configured_tuple {
    ($($t:ident),+) => {
        impl<$($t: Configured),+> ConfiguredAll for ($($t,)+)
        where
            $($t::Config: PluginConfig,)+
        {
            type Configs = ($($t::Config,)+);
            const NAMES: &'static [&'static str] = &[$($t::NAME),+];
            fn load(source: &ConfigSource) -> Result<Self::Configs, ConfigErrors> {
                ($(source.load::<$t>(),)+).all()
            }
        }
    };
}
configured_tuple!(A);
configured_tuple!(A, B);
configured_tuple!(A, B, C);
configured_tuple!(A, B, C, D);
configured_tuple!(A, B, C, D, E);
configured_tuple!(A, B, C, D, E, F);

all_tuple!(A a);
all_tuple!(A a, B b);
all_tuple!(A a, B b, C c);
all_tuple!(A a, B b, C c, D d);
all_tuple!(A a, B b, C c, D d, E e);
all_tuple!(A a, B b, C c, D d, E e, F f);
