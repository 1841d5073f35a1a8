//! The configuration as a JSON value, read with its JSON Schema: a variable's text read as the
//! type asks, the schema of a key, a value the schema admits to stand in for a faulty one, and
//! keys set and removed by path.

use serde_json::Value;

/// Follows `$ref`s into `$defs`.
pub(super) fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(found) = r.strip_prefix('#').and_then(|p| root.pointer(p)) else {
            break;
        };
        schema = found;
    }
    schema
}

/// How deep schemas are followed: a recursive type (`enum E { Nested(Box<E>), .. }`) ends here.
const DEPTH: usize = 16;

/// The alternatives of a schema (`anyOf`/`oneOf`, and `allOf` of one), or the schema itself.
fn alternatives<'a>(root: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let mut out = Vec::new();
    alternatives_into(root, schema, 0, &mut out);
    out
}

fn alternatives_into<'a>(
    root: &'a Value,
    schema: &'a Value,
    depth: usize,
    out: &mut Vec<&'a Value>,
) {
    let schema = resolve(root, schema);
    if depth < DEPTH {
        for key in ["anyOf", "oneOf"] {
            if let Some(list) = schema.get(key).and_then(Value::as_array) {
                for s in list {
                    alternatives_into(root, s, depth + 1, out);
                }
                return;
            }
        }
        // `Secret<T>` of a named type: `{"allOf": [{"$ref": ..}], "writeOnly": true}`.
        if let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            alternatives_into(root, only, depth + 1, out);
            return;
        }
    }
    out.push(schema);
}

/// The types a schema admits.
fn types<'a>(root: &'a Value, schema: &'a Value) -> Vec<&'a str> {
    let mut out = Vec::new();
    for s in alternatives(root, schema) {
        out.extend(types_of(s));
    }
    out
}

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        // A `const` or an `enum` of strings says its type by its values.
        _ => match schema
            .get("const")
            .or_else(|| schema.get("enum").and_then(|e| e.get(0)))
        {
            Some(Value::String(_)) => vec!["string"],
            _ => Vec::new(),
        },
    }
}

/// The bounds a schema sets on a number (`minimum`, `maximum`), when it sets either: what a
/// value of the wrong type is told it should be, with its Rust type's own range.
pub(super) fn number_bounds(root: &Value, schema: &Value) -> Option<(Option<f64>, Option<f64>)> {
    let number = alternatives(root, schema).into_iter().find(|s| {
        types_of(s)
            .iter()
            .any(|t| matches!(*t, "integer" | "number"))
    })?;
    let bound = |key: &str| number.get(key).and_then(Value::as_f64);
    let bounds = (bound("minimum"), bound("maximum"));
    (bounds != (None, None)).then_some(bounds)
}

/// The Rust number type a schema stands for, by serde's name (`u32`), as schemars writes its
/// `format` (`uint32`); a whole number of no known width is `i64`, another number `f64`.
pub(super) fn number_type(root: &Value, schema: &Value) -> Option<&'static str> {
    let number = alternatives(root, schema).into_iter().find(|s| {
        types_of(s)
            .iter()
            .any(|t| matches!(*t, "integer" | "number"))
    })?;
    let whole = types_of(number).contains(&"integer");
    Some(match number.get("format").and_then(Value::as_str) {
        Some("uint8") => "u8",
        Some("uint16") => "u16",
        Some("uint32") => "u32",
        Some("uint64" | "uint") => "u64",
        Some("int8") => "i8",
        Some("int16") => "i16",
        Some("int32") => "i32",
        _ if whole => "i64",
        _ => "f64",
    })
}

/// The schema of `key` inside `schema`: a property, a map's values, a list's items.
pub(super) fn child<'a>(root: &'a Value, schema: &'a Value, key: &str) -> Option<&'a Value> {
    for s in alternatives(root, schema) {
        if let Some(p) = s.get("properties").and_then(|p| p.get(key)) {
            return Some(p);
        }
        if let Some(extra) = s.get("additionalProperties").filter(|v| v.is_object()) {
            return Some(extra);
        }
        if let Ok(index) = key.parse::<usize>() {
            if let Some(item) = s.get("prefixItems").and_then(|p| p.get(index)) {
                return Some(item);
            }
            if let Some(items) = s.get("items").filter(|v| v.is_object()) {
                return Some(items);
            }
        }
    }
    None
}

pub(super) fn schema_at<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut schema = root;
    for key in path {
        schema = child(root, schema, key)?;
    }
    Some(schema)
}

/// A value the schema admits, to stand in for one that is missing or wrong so that the rest of
/// the configuration can be checked: a default, a constant, an enum's first value, or one of the
/// first non-null alternative's type that meets its bounds and format.
pub(super) fn synthesize(root: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(root, schema);
    if let Some(v) = given(schema) {
        return v;
    }
    let all = alternatives(root, schema);
    let chosen = all
        .iter()
        .copied()
        .find(|s| !types_of(s).is_empty() && types_of(s) != ["null"])
        .or_else(|| all.first().copied())
        .unwrap_or(schema);
    if let Some(v) = given(chosen) {
        return v;
    }
    let min = |key: &str| chosen.get(key).and_then(Value::as_u64).unwrap_or(0);
    match types_of(chosen).into_iter().find(|t| *t != "null") {
        Some("string") => Value::String(match chosen.get("format").and_then(Value::as_str) {
            Some("ipv4" | "ip") => "127.0.0.1".to_owned(),
            Some("ipv6") => "::1".to_owned(),
            Some("uri" | "url") => "http://localhost/".to_owned(),
            Some("email") => "a@example.com".to_owned(),
            _ => "a".repeat(usize::try_from(min("minLength")).unwrap_or(0)),
        }),
        Some(kind @ ("integer" | "number")) => {
            let floor = chosen
                .get("minimum")
                .and_then(Value::as_f64)
                .or_else(|| {
                    chosen
                        .get("exclusiveMinimum")
                        .and_then(Value::as_f64)
                        .map(|m| m + 1.0)
                })
                .unwrap_or(0.0);
            // A non-zero type says `not: {const: 0}`.
            let floor = if floor == 0.0 && chosen.get("not").is_some() {
                1.0
            } else {
                floor
            };
            if kind == "integer" {
                Value::from(floor.ceil() as i64)
            } else {
                serde_json::Number::from_f64(floor).map_or(Value::from(0), Value::Number)
            }
        }
        Some("boolean") => Value::Bool(false),
        Some("array") if depth < DEPTH => {
            let n = usize::try_from(min("minItems")).unwrap_or(0).min(64);
            let items: Vec<Value> = (0..n)
                .map(|i| {
                    let item = chosen
                        .get("prefixItems")
                        .and_then(|p| p.get(i))
                        .or_else(|| chosen.get("items"));
                    item.map_or(Value::Null, |s| synthesize(root, s, depth + 1))
                })
                .collect();
            Value::Array(items)
        }
        Some("object") if depth < DEPTH => {
            let mut map = serde_json::Map::new();
            let required = chosen.get("required").and_then(Value::as_array);
            for name in required.into_iter().flatten().filter_map(Value::as_str) {
                if let Some(p) = chosen.get("properties").and_then(|p| p.get(name)) {
                    map.insert(name.to_owned(), synthesize(root, p, depth + 1));
                }
            }
            Value::Object(map)
        }
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(serde_json::Map::new()),
        _ => Value::Null,
    }
}

/// A value a schema names outright: its default, its constant, its enum's first value.
fn given(schema: &Value) -> Option<Value> {
    schema
        .get("default")
        .or_else(|| schema.get("const"))
        .or_else(|| schema.get("enum").and_then(|e| e.get(0)))
        .cloned()
}

/// A variable's text read as the schema's type, when the schema does not take text.
pub(super) fn read_text(root: &Value, schema: &Value, text: &str) -> Option<Value> {
    let admitted = types(root, schema);
    if admitted.is_empty() || admitted.contains(&"string") {
        return None;
    }
    let trimmed = text.trim();
    // `COMMIT_GIT_TIMEOUT_SECS=` (how compose files unset a variable) leaves an optional unset.
    if trimmed.is_empty() && admitted.contains(&"null") {
        return Some(Value::Null);
    }
    for t in admitted {
        let read = match t {
            "integer" => trimmed
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| trimmed.parse::<u64>().map(Value::from))
                .ok(),
            "number" => trimmed
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            "boolean" => match trimmed {
                "true" | "1" => Some(Value::Bool(true)),
                "false" | "0" => Some(Value::Bool(false)),
                _ => None,
            },
            "array" if trimmed.starts_with('[') => serde_json::from_str(trimmed).ok(),
            "array" if trimmed.is_empty() => Some(Value::Array(Vec::new())),
            "array" => Some(Value::Array(
                trimmed
                    .split(',')
                    .map(|s| Value::String(s.trim().to_owned()))
                    .collect(),
            )),
            "object" if trimmed.starts_with('{') => serde_json::from_str(trimmed).ok(),
            _ => None,
        };
        if read.is_some() {
            return read;
        }
    }
    None
}

pub(super) fn set(value: &mut Value, path: &[String], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        *value = new;
        return;
    };
    let mut at = value;
    for key in parents {
        at = match at {
            Value::Object(map) => map
                .entry(key.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new())),
            Value::Array(items) => match key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => item,
                None => return,
            },
            _ => return,
        };
    }
    match at {
        Value::Object(map) => {
            map.insert(last.clone(), new);
        }
        Value::Array(items) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = new;
            }
        }
        other => *other = new,
    }
}

pub(super) fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = value;
    for key in parents {
        at = match at {
            Value::Object(map) => match map.get_mut(key) {
                Some(v) => v,
                None => return,
            },
            Value::Array(items) => match key.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => item,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(map) = at {
        map.remove(last);
    }
}
