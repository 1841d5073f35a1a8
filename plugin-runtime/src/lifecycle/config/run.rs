//! One load of a configuration: serde's faults found one at a time, each recorded where it can be
//! mended and the value mended (a stand-in of the right type, or an unknown key removed) so the
//! next is found; the words that say what is wrong without the value.

use super::value::{
    child, number_bounds, number_type, read_text, remove, resolve, schema_at, set, synthesize,
};
use super::{ConfigError, FROM_ENV, Fault, PluginConfig, file_name};
use figment::Figment;
use serde_json::Value;

/// One load: the schema, the faults so far, the values made up to go on past a fault.
pub(super) struct Run<'a> {
    pub(super) plugin: &'static str,
    pub(super) prefix: &'a str,
    pub(super) root: &'a Value,
    pub(super) faults: Vec<Fault>,
    pub(super) made_up: Vec<Vec<String>>,
    /// Whether serde's faults were not all found (a stand-in refused, or too many passes).
    pub(super) stopped: bool,
}

/// How many faults serde may report, one at a time, before the rest are left for the next start.
const MAX_PASSES: usize = 256;

impl Run<'_> {
    pub(super) fn error(mut self) -> ConfigError {
        if self.stopped || self.faults.is_empty() {
            self.faults.push(Fault {
                place: format!("the configuration (variables {}*)", self.prefix),
                problem: if self.faults.is_empty() {
                    "cannot be read as its type".to_owned()
                } else {
                    "not checked past the problems above: mend them and start again".to_owned()
                },
            });
        }
        ConfigError {
            plugin: Some(self.plugin),
            faults: self.faults,
        }
    }

    pub(super) fn is_made_up(&self, path: &[String]) -> bool {
        self.made_up.iter().any(|m| path.starts_with(m))
    }

    /// The variable a path is read from.
    fn var(&self, path: &[String]) -> String {
        let keys: Vec<String> = path.iter().map(|k| k.to_ascii_uppercase()).collect();
        format!("{}{}", self.prefix, keys.join("__"))
    }

    /// Where the value at `path` came from, for a message: its variable, or its key in a file;
    /// for a value that is not there, the variable that would give it.
    pub(super) fn place(&self, figment: &Figment, path: &[String]) -> String {
        let dotted = path.join(".");
        let mut probe = path.len();
        while probe > 0 {
            if let Some(meta) = figment.find_metadata(&path[..probe].join(".")) {
                return match meta.source.as_ref().and_then(|s| s.file_path()) {
                    Some(file) => format!("`{dotted}` in {}", file_name(file)),
                    // The variable that was set, and where in its value (`DEMO_TAGS[1]`).
                    None if meta.name == FROM_ENV => {
                        let mut named = self.var(&path[..probe]);
                        for key in &path[probe..] {
                            if key.parse::<usize>().is_ok() {
                                named.push_str(&format!("[{key}]"));
                            } else {
                                named.push_str(&format!(".{key}"));
                            }
                        }
                        named
                    }
                    None => format!("`{dotted}` ({})", meta.name),
                };
            }
            probe -= 1;
        }
        if dotted.is_empty() {
            return format!("the configuration (variables {}*)", self.prefix);
        }
        format!("{} (or `{dotted}` in a configuration file)", self.var(path))
    }

    /// Text from variables read as the schema asks: numbers, booleans, lists.
    pub(super) fn coerce(&self, value: &mut Value, schema: &Value, path: &mut Vec<String>) {
        let schema = resolve(self.root, schema);
        match value {
            Value::String(text) => {
                if let Some(read) = read_text(self.root, schema, text) {
                    *value = read;
                    self.coerce_children(value, schema, path);
                }
            }
            Value::Object(_) | Value::Array(_) => self.coerce_children(value, schema, path),
            _ => {}
        }
    }

    fn coerce_children(&self, value: &mut Value, schema: &Value, path: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if let Some(child) = child(self.root, schema, k) {
                        path.push(k.clone());
                        self.coerce(v, child, path);
                        path.pop();
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    if let Some(child) = child(self.root, schema, &i.to_string()) {
                        path.push(i.to_string());
                        self.coerce(v, child, path);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    /// Deserializes, and on each fault records it, mends the value (a made-up value of the
    /// right type, or the unknown key removed) and tries again.
    pub(super) fn deserialize<C: PluginConfig>(
        &mut self,
        value: &mut Value,
        figment: &Figment,
    ) -> Option<C> {
        let mut seen: Vec<(Vec<String>, String)> = Vec::new();
        for _ in 0..MAX_PASSES {
            let error = match serde_path_to_error::deserialize::<_, C>(&*value) {
                Ok(config) => return Some(config),
                Err(e) => e,
            };
            let mut path: Vec<String> = error
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                    serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                    serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect();
            let message = error.into_inner().to_string();
            if seen.iter().any(|(p, m)| *p == path && *m == message) {
                // Mending did not help (the type refuses any stand-in the schema suggests): say
                // so unless it is a stand-in, and stop; what follows is not checked this time.
                if !self.is_made_up(&path) {
                    let place = self.place(figment, &path);
                    self.faults.push(Fault {
                        place,
                        problem: problem_of(&message),
                    });
                }
                self.stopped = true;
                return None;
            }
            seen.push((path.clone(), message.clone()));
            if let Some(field) = quoted_after(&message, "missing field `") {
                path.push(field);
                if !self.is_made_up(&path) {
                    self.faults.push(Fault {
                        place: self.place(figment, &path),
                        problem: "required, and not set".to_owned(),
                    });
                }
                self.make_up(value, &path);
            } else if let Some(field) = quoted_after(&message, "unknown field `") {
                if path.last() != Some(&field) {
                    path.push(field);
                }
                let place = self.place(figment, &path);
                let from_env = !place.contains('`');
                let expected = expected_of(&message);
                if from_env {
                    // Named as variables, the one meant most likely first.
                    let parent = &path[..path.len() - 1];
                    let mut known: Vec<String> = expected
                        .unwrap_or_default()
                        .split('`')
                        .skip(1)
                        .step_by(2)
                        .map(|k| {
                            let mut p = parent.to_vec();
                            p.push(k.to_owned());
                            self.var(&p)
                        })
                        .collect();
                    known.sort_by_key(|k| std::cmp::Reverse(shared_prefix(k, &place)));
                    tracing::warn!(
                        plugin = self.plugin,
                        "{place} is not a setting of this plugin and is ignored; its variables are {}",
                        known.join(", ")
                    );
                } else {
                    self.faults.push(Fault {
                        place,
                        problem: match expected {
                            Some(e) => format!("not a setting; expected {e}"),
                            None => "not a setting".to_owned(),
                        },
                    });
                }
                remove(value, &path);
            } else {
                if !self.is_made_up(&path) {
                    // A number the schema bounds is told those bounds within its type's.
                    let bounded = schema_at(self.root, &path)
                        .and_then(|schema| number_bounds(self.root, schema))
                        .and_then(|bounds| within_type(expected_of(&message)?, bounds));
                    self.faults.push(Fault {
                        place: self.place(figment, &path),
                        problem: match bounded {
                            Some(words) => format!("expected {words}"),
                            None => problem_of(&message),
                        },
                    });
                }
                self.make_up(value, &path);
            }
        }
        self.stopped = true;
        None
    }

    /// garde's `message` for the setting at `path`, with the whole range when it is a number
    /// out of its schema's bounds (`lower than 1` alone does not say the most it may be).
    pub(super) fn with_bounds(&self, path: &[String], message: &str) -> String {
        if !(message.starts_with("lower than") || message.starts_with("greater than")) {
            return message.to_owned();
        }
        // The bound garde names counts too: a rule the schema does not carry (`inner(...)` on
        // an `Option`) must not be contradicted by the schema's looser one.
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        };
        let words = schema_at(self.root, path).and_then(|s| {
            let (low, high) = number_bounds(self.root, s).unwrap_or((None, None));
            let low = tighter(low, named("lower than "), f64::max);
            let high = tighter(high, named("greater than "), f64::min);
            within_type(number_type(self.root, s)?, (low, high))
        });
        match words {
            Some(words) => format!("{message}: expected {words}"),
            None => message.to_owned(),
        }
    }

    /// Puts a value of the schema's type at `path`, and remembers that it is not the user's.
    fn make_up(&mut self, value: &mut Value, path: &[String]) {
        let made = schema_at(self.root, path).map_or(Value::Null, |s| synthesize(self.root, s, 0));
        set(value, path, made);
        self.made_up.push(path.to_vec());
    }
}

/// `missing field `repo`` → `repo`.
fn quoted_after(message: &str, start: &str) -> Option<String> {
    let rest = message.strip_prefix(start)?;
    Some(rest.split('`').next()?.to_owned())
}

/// The part of serde's message after `expected`, which names the type and never the value.
fn expected_of(message: &str) -> Option<&str> {
    message
        .rfind(", expected ")
        .map(|i| &message[i + ", expected ".len()..])
        .or_else(|| message.split_once("expected ").map(|(_, e)| e))
}

pub(super) fn shared_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// What is wrong, in words that leave out the value.
fn problem_of(message: &str) -> String {
    let cut = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ];
    if cut.iter().any(|c| message.starts_with(c)) {
        return match expected_of(message) {
            Some(e) => format!("expected {}", in_words(e)),
            None => "not a value of the right type".to_owned(),
        };
    }
    // A message of the type's own `Deserialize` (a URL's parser, an IP address's): such
    // messages often repeat the value, so none of it is kept.
    "not a valid value for this setting".to_owned()
}

/// A number of Rust type `expected` (serde's name for it) within a schema's `bounds`, in
/// words: the tighter of the two at each end (`a whole number from 1 to 64` for a `u32` whose
/// schema says at least 1 and at most 64; `from 1 to 4294967295` with at least 1 alone).
/// `None` when `expected` is not a number type.
fn within_type(expected: &str, bounds: (Option<f64>, Option<f64>)) -> Option<String> {
    // The 64-bit types' ends are said as "or more" or not at all, as without a schema.
    let (whole, low, high): (bool, Option<f64>, Option<f64>) = match expected {
        "u8" => (true, Some(0.0), Some(255.0)),
        "u16" => (true, Some(0.0), Some(65_535.0)),
        "u32" => (true, Some(0.0), Some(4_294_967_295.0)),
        "u64" | "u128" | "usize" => (true, Some(0.0), None),
        "i8" => (true, Some(-128.0), Some(127.0)),
        "i16" => (true, Some(-32_768.0), Some(32_767.0)),
        "i32" => (true, Some(-2_147_483_648.0), Some(2_147_483_647.0)),
        "i64" | "i128" | "isize" => (true, None, None),
        "f32" | "f64" => (false, None, None),
        _ => return None,
    };
    let low = tighter(low, bounds.0, f64::max);
    let high = tighter(high, bounds.1, f64::min);
    let kind = if whole { "a whole number" } else { "a number" };
    // `{}` writes 1000000.0 as 1000000, and 0.5 as it is.
    Some(match (low, high) {
        (Some(low), Some(high)) => format!("{kind} from {low} to {high}"),
        (Some(low), None) => format!("{kind}, {low} or more"),
        (None, Some(high)) => format!("{kind}, at most {high}"),
        (None, None) => kind.to_owned(),
    })
}

/// Of two bounds at one end, the one `pick` chooses (`f64::max` for the lower end); either
/// alone when the other is not there.
fn tighter(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// serde's name of what it expected, in words rather than Rust's types.
fn in_words(expected: &str) -> String {
    // A number type: its range, as with a schema's bounds (one table of the types' ranges).
    if let Some(words) = within_type(expected, (None, None)) {
        return words;
    }
    let words = match expected {
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" => "a table of settings",
        other if other.starts_with("struct ") => "a table of settings",
        other => other,
    };
    words.to_owned()
}

#[cfg(test)]
mod tests {
    use super::{in_words, within_type};

    #[test]
    fn a_number_is_told_the_tighter_of_its_schemas_bounds_and_its_types() {
        for (expected, bounds, words) in [
            (
                "u64",
                (Some(1.0), Some(3600.0)),
                "a whole number from 1 to 3600",
            ),
            // schemars gives a plain `u32` a minimum only: the type keeps its maximum.
            (
                "u32",
                (Some(0.0), None),
                "a whole number from 0 to 4294967295",
            ),
            (
                "u32",
                (Some(1.0), None),
                "a whole number from 1 to 4294967295",
            ),
            ("u64", (Some(0.0), None), "a whole number, 0 or more"),
            (
                "i32",
                (Some(1.0), None),
                "a whole number from 1 to 2147483647",
            ),
            ("i64", (None, Some(10.0)), "a whole number, at most 10"),
            (
                "u8",
                (Some(-5.0), Some(1000.0)),
                "a whole number from 0 to 255",
            ),
            (
                "f64",
                (Some(0.0), Some(1_000_000.0)),
                "a number from 0 to 1000000",
            ),
            ("f32", (Some(0.5), None), "a number, 0.5 or more"),
        ] {
            assert_eq!(within_type(expected, bounds).unwrap(), words, "{expected}");
        }
        assert_eq!(within_type("a string", (Some(1.0), None)), None);
        // Without a schema's bounds, a type's own range, as every number fault says it.
        assert_eq!(in_words("u16"), "a whole number from 0 to 65535");
        assert_eq!(in_words("i64"), "a whole number");
        assert_eq!(in_words("a boolean"), "true or false");
    }
}
