//! JSON Schemas in a document, exactly as schemars writes them.
//!
//! Every schema position in the utoipa model holds a placeholder `{"$ref": "#/x-schema/N"}`;
//! [`Schemas::finish`] serializes the model and replaces each placeholder with schema `N`, then
//! writes the shared definitions under `components/schemas`. Nothing passes through utoipa's
//! typed `Schema`, so no keyword is lost.
//!
//! Inputs are described as they are deserialized and outputs as they are serialized (serde can
//! differ between the two, e.g. `#[serde(default)]` fields are optional only when reading). Each
//! direction has its own generator; a type whose two schemas differ keeps its name for the input
//! side and is named `<Name>Output` on the output side.

use crate::declare::SchemaFn;
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::openapi::Response;
use utoipa::openapi::{Ref, RefOr, schema::Schema};

const PLACEHOLDER: &str = "#/x-schema/";
const COMPONENTS: &str = "#/components/schemas/";

/// Which way a value crosses the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Read from the request.
    Input,
    /// Written to the response.
    Output,
}

pub(crate) struct Schemas {
    input: SchemaGenerator,
    output: SchemaGenerator,
    /// The schema each placeholder stands for, and its direction.
    inline: Vec<(Value, Direction)>,
    /// Components written by hand (the error envelope), with no direction.
    fixed: Map<String, Value>,
    /// Responses shared by many operations, under `components/responses`.
    responses: BTreeMap<String, Response>,
}

impl Schemas {
    pub(crate) fn new() -> Self {
        let settings = SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        });
        Schemas {
            input: settings.clone().for_deserialize().into_generator(),
            output: settings.for_serialize().into_generator(),
            inline: Vec::new(),
            fixed: Map::new(),
            responses: BTreeMap::new(),
        }
    }

    /// A placeholder for the schema `f` writes, generated for `direction`.
    pub(crate) fn of(&mut self, f: SchemaFn, direction: Direction) -> RefOr<Schema> {
        let generator = match direction {
            Direction::Input => &mut self.input,
            Direction::Output => &mut self.output,
        };
        let schema = f(generator).to_value();
        self.value(schema, direction)
    }

    /// The schema `f` writes for an input, as JSON, for callers that take it apart (a query
    /// input becomes one parameter per property).
    pub(crate) fn input_value(&mut self, f: SchemaFn) -> Value {
        f(&mut self.input).to_value()
    }

    /// A placeholder for a schema given as JSON.
    pub(crate) fn value(&mut self, schema: Value, direction: Direction) -> RefOr<Schema> {
        self.inline.push((schema, direction));
        RefOr::Ref(Ref::new(format!("{PLACEHOLDER}{}", self.inline.len() - 1)))
    }

    /// A component that is not derived from a Rust type's schema, made by `make` the first time.
    pub(crate) fn fixed(&mut self, name: &str, make: impl FnOnce() -> Value) -> Ref {
        if !self.fixed.contains_key(name) {
            self.fixed.insert(name.to_owned(), make());
        }
        Ref::new(format!("{COMPONENTS}{name}"))
    }

    /// A reference to the shared response `name`, made by `make` the first time it is asked for.
    pub(crate) fn shared_response(
        &mut self,
        name: &str,
        make: impl FnOnce(&mut Self) -> Response,
    ) -> Ref {
        if !self.responses.contains_key(name) {
            let response = make(self);
            self.responses.insert(name.to_owned(), response);
        }
        Ref::new(format!("#/components/responses/{name}"))
    }

    /// A reference to the component `T` is registered as on the output side.
    pub(crate) fn output_component<T: schemars::JsonSchema>(&mut self) -> Value {
        self.output.subschema_for::<T>().to_value()
    }

    /// Closes the generators: the components are final, and each placeholder can be filled.
    pub(crate) fn finish(mut self) -> Finished {
        let mut components = self.input.take_definitions(true);
        let outputs = self.output.take_definitions(true);
        // Output-side names whose schema differs from the input side's.
        let renamed: Vec<String> = outputs
            .iter()
            .filter(|(name, schema)| components.get(*name).is_some_and(|s| s != *schema))
            .map(|(name, _)| name.clone())
            .collect();
        for (name, mut schema) in outputs {
            rename_refs(&mut schema, &renamed);
            let key = if renamed.contains(&name) {
                format!("{name}Output")
            } else {
                name
            };
            components.entry(key).or_insert(schema);
        }
        components.append(&mut self.fixed);
        components.values_mut().for_each(tidy);
        let inline = self
            .inline
            .into_iter()
            .map(|(mut schema, direction)| {
                if direction == Direction::Output {
                    rename_refs(&mut schema, &renamed);
                }
                tidy(&mut schema);
                Some(schema)
            })
            .collect();
        let mut finished = Finished {
            schemas: components,
            responses: Map::new(),
            inline,
        };
        for (name, response) in std::mem::take(&mut self.responses) {
            let value = finished.filled(&response);
            finished.responses.insert(name, value);
        }
        finished
    }
}

/// The schemas of a set of operations once generation is over.
pub(crate) struct Finished {
    /// `components/schemas`.
    pub(crate) schemas: Map<String, Value>,
    /// `components/responses`.
    pub(crate) responses: Map<String, Value>,
    /// What each placeholder stands for, until it is filled in (each is used once).
    inline: Vec<Option<Value>>,
}

impl Finished {
    /// Serializes a part of the utoipa model with its placeholders replaced.
    pub(crate) fn filled(&mut self, part: &impl serde::Serialize) -> Value {
        let mut value = serde_json::to_value(part).unwrap_or(Value::Null);
        fill(&mut value, &mut self.inline);
        value
    }
}

/// Replaces each placeholder object in `v` with the schema it stands for.
fn fill(v: &mut Value, inline: &mut [Option<Value>]) {
    match v {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(r)) = map.get("$ref")
                && let Some(i) = r
                    .strip_prefix(PLACEHOLDER)
                    .and_then(|n| n.parse::<usize>().ok())
                && let Some(schema) = inline.get_mut(i).and_then(Option::take)
            {
                *v = schema;
                // A schema given as JSON may hold placeholders of its own (an event stream's
                // event schema holds its item's).
                fill(v, inline);
                return;
            }
            map.values_mut().for_each(|x| fill(x, inline));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| fill(x, inline)),
        _ => {}
    }
}

/// What every schema goes through once generated: integers bounded, enums as `enum`.
fn tidy(v: &mut Value) {
    bound_integers(v);
    enums_as_enum(v);
}

/// Writes an enum of strings as `{"type": "string", "enum": [...]}`, each value's description
/// kept in `x-enumDescriptions`. schemars writes an enum whose variants have doc comments as a
/// `oneOf` of `const`s, which JSON Schema reads the same, but which code generators (the Python
/// one, for one) turn into a parser that accepts only the first value.
fn enums_as_enum(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let values: Option<Vec<(Value, Option<Value>)>> = map
                .get("oneOf")
                .and_then(Value::as_array)
                .filter(|branches| !branches.is_empty())
                .and_then(|branches| branches.iter().map(string_const).collect());
            if let Some(values) = values {
                map.remove("oneOf");
                map.insert("type".into(), "string".into());
                let descriptions: Map<String, Value> = values
                    .iter()
                    .filter_map(|(value, description)| {
                        Some((value.as_str()?.to_owned(), description.clone()?))
                    })
                    .collect();
                map.insert(
                    "enum".into(),
                    values.into_iter().map(|(value, _)| value).collect(),
                );
                if !descriptions.is_empty() {
                    map.insert("x-enumDescriptions".into(), Value::Object(descriptions));
                }
            }
            map.values_mut().for_each(enums_as_enum);
        }
        Value::Array(items) => items.iter_mut().for_each(enums_as_enum),
        _ => {}
    }
}

/// A `oneOf` branch that is one string value, with its description if it has one.
fn string_const(branch: &Value) -> Option<(Value, Option<Value>)> {
    let map = branch.as_object()?;
    let value = map.get("const").filter(|c| c.is_string())?;
    let only_known = map
        .iter()
        .all(|(k, v)| k == "const" || k == "description" || (k == "type" && v == "string"));
    only_known.then(|| (value.clone(), map.get("description").cloned()))
}

/// Adds the range an integer `format` implies (`uint32`: 0 to 4294967295) where the schema
/// states no bound of its own: schemars names the Rust type in `format`, which validators and
/// test generators do not read, and a value outside the type's range is refused with `400`.
fn bound_integers(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("integer")
                && let Some((min, max)) =
                    map.get("format").and_then(Value::as_str).and_then(range_of)
            {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

fn range_of(format: &str) -> Option<(Value, Value)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "int64" => (i64::MIN.into(), i64::MAX.into()),
        "uint8" => (u8::MIN.into(), u8::MAX.into()),
        "uint16" => (u16::MIN.into(), u16::MAX.into()),
        "uint32" => (u32::MIN.into(), u32::MAX.into()),
        "uint64" => (u64::MIN.into(), u64::MAX.into()),
        _ => return None,
    })
}

/// Points `$ref`s to the renamed output-side components.
fn rename_refs(v: &mut Value, renamed: &[String]) {
    if renamed.is_empty() {
        return;
    }
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(name) = r.strip_prefix(COMPONENTS)
                && renamed.iter().any(|n| n == name)
            {
                *r = format!("{COMPONENTS}{name}Output");
            }
            map.values_mut().for_each(|x| rename_refs(x, renamed));
        }
        Value::Array(items) => items.iter_mut().for_each(|x| rename_refs(x, renamed)),
        _ => {}
    }
}
