//! The query string, read into a route's input type (and written from it by the typed clients):
//! `application/x-www-form-urlencoded` pairs, `+` for a space and `%XX` for a byte.
//!
//! - Each field is a parameter: `?page=2&limit=10`. A parameter absent from the query is a
//!   missing field (serde's `default` applies).
//! - A list takes the parameter once per element: `?tag=a&tag=b`. Anything else given twice is
//!   refused ("expected a single value"), never silently the first or the last.
//! - An empty value (`?before=`) is the empty string, for an optional parameter too: what the
//!   route's schema says of a string (its `minLength`) applies to it, and a number or an enum
//!   refuses it. Leaving the parameter out is how a client says "none".
//! - Numbers and booleans (`true`, `false`, or an HTML checkbox's `on`) are read from the text;
//!   an enum's unit variants are their names.
//! - A value that is not UTF-8 once decoded is refused, not patched with replacement characters.
//!
//! The parser borrows the query: a value without escapes is never copied. Parameters are grouped
//! by sorting them, so a query of many parameters costs `n log n`, whatever the client sends.

use serde::de::value::{BorrowedStrDeserializer, SeqDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Unexpected, Visitor};
use std::borrow::Cow;
use std::fmt;

/// What went wrong, in words the request path rewords for the client.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Reads `query` (without its `?`) as `T`.
pub(crate) fn from_str<'q, T: de::Deserialize<'q>>(query: &'q str) -> Result<T, Error> {
    T::deserialize(Deserializer::new(query))
}

/// The whole query, as a map from parameter names to their values.
pub(crate) struct Deserializer<'q> {
    /// Every `key=value` pair, the key decoded and the value as sent, sorted by key (stable:
    /// repeated keys keep their order).
    pairs: Vec<(Cow<'q, str>, &'q str)>,
}

impl<'q> Deserializer<'q> {
    pub(crate) fn new(query: &'q str) -> Self {
        let mut pairs: Vec<(Cow<'q, str>, &'q str)> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                // A key that is not UTF-8 cannot name a field: it stays as near as it gets,
                // for `deny_unknown_fields` to name.
                let key = decode(key).unwrap_or_else(|bytes| {
                    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
                });
                (key, value)
            })
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Self { pairs }
    }
}

/// `+` as a space and `%XX` as its byte; anything else as it is (a `%` without two hex digits
/// too, as browsers do). Borrowed when there is nothing to decode; `Err` with the bytes when
/// they are not UTF-8.
fn decode(raw: &str) -> Result<Cow<'_, str>, Vec<u8>> {
    if !raw.bytes().any(|b| b == b'+' || b == b'%') {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let hex = |at: usize| bytes.get(at).and_then(|&c| (c as char).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|e| e.into_bytes())
}

impl<'q> de::Deserializer<'q> for Deserializer<'q> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(Params {
            pairs: self.pairs,
            at: 0,
            group: 0,
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'q>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'q>>
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The parameters, one key at a time with all of its values.
struct Params<'q> {
    pairs: Vec<(Cow<'q, str>, &'q str)>,
    /// The first pair of the next key.
    at: usize,
    /// How many pairs the key just read has.
    group: usize,
}

impl<'q> de::MapAccess<'q> for Params<'q> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'q>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, _)) = self.pairs.get(self.at) else {
            return Ok(None);
        };
        self.group = self.pairs[self.at..]
            .iter()
            .take_while(|(k, _)| k == key)
            .count();
        match key {
            Cow::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::<Error>::new(key)),
            Cow::Owned(key) => seed.deserialize(StrDeserializer::<Error>::new(key)),
        }
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'q>>(&mut self, seed: V) -> Result<V::Value, Error> {
        // Taken, so that a value asked for twice (which serde's contract rules out, but a
        // hand-written `Deserialize` might do) is an empty one rather than a slice past the end.
        let len = std::mem::take(&mut self.group);
        let group = &self.pairs[self.at..self.at + len];
        self.at += len;
        seed.deserialize(Values(group))
    }

    fn size_hint(&self) -> Option<usize> {
        None
    }
}

/// One parameter's values, in the order they were sent: a list, or exactly one value.
struct Values<'a, 'q>(&'a [(Cow<'q, str>, &'q str)]);

impl<'q> Values<'_, 'q> {
    fn one(&self) -> Result<Value<'q>, Error> {
        match self.0 {
            [(_, raw)] => Ok(Value(raw)),
            many => Err(Error(format!(
                "expected a single value, found {} (only a list takes the parameter more than once)",
                many.len()
            ))),
        }
    }
}

macro_rules! one_value {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'q>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Error> {
            self.one()?.$method($($arg,)* visitor)
        }
    )*};
}

impl<'q> de::Deserializer<'q> for Values<'_, 'q> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            [(_, raw)] => Value(raw).deserialize_any(visitor),
            _ => self.deserialize_seq(visitor),
        }
    }

    /// A parameter that is there is `Some`, empty or not: only an absent one is `None`.
    fn deserialize_option<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(SeqDeserializer::<_, Error>::new(
            self.0.iter().map(|(_, raw)| Value(raw)),
        ))
    }

    fn deserialize_tuple<V: Visitor<'q>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'q>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'q>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    one_value! {
        deserialize_bool() deserialize_i8() deserialize_i16() deserialize_i32()
        deserialize_i64() deserialize_i128() deserialize_u8() deserialize_u16()
        deserialize_u32() deserialize_u64() deserialize_u128() deserialize_f32()
        deserialize_f64() deserialize_char() deserialize_str() deserialize_string()
        deserialize_bytes() deserialize_byte_buf() deserialize_unit() deserialize_map()
        deserialize_identifier()
        deserialize_unit_struct(name: &'static str)
        deserialize_struct(name: &'static str, fields: &'static [&'static str])
        deserialize_enum(name: &'static str, variants: &'static [&'static str])
    }
}

/// One value as sent, decoded when it is read.
struct Value<'q>(&'q str);

impl<'q> Value<'q> {
    fn text(&self) -> Result<Cow<'q, str>, Error> {
        decode(self.0).map_err(|_| Error("the value is not valid UTF-8 once decoded".to_owned()))
    }

    /// Parses the text as a `T`; `expected` is how the client's reworded message names it.
    fn parse<T: std::str::FromStr>(&self, expected: &'static str) -> Result<T, Error> {
        let text = self.text()?;
        text.parse()
            .map_err(|_| de::Error::invalid_value(Unexpected::Str(&text), &expected))
    }
}

impl<'q> IntoDeserializer<'q, Error> for Value<'q> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parsed {
    ($($method:ident => $ty:ident $visit:ident,)*) => {$(
        fn $method<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit(self.parse::<$ty>(stringify!($ty))?)
        }
    )*};
}

impl<'q> de::Deserializer<'q> for Value<'q> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.text()? {
            Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }

    fn deserialize_bool<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        match &*self.text()? {
            "true" | "on" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            other => Err(de::Error::invalid_value(
                Unexpected::Str(other),
                &"true or false",
            )),
        }
    }

    parsed! {
        deserialize_i8 => i8 visit_i8,
        deserialize_i16 => i16 visit_i16,
        deserialize_i32 => i32 visit_i32,
        deserialize_i64 => i64 visit_i64,
        deserialize_i128 => i128 visit_i128,
        deserialize_u8 => u8 visit_u8,
        deserialize_u16 => u16 visit_u16,
        deserialize_u32 => u32 visit_u32,
        deserialize_u64 => u64 visit_u64,
        deserialize_u128 => u128 visit_u128,
        deserialize_f32 => f32 visit_f32,
        deserialize_f64 => f64 visit_f64,
        deserialize_char => char visit_char,
    }

    fn deserialize_option<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'q>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'q>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'q>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self)
    }

    fn deserialize_ignored_any<V: Visitor<'q>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    // A list, a map or a struct inside one parameter has no syntax in a query: given the text,
    // their visitors refuse it ("expected a sequence, found the string ...").
    serde::forward_to_deserialize_any! {
        <W: Visitor<'q>>
        str string bytes byte_buf identifier seq tuple tuple_struct map struct
    }
}

impl<'q> de::EnumAccess<'q> for Value<'q> {
    type Error = Error;
    type Variant = UnitOnly;

    fn variant_seed<S: DeserializeSeed<'q>>(self, seed: S) -> Result<(S::Value, UnitOnly), Error> {
        seed.deserialize(self).map(|variant| (variant, UnitOnly))
    }
}

/// An enum in a query is one of its unit variants' names.
struct UnitOnly;

impl<'q> de::VariantAccess<'q> for UnitOnly {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'q>>(self, _: T) -> Result<T::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"a variant with a value",
        ))
    }

    fn tuple_variant<V: Visitor<'q>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(Unexpected::UnitVariant, &visitor))
    }

    fn struct_variant<V: Visitor<'q>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(Unexpected::UnitVariant, &visitor))
    }
}

/// `value` as a query string: each field a parameter, a list once per element, `None` left out.
/// `Err` names what a query cannot hold (a nested object, a list of lists).
#[cfg(feature = "client")]
pub(crate) fn to_string<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    use serde_json::Value as Json;
    let fields = match serde_json::to_value(value) {
        Ok(Json::Object(fields)) => fields,
        Ok(Json::Null) => return Ok(String::new()),
        Ok(_) => {
            return Err(Error(
                "a query input is a struct of named parameters".into(),
            ));
        }
        Err(e) => return Err(Error(e.to_string())),
    };
    let mut out = String::new();
    let mut pair = |key: &str, value: &Json| -> Result<(), Error> {
        let text = match value {
            Json::String(s) => Cow::Borrowed(s.as_str()),
            Json::Number(n) => Cow::Owned(n.to_string()),
            Json::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Json::Null => return Ok(()),
            Json::Array(_) | Json::Object(_) => {
                return Err(Error(format!(
                    "`{key}` cannot be written in a query string"
                )));
            }
        };
        if !out.is_empty() {
            out.push('&');
        }
        encode_into(&mut out, key);
        out.push('=');
        encode_into(&mut out, &text);
        Ok(())
    };
    for (key, value) in &fields {
        match value {
            Json::Array(items) => items.iter().try_for_each(|item| pair(key, item))?,
            other => pair(key, other)?,
        }
    }
    Ok(out)
}

/// The form encoding: letters, digits and `*-._` as they are, a space as `+`, every other byte
/// as `%XX`.
#[cfg(feature = "client")]
fn encode_into(out: &mut String, text: &str) {
    for b in text.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::from_str;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Filter {
        Active,
        Archived,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Query {
        #[serde(default)]
        page: u32,
        before: Option<String>,
        #[serde(default)]
        tag: Vec<String>,
        filter: Option<Filter>,
        #[serde(default)]
        exact: bool,
        limit: Option<i64>,
    }

    fn query(q: &str) -> Result<Query, String> {
        from_str::<Query>(q).map_err(|e| e.to_string())
    }

    #[test]
    fn fields_lists_options_enums_and_booleans() {
        assert_eq!(
            query("page=2&tag=a&before=x+y%2Fz&tag=b&filter=archived&exact=on&limit=-3").unwrap(),
            Query {
                page: 2,
                before: Some("x y/z".into()),
                tag: vec!["a".into(), "b".into()],
                filter: Some(Filter::Archived),
                exact: true,
                limit: Some(-3),
            }
        );
        let empty = query("").unwrap();
        assert_eq!((empty.page, empty.before, empty.tag.len()), (0, None, 0));
    }

    #[test]
    fn an_empty_value_is_the_empty_string_and_only_an_absent_one_is_none() {
        let q = query("before=&tag=a&tag=").unwrap();
        assert_eq!((q.before.as_deref(), q.limit), (Some(""), None));
        assert_eq!(q.tag, ["a", ""]);
        // Keys without `=` and stray `&` are read as empty values.
        assert_eq!(
            query("&&before&page=1&").unwrap().before.as_deref(),
            Some("")
        );
        assert_eq!(
            query("limit=").unwrap_err(),
            "invalid value: string \"\", expected i64"
        );
        assert!(
            query("filter=")
                .unwrap_err()
                .starts_with("unknown variant ``")
        );
    }

    #[test]
    fn a_single_value_given_twice_is_refused() {
        let e = query("page=1&page=2").unwrap_err();
        assert!(e.starts_with("expected a single value, found 2"), "{e}");
    }

    #[test]
    fn bad_values_name_what_was_expected() {
        assert_eq!(
            query("page=lots").unwrap_err(),
            "invalid value: string \"lots\", expected u32"
        );
        assert_eq!(
            query("exact=maybe").unwrap_err(),
            "invalid value: string \"maybe\", expected true or false"
        );
        assert!(
            query("filter=gone")
                .unwrap_err()
                .starts_with("unknown variant `gone`")
        );
        assert_eq!(
            query("before=%FF").unwrap_err(),
            "the value is not valid UTF-8 once decoded"
        );
    }

    #[test]
    fn escapes_decode_and_a_lone_percent_stays() {
        let q = query("before=100%25+%e2%9c%93%2").unwrap();
        assert_eq!(q.before.as_deref(), Some("100% ✓%2"));
    }

    #[test]
    fn unknown_parameters_are_ignored_unless_the_type_denies_them() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            a: Option<u8>,
        }
        assert_eq!(query("page=1&other=x").unwrap().page, 1);
        let e = from_str::<Strict>("a=1&b=2").unwrap_err().to_string();
        assert!(e.starts_with("unknown field `b`"), "{e}");
    }

    /// Whatever a client sends, the reader answers `Ok` or `Err`, never a panic: queries built
    /// from the characters that matter to it (separators, escapes, bytes that are not UTF-8
    /// once decoded), by a fixed pseudo-random sequence so that a failure can be replayed.
    #[test]
    fn any_query_is_read_or_refused_without_a_panic() {
        const PIECES: &[&str] = &[
            "page",
            "tag",
            "before",
            "filter",
            "exact",
            "limit",
            "=",
            "&",
            "%",
            "%2",
            "%FF",
            "%e2%9c%93",
            "+",
            "1",
            "-1",
            "",
            "archived",
            "on",
            "x",
            "99999999999",
            "1e3",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut read = 0;
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            read += usize::from(query(&text).is_ok());
            let _ = from_str::<std::collections::HashMap<String, Vec<String>>>(&text);
            let _ = from_str::<(u8,)>(&text);
        }
        // The sequence reaches both answers, so the loop tests something.
        assert!(read > 100 && read < 20_000, "{read} of 20,000 read");
    }

    #[cfg(feature = "client")]
    #[test]
    fn what_the_client_writes_reads_back_the_same() {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            page: u32,
            before: Option<&'a str>,
            tag: Vec<&'a str>,
            filter: &'a str,
            exact: bool,
            limit: Option<i64>,
        }
        let text = super::to_string(&Out {
            page: 7,
            before: Some("a b&c=d/%✓"),
            tag: vec!["x", "", "y+z"],
            filter: "active",
            exact: false,
            limit: None,
        })
        .unwrap();
        assert!(!text.contains("limit"), "{text}");
        assert_eq!(
            query(&text).unwrap(),
            Query {
                page: 7,
                before: Some("a b&c=d/%✓".into()),
                tag: vec!["x".into(), "".into(), "y+z".into()],
                filter: Some(Filter::Active),
                exact: false,
                limit: None,
            }
        );
        #[derive(serde::Serialize)]
        struct Nested {
            inner: Out<'static>,
        }
        let nested = Nested {
            inner: Out {
                page: 1,
                before: None,
                tag: vec![],
                filter: "",
                exact: true,
                limit: None,
            },
        };
        assert!(super::to_string(&nested).is_err());
    }
}
