//! What the documents promise about an input is what the server enforces: for every wrapper a
//! field can have (`Vec`, `Option`, both nested either way, maps, numbers), written the
//! way `plugin_route.md` says, the JSON Schema that the documents carry admits exactly the
//! values that deserialize and pass the garde rules. Each value is generated from boundary
//! pieces (lengths at, below and above each bound, `null`, absent, wrong types) and checked both
//! ways: by a JSON Schema 2020-12 validator against the schema as schemars writes it for an
//! input, and by serde plus garde, as the framework's extractor checks it.
//!
//! The checker is shown to catch a disagreement: garde applies `inner` on an `Option` to the
//! value inside it, while the schema applies it to the list's items, so the one-attribute
//! spelling on `Option<Vec<String>>` (what `POST /apply` had) disagrees, and the test says so.

use plugin_routes::prelude::*;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The values every case is tried with, as the field `v` (and the object without it).
fn candidates() -> Vec<Option<Value>> {
    let strings: Vec<Value> = [0usize, 1, 2, 3, 4, 5, 6]
        .iter()
        .map(|n| Value::String("x".repeat(*n)))
        .collect();
    let numbers: Vec<Value> = [0i64, 1, 2, 10, 11, -1].iter().map(|n| json!(n)).collect();
    let mut items: Vec<Value> = strings.clone();
    items.extend(numbers.iter().cloned());
    items.push(Value::Null);
    let mut lists: Vec<Value> = vec![json!([])];
    for item in &items {
        for count in 1..=4usize {
            lists.push(Value::Array(vec![item.clone(); count]));
        }
    }
    // Lists of lists, and lists mixing a good and a bad item.
    let mut nested: Vec<Value> = vec![json!([[]]), json!([[], []])];
    for inner in [json!(["a"]), json!(["abc", "abc", "abc"]), json!(["", "a"])] {
        for count in 1..=3usize {
            nested.push(Value::Array(vec![inner.clone(); count]));
        }
    }
    nested.push(json!(["a", ""]));
    nested.push(json!(["abcd", "abcde"]));
    nested.push(json!([1, 11]));
    nested.push(json!(["a", null]));
    let mut maps: Vec<Value> = vec![json!({})];
    for count in 1..=3usize {
        let mut m = Map::new();
        for i in 0..count {
            m.insert(format!("k{i}"), json!("x".repeat(i)));
        }
        maps.push(Value::Object(m));
    }
    let mut out: Vec<Option<Value>> = vec![None, Some(Value::Null), Some(json!(true))];
    out.extend(strings.into_iter().map(Some));
    out.extend(numbers.into_iter().map(Some));
    out.extend(lists.into_iter().map(Some));
    out.extend(nested.into_iter().map(Some));
    out.extend(maps.into_iter().map(Some));
    out
}

/// Where the schema and the validator part ways on `T`: each value one admits and the other
/// refuses, with which one admits it.
fn disagreements<T>() -> Vec<String>
where
    T: DeserializeOwned + JsonSchema + garde::Validate<Context = ()>,
{
    // As the framework writes an input's schema: 2020-12, described as it is deserialized.
    let schema = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("{}: not a valid schema: {e}", std::any::type_name::<T>()));
    let mut found = Vec::new();
    for candidate in candidates() {
        let body = match &candidate {
            Some(v) => json!({ "v": v }),
            None => json!({}),
        };
        let documented = validator.is_valid(&body);
        let enforced = serde_json::from_value::<T>(body.clone())
            .is_ok_and(|input| garde::Validate::validate(&input).is_ok());
        if documented != enforced {
            found.push(format!(
                "{body}: the schema {} it, the server {} it",
                if documented { "admits" } else { "refuses" },
                if enforced { "admits" } else { "refuses" },
            ));
        }
    }
    found
}

macro_rules! case {
    ($name:ident, $ty:ty, $(#[$rule:meta])*) => {
        #[derive(Debug, Deserialize, JsonSchema, Validate)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code, reason = "read by serde and garde only")]
        struct $name {
            $(#[$rule])*
            v: $ty,
        }
    };
}

case!(VecOfStrings, Vec<String>, #[garde(length(min = 1, max = 3), inner(length(min = 1, max = 4)))]);
case!(OptionalString, Option<String>, #[garde(length(min = 2, max = 5))]);
case!(OptionalNumber, Option<u32>, #[garde(range(min = 1, max = 10))]);
case!(VecOfNumbers, Vec<u32>, #[garde(length(max = 3), inner(range(min = 1, max = 10)))]);
case!(VecOfOptionalStrings, Vec<Option<String>>, #[garde(length(min = 1, max = 3), inner(length(min = 1, max = 4)))]);
case!(VecOfVecs, Vec<Vec<String>>,
    #[garde(length(max = 2), inner(length(min = 1, max = 2), inner(length(min = 1, max = 3))))]);
case!(OptionalVec, Option<Vec<String>>,
    #[garde(length(min = 1, max = 3), inner(inner(length(min = 1, max = 4))))]
    #[schemars(inner(length(min = 1, max = 4)))]);
case!(OptionalVecOfNumbers, Option<Vec<u32>>,
    #[garde(length(max = 3), inner(inner(range(min = 1, max = 10))))]
    #[schemars(inner(range(min = 1, max = 10)))]);
case!(OptionalVecOfVecs, Option<Vec<Vec<String>>>,
    #[garde(length(max = 2), inner(inner(length(min = 1, max = 2), inner(length(min = 1, max = 3)))))]
    #[schemars(inner(length(min = 1, max = 2), inner(length(min = 1, max = 3))))]);
case!(MapOfStrings, BTreeMap<String, String>,
    #[garde(length(min = 1, max = 2))]
    #[schemars(extend("minProperties" = 1, "maxProperties" = 2))]);
case!(OptionalMap, Option<BTreeMap<String, String>>,
    #[garde(length(max = 2))]
    #[schemars(extend("maxProperties" = 2))]);

// The one-attribute spellings that disagree, kept to show the checker catches them.
case!(OptionalVecOneAttribute, Option<Vec<String>>,
    #[garde(length(min = 1, max = 3), inner(length(min = 1, max = 4)))]);
case!(MapOneAttribute, BTreeMap<String, String>, #[garde(length(min = 1, max = 2))]);

#[test]
fn the_schema_admits_exactly_what_the_validator_admits_for_every_wrapper() {
    let mut report = Vec::new();
    for (name, found) in [
        ("Vec<String>", disagreements::<VecOfStrings>()),
        ("Option<String>", disagreements::<OptionalString>()),
        ("Option<u32>", disagreements::<OptionalNumber>()),
        ("Vec<u32>", disagreements::<VecOfNumbers>()),
        (
            "Vec<Option<String>>",
            disagreements::<VecOfOptionalStrings>(),
        ),
        ("Vec<Vec<String>>", disagreements::<VecOfVecs>()),
        ("Option<Vec<String>>", disagreements::<OptionalVec>()),
        ("Option<Vec<u32>>", disagreements::<OptionalVecOfNumbers>()),
        (
            "Option<Vec<Vec<String>>>",
            disagreements::<OptionalVecOfVecs>(),
        ),
        ("BTreeMap<String, String>", disagreements::<MapOfStrings>()),
        (
            "Option<BTreeMap<String, String>>",
            disagreements::<OptionalMap>(),
        ),
    ] {
        report.extend(found.into_iter().map(|d| format!("{name}: {d}")));
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn the_checker_catches_the_spellings_that_disagree() {
    // garde: `inner` on the Option is the list; the schema: the list's items.
    let optional = disagreements::<OptionalVecOneAttribute>();
    assert!(
        optional.iter().any(|d| d.starts_with(r#"{"v":["xxxxx"]}"#)),
        "an item over 4 characters: {optional:#?}"
    );
    // garde counts a map's entries; the schema says nothing of them without `extend`.
    let map = disagreements::<MapOneAttribute>();
    assert!(map.iter().any(|d| d.starts_with(r#"{"v":{}}"#)), "{map:#?}");
}

/// Every input of the commit plugin: no wrapper of theirs disagrees (`POST /apply`'s `commits`
/// is the `Option<Vec<String>>` that did).
#[test]
fn the_commit_plugin_s_apply_input_agrees_with_its_schema() {
    let schema = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<commit_plugin::ApplyRequest>()
        .to_value();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let ids = |n: usize, len: usize| -> Value {
        Value::Array((0..n).map(|_| json!("c".repeat(len))).collect())
    };
    for (commits, admitted) in [
        (ids(1, 1), true),
        (ids(21, 2), true),
        (ids(1000, 20), true),
        (ids(1001, 2), false),
        (ids(0, 0), false),
        (ids(1, 0), false),
        (ids(1, 21), false),
    ] {
        let body = json!({ "commits": commits });
        let enforced = serde_json::from_value::<commit_plugin::ApplyRequest>(body.clone())
            .is_ok_and(|input| garde::Validate::validate(&input).is_ok());
        let shown = format!("{} ids", commits.as_array().unwrap().len());
        assert_eq!(validator.is_valid(&body), admitted, "schema, {shown}");
        assert_eq!(enforced, admitted, "validator, {shown}");
    }
    // An empty list is reported once, not twice.
    let report = garde::Validate::validate(
        &serde_json::from_value::<commit_plugin::ApplyRequest>(json!({ "commits": [] })).unwrap(),
    )
    .unwrap_err();
    assert_eq!(report.iter().count(), 1, "{report}");
}
