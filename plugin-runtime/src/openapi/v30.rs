//! The OpenAPI 3.0 rendering of a document, for tools that read only 3.0 (progenitor, older
//! generators and gateways). It is derived from the 3.1 document, never written by hand:
//!
//! - JSON Schema 2020-12 becomes 3.0's schema dialect: `type: [T, "null"]` and a `null` branch of
//!   `anyOf`/`oneOf` become `nullable: true`, `const` becomes a one-value `enum`, `examples` the
//!   first `example`, numeric `exclusiveMinimum`/`exclusiveMaximum` the boolean forms, a `$ref`
//!   with siblings an `allOf` of it; keywords 3.0 has no place for (`contentSchema`,
//!   `contentMediaType`, `$schema`, …) are kept under `x-` names, so nothing is lost.
//! - Each operation's error responses share one schema, `<Operation>Error`, whose `code` lists
//!   every code the operation can answer: 3.0 generators type one error per operation, so each
//!   code then decodes into it, whatever its status.

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// The 3.0 rendering of `doc`, a 3.1 document as [`document`](super::document) builds it.
pub(crate) fn convert(doc: &Value) -> Value {
    let mut out = doc.clone();
    let Some(root) = out.as_object_mut() else {
        return out;
    };
    root.insert("openapi".into(), "3.0.3".into());
    root.remove("jsonSchemaDialect");
    root.remove("webhooks");
    if let Some(info) = root.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("summary");
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }
    let shared = root
        .get("components")
        .and_then(|c| c.get("responses"))
        .cloned()
        .unwrap_or(Value::Null);
    let envelope = root
        .get("components")
        .and_then(|c| c.get("schemas"))
        .and_then(|s| s.get("ErrorEnvelope"))
        .cloned();
    let mut errors: Map<String, Value> = Map::new();
    if let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in item.values_mut().filter_map(Value::as_object_mut) {
                if let Some(envelope) = &envelope {
                    one_error_per_operation(op, &shared, envelope, &mut errors);
                }
                each_schema_in_operation(op, &mut schema);
            }
        }
    }
    if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
        if let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) {
            schemas.values_mut().for_each(schema);
            for (name, mut error) in errors {
                schema(&mut error);
                schemas.insert(name, error);
            }
        }
        if let Some(schemes) = components
            .get_mut("securitySchemes")
            .and_then(Value::as_object_mut)
        {
            schemes.values_mut().for_each(mutual_tls_for_30);
        }
        if let Some(responses) = components
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            responses
                .values_mut()
                .for_each(|r| each_schema_in_response(r, &mut schema));
        }
    }
    let types: Map<String, Value> = out["components"]["schemas"]
        .as_object()
        .map(|schemas| {
            schemas
                .iter()
                .filter_map(|(name, s)| Some((name.clone(), s.get("type")?.clone())))
                .collect()
        })
        .unwrap_or_default();
    type_nullable_refs(&mut out, &types);
    drop_unused_responses(&mut out);
    out
}

/// 3.0 has no `mutualTLS` scheme type: a client certificate is written as HTTP's `mutual`
/// scheme, its description saying what it is, so that operations keep requiring it (dropping
/// it would leave them looking public).
fn mutual_tls_for_30(scheme: &mut Value) {
    if scheme["type"] != "mutualTLS" {
        return;
    }
    let said = scheme["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let note = "Mutual TLS: a client certificate, checked when the connection is made (OpenAPI 3.0 has no type for it; the 3.1 document says `mutualTLS`).";
    let description = if said.is_empty() {
        note.to_owned()
    } else {
        format!("{said}\n\n{note}")
    };
    *scheme = serde_json::json!({"type": "http", "scheme": "mutual", "description": description});
}

/// `nullable` needs a `type` beside it in 3.0: a nullable reference takes its target's.
fn type_nullable_refs(v: &mut Value, types: &Map<String, Value>) {
    match v {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true))
                && !map.contains_key("type")
                && let Some(target) = map["allOf"][0]["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && let Some(t) = types.get(target)
            {
                map.insert("type".into(), t.clone());
            }
            map.values_mut().for_each(|x| type_nullable_refs(x, types));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| type_nullable_refs(x, types)),
        _ => {}
    }
}

/// Shared responses that every operation now writes out itself are left out.
fn drop_unused_responses(doc: &mut Value) {
    let text = doc.to_string();
    let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(responses) = components
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    {
        responses.retain(|name, _| text.contains(&format!("\"#/components/responses/{name}\"")));
        if responses.is_empty() {
            components.remove("responses");
        }
    }
}

/// The codes an error response's schema lists (`allOf` of the envelope and `code`'s `enum`).
fn codes_of(response: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(content) = response.get("content").and_then(Value::as_object) else {
        return out;
    };
    for media in content.values() {
        for part in media["schema"]["allOf"].as_array().into_iter().flatten() {
            let code = &part["properties"]["error"]["properties"]["code"];
            for c in code["enum"].as_array().into_iter().flatten() {
                if let Some(c) = c.as_str() {
                    out.push(c.to_owned());
                }
            }
            if let Some(c) = code["const"].as_str() {
                out.push(c.to_owned());
            }
        }
    }
    out
}

/// `ItemsGetItem` for `items_get_item`.
fn pascal(id: &str) -> String {
    id.split(['_', '-', '.'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// Points every error response of `op` at one schema listing all its codes, registered in
/// `errors` under `<Operation>Error`. A shared response (`$ref`) is written out in the operation,
/// since its schema is now the operation's own.
fn one_error_per_operation(
    op: &mut Map<String, Value>,
    shared: &Value,
    envelope: &Value,
    errors: &mut Map<String, Value>,
) {
    let Some(id) = op.get("operationId").and_then(Value::as_str).map(pascal) else {
        return;
    };
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    let mut codes: BTreeSet<String> = BTreeSet::new();
    let mut statuses = Vec::new();
    for (status, response) in responses.iter_mut() {
        if !(status.starts_with('4') || status.starts_with('5')) {
            continue;
        }
        if let Some(name) = response["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/responses/"))
        {
            *response = shared[name].clone();
        }
        let found = codes_of(response);
        if found.is_empty() {
            continue;
        }
        codes.extend(found);
        statuses.push(status.clone());
    }
    if codes.is_empty() {
        return;
    }
    let name = format!("{id}Error");
    let reference = json!({"$ref": format!("#/components/schemas/{name}")});
    for status in &statuses {
        if let Some(content) = responses[status]
            .get_mut("content")
            .and_then(Value::as_object_mut)
        {
            for media in content.values_mut() {
                media["schema"] = reference.clone();
            }
        }
    }
    // The envelope written out whole, `code` narrowed to the operation's codes: a generator
    // that reads one schema per operation then knows every code it can meet.
    let mut schema = envelope.clone();
    schema["description"] =
        "Every error this operation answers, whatever its status: `error.code` says which.".into();
    let code = &mut schema["properties"]["error"]["properties"]["code"];
    code["enum"] = codes.into_iter().map(Value::String).collect();
    errors.insert(name, schema);
}

fn each_schema_in_operation(op: &mut Map<String, Value>, f: &mut impl FnMut(&mut Value)) {
    for p in op
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(s) = p.get_mut("schema") {
            f(s);
        }
    }
    if let Some(body) = op.get_mut("requestBody") {
        each_schema_in_content(body, f);
    }
    for r in op
        .get_mut("responses")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|r| r.values_mut())
    {
        each_schema_in_response(r, f);
    }
}

fn each_schema_in_response(response: &mut Value, f: &mut impl FnMut(&mut Value)) {
    each_schema_in_content(response, f);
    for h in response
        .get_mut("headers")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|h| h.values_mut())
    {
        if let Some(s) = h.get_mut("schema") {
            f(s);
        }
    }
}

fn each_schema_in_content(holder: &mut Value, f: &mut impl FnMut(&mut Value)) {
    for media in holder
        .get_mut("content")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|c| c.values_mut())
    {
        if let Some(s) = media.get_mut("schema") {
            f(s);
        }
    }
}

/// Keywords of 2020-12 that 3.0's schema object has no place for, kept as extensions.
const UNKNOWN_TO_30: &[&str] = &[
    "$schema",
    "$id",
    "$anchor",
    "$defs",
    "$comment",
    "contentMediaType",
    "contentEncoding",
    "contentSchema",
    "prefixItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentRequired",
    "dependentSchemas",
    "propertyNames",
    "if",
    "then",
    "else",
];

/// One schema, and every schema inside it, in 3.0's dialect.
fn schema(v: &mut Value) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    // Subschemas first: a branch may turn out to be the `null` one only once it is converted.
    for key in ["items", "not", "additionalProperties"] {
        if let Some(s) = map.get_mut(key) {
            schema(s);
        }
    }
    for key in ["properties", "patternProperties"] {
        if let Some(props) = map.get_mut(key).and_then(Value::as_object_mut) {
            props.values_mut().for_each(schema);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = map.get_mut(key).and_then(Value::as_array_mut) {
            list.iter_mut().for_each(schema);
        }
    }
    if let Some(c) = map.remove("const") {
        map.entry("enum").or_insert_with(|| json!([c]));
    }
    if let Some(examples) = map.remove("examples")
        && let Some(first) = examples.as_array().and_then(|e| e.first())
    {
        map.entry("example").or_insert(first.clone());
    }
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(n) = map.get(exclusive).filter(|n| n.is_number()).cloned() {
            map.insert(bound.into(), n);
            map.insert(exclusive.into(), true.into());
        }
    }
    for key in UNKNOWN_TO_30 {
        if let Some(value) = map.remove(*key) {
            map.insert(format!("x-{}", key.trim_start_matches('$')), value);
        }
    }
    nullable_type(map);
    for key in ["anyOf", "oneOf"] {
        nullable_branch(map, key);
    }
    if map.contains_key("$ref") && map.len() > 1 {
        let reference = map.remove("$ref").unwrap_or_default();
        map.insert("allOf".into(), json!([{"$ref": reference}]));
    }
}

/// `type: [T, "null"]` as `type: T, nullable: true`; several non-null types as an `anyOf`.
fn nullable_type(map: &mut Map<String, Value>) {
    let Some(types) = map.get("type").and_then(Value::as_array).cloned() else {
        if map.get("type").and_then(Value::as_str) == Some("null") {
            map.remove("type");
            map.insert("nullable".into(), true.into());
            map.insert("enum".into(), json!([null]));
        }
        return;
    };
    let null = types.iter().any(|t| t == "null");
    let rest: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
    match rest.as_slice() {
        [one] => {
            map.insert("type".into(), one.clone());
        }
        _ => {
            map.remove("type");
            let branches: Vec<Value> = rest.iter().map(|t| json!({"type": t})).collect();
            map.insert("anyOf".into(), Value::Array(branches));
        }
    }
    if null {
        map.insert("nullable".into(), true.into());
        // An `enum` that lists `null` keeps it: 3.0 admits `null` in a nullable enum.
    }
}

/// A `null` branch of `anyOf`/`oneOf` as `nullable: true`; a lone branch left is folded in.
fn nullable_branch(map: &mut Map<String, Value>, key: &str) {
    let Some(list) = map.get_mut(key).and_then(Value::as_array_mut) else {
        return;
    };
    let before = list.len();
    list.retain(|b| !is_null_schema(b));
    if list.len() == before {
        return;
    }
    map.insert("nullable".into(), true.into());
    let list = map
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let [only] = list.as_slice() {
        map.remove(key);
        map.insert("allOf".into(), json!([only]));
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("nullable") == Some(&Value::Bool(true))
        && v.get("enum") == Some(&json!([null]))
        && v.as_object().is_some_and(|m| m.len() == 2)
        || v.get("type").and_then(Value::as_str) == Some("null")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_forms_become_nullable() {
        let mut s = json!({"type": ["string", "null"], "maxLength": 3});
        schema(&mut s);
        assert_eq!(
            s,
            json!({"type": "string", "nullable": true, "maxLength": 3})
        );
        let mut s = json!({"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}], "description": "d"});
        schema(&mut s);
        assert_eq!(
            s,
            json!({"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": true, "description": "d"})
        );
    }

    #[test]
    fn keywords_without_a_3_0_place_are_kept_as_extensions() {
        let mut s = json!({"const": "x", "examples": [1, 2], "exclusiveMinimum": 0, "contentMediaType": "application/json"});
        schema(&mut s);
        assert_eq!(
            s,
            json!({"enum": ["x"], "example": 1, "minimum": 0, "exclusiveMinimum": true,
                   "x-contentMediaType": "application/json"})
        );
    }

    #[test]
    fn a_ref_with_siblings_is_wrapped() {
        let mut s = json!({"$ref": "#/components/schemas/A", "description": "why"});
        schema(&mut s);
        assert_eq!(
            s,
            json!({"allOf": [{"$ref": "#/components/schemas/A"}], "description": "why"})
        );
    }

    #[test]
    fn names_are_pascal_cased() {
        assert_eq!(pascal("items_get_item"), "ItemsGetItem");
    }
}
