//! [`Secret`]: a configuration value that `Debug` and the logs never show.

use std::borrow::Cow;

/// A configuration value never shown: `Debug` prints `Secret(<redacted>)`, it has no `Display`
/// and no `Serialize`, and configuration errors never print values at all. Read it with
/// [`expose`](Secret::expose) where it is used. In the schema it is its inner type marked
/// `writeOnly`. garde's rules do not reach inside: mark the field `#[garde(skip)]`, or check it
/// with `#[garde(custom(...))]` through `expose`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value, for where it is used (a header, a connection string).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The value, unwrapped.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Secret<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Secret_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut schema = generator.subschema_for::<T>();
        if schema.get("$ref").is_some() {
            schema = schemars::json_schema!({ "allOf": [schema] });
        }
        schema.insert("writeOnly".to_owned(), true.into());
        schema
    }
}
