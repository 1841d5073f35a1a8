//! What the deserializers say about bad input, in the client's terms. serde words a mismatch in
//! Rust's (`invalid type: string "7", expected u32`, `expected struct CreateItem`); a client
//! sends JSON and query strings, so the envelope says `expected an integer from 0 to 4294967295,
//! found the string "7"` and `expected a JSON object`. Anything not recognised is passed on
//! as it is.

/// `message` from serde_json or the query reader, reworded. A syntax error keeps its position
/// (`at line 1 column 9`: the client needs it to find the spot); a data error loses it, since
/// the field's path says where.
pub(crate) fn client_terms(message: &str, syntax: bool) -> String {
    let (body, position) = split_position(message);
    let reworded = match body {
        // Where the text is no JSON at all, that is what it means; elsewhere a value of the
        // wrong JSON type for an enumeration.
        "expected value" if syntax => body.to_owned(),
        _ => reword(body),
    };
    match position {
        // A message reworded here is about a value, which the path locates.
        Some(p) if syntax && reworded == body => format!("{reworded} {p}"),
        _ => reworded,
    }
}

/// serde_json appends ` at line L column C` to every message: only that, at its very end, is
/// taken for a position (a client's value quoted in the message may hold the same words).
fn split_position(message: &str) -> (&str, Option<&str>) {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match message.rfind(" at line ") {
        Some(i)
            if message[i + " at line ".len()..]
                .split_once(" column ")
                .is_some_and(|(line, column)| digits(line) && digits(column)) =>
        {
            (&message[..i], Some(&message[i + 1..]))
        }
        _ => (message, None),
    }
}

fn reword(message: &str) -> String {
    if let Some(said) = unknown_variant(message) {
        return said;
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            // The last `, expected`: what was found may be a client's string holding one.
            && let Some((found, expected)) = rest.rsplit_once(", expected ")
        {
            let expected = match found.strip_prefix("string ") {
                Some(text) => expected_of_text(expected, text.trim_matches('"')),
                None => expected_term(expected),
            };
            return format!("expected {expected}, found {}", found_term(found));
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((_, expected)) = rest.split_once(", expected ")
    {
        return if expected.starts_with("struct ") {
            "expected a JSON object, found an array".to_owned()
        } else {
            format!("expected {}", expected_term(expected))
        };
    }
    let known = match message {
        // serde_json, where a value of another JSON type starts (an enum given a number).
        "expected value" => "not an allowed value here",
        // `FromStr` of numbers and booleans, which a type that reads itself from text (a
        // `serde_with::DisplayFromStr` field) passes on.
        "invalid digit found in string" => "expected an integer",
        "number too large to fit in target type" => "the number is too large",
        "number too small to fit in target type" => "the number is too small",
        "cannot parse integer from empty string" => "expected an integer, found nothing",
        "invalid float literal" => "expected a number",
        "cannot parse float from empty string" => "expected a number, found nothing",
        "provided string was not `true` or `false`" => "expected true or false",
        other => return other.to_owned(),
    };
    known.to_owned()
}

/// serde's ``unknown variant `gone`, expected `active` or `archived` `` (or ``one of `a`, `b`,
/// `c` ``, or `there are no variants`): "variant" is Rust's word, and a client sent a string, so
/// `expected one of "active", "archived", found the string "gone"`. The client's text may hold
/// anything, the allowed names are the server's: the last `` `, expected `` is where they start.
fn unknown_variant(message: &str) -> Option<String> {
    let (found, allowed) = unknown_variant_parts(message)?;
    let found = json_string(found);
    let Some(allowed) = allowed else {
        return Some(format!(
            "no value is allowed here, found the string {found}"
        ));
    };
    // The names are those between backticks: `a`, `a` or `b`, one of `a`, `b`, `c`.
    let names: Vec<String> = allowed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(json_string)
        .collect();
    Some(match names.as_slice() {
        [one] => format!("expected {one}, found the string {found}"),
        _ => format!(
            "expected one of {}, found the string {found}",
            names.join(", ")
        ),
    })
}

/// serde's unknown-variant message taken apart: the value the client sent, and serde's list of
/// the allowed ones (`None` for an enumeration without any).
pub(crate) fn unknown_variant_parts(message: &str) -> Option<(&str, Option<&str>)> {
    let rest = message.strip_prefix("unknown variant `")?;
    if let Some(found) = rest.strip_suffix("`, there are no variants") {
        return Some((found, None));
    }
    let at = rest.rfind("`, expected ")?;
    Some((&rest[..at], Some(&rest[at + "`, expected ".len()..])))
}

/// `text` as a JSON string, quoted and escaped as the client writes it.
pub(crate) fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
}

/// serde's `expected ...` (or a path parameter's type), which names Rust types, as a JSON type.
pub(crate) fn expected_term(expected: &str) -> String {
    let range = |lo: &str, hi: &str| format!("an integer from {lo} to {hi}");
    match expected {
        "a string" | "a borrowed string" | "a character" | "char" | "string" => "a string".into(),
        "u8" => range("0", "255"),
        "u16" => range("0", "65535"),
        "u32" => range("0", "4294967295"),
        "u64" | "usize" => range("0", "18446744073709551615"),
        "u128" => "a non-negative integer".into(),
        "i8" => range("-128", "127"),
        "i16" => range("-32768", "32767"),
        "i32" => range("-2147483648", "2147483647"),
        "i64" | "isize" => range("-9223372036854775808", "9223372036854775807"),
        "i128" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a sequence" | "a tuple" | "a set" => "an array".into(),
        "a map" => "a JSON object".into(),
        "unit" | "unit struct" => "null".into(),
        "option" => "a value or null".into(),
        e if e.starts_with("struct ") || e.starts_with("struct variant ") => "a JSON object".into(),
        e if e.starts_with("enum ") => "one of the allowed values".into(),
        e if e.starts_with("tuple of size ") || e.starts_with("an array of length ") => {
            format!(
                "an array of {} elements",
                e.rsplit(' ').next().unwrap_or("some")
            )
        }
        // A path parameter's type named by its Rust path (`uuid::Uuid`).
        other if other.contains("::") => "a valid value".into(),
        other => other.into(),
    }
}

/// [`expected_term`] for a value sent as `text` (a path segment, a query value, a JSON string):
/// an integer type's range is named only when the text is an integer (it may be out of that
/// range, or a JSON string holding a number); for any other text it is `an integer`
/// (`?limit=abc` is not an integer at all, and the type's bounds say nothing of what the route
/// allows).
pub(crate) fn expected_of_text(expected: &str, text: &str) -> String {
    let term = expected_term(expected);
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !integer && term.starts_with("an integer from ") {
        return "an integer".into();
    }
    term
}

/// serde's `Unexpected` (what was found), in JSON terms.
fn found_term(found: &str) -> String {
    let between_ticks = |s: &str| s.trim_matches('`').to_owned();
    if let Some(n) = found
        .strip_prefix("integer ")
        .or_else(|| found.strip_prefix("floating point "))
    {
        return format!("the number {}", between_ticks(n));
    }
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the string {s}");
    }
    if let Some(b) = found.strip_prefix("boolean ") {
        return between_ticks(b);
    }
    match found {
        "null" | "unit value" => "null".into(),
        "sequence" => "an array".into(),
        "map" => "an object".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::client_terms;

    #[track_caller]
    fn says(message: &str, syntax: bool, expected: &str) {
        assert_eq!(client_terms(message, syntax), expected, "for {message:?}");
    }

    #[test]
    fn type_mismatches_name_json_types() {
        says(
            "invalid type: integer `5`, expected a string at line 1 column 10",
            false,
            "expected a string, found the number 5",
        );
        says(
            "invalid type: string \"7\", expected u32 at line 1 column 26",
            false,
            "expected an integer from 0 to 4294967295, found the string \"7\"",
        );
        // Text that is no integer at all is not told a type's range.
        says(
            "invalid type: string \"seven\", expected u32 at line 1 column 26",
            false,
            "expected an integer, found the string \"seven\"",
        );
        says(
            "invalid value: string \"-3\", expected u8",
            false,
            "expected an integer from 0 to 255, found the string \"-3\"",
        );
        says(
            "invalid value: integer `-1`, expected u32",
            false,
            "expected an integer from 0 to 4294967295, found the number -1",
        );
        says(
            "invalid type: floating point `1e+20`, expected i64",
            false,
            "expected an integer from -9223372036854775808 to 9223372036854775807, found the number 1e+20",
        );
        says(
            "invalid type: string \"a\", expected f64",
            false,
            "expected a number, found the string \"a\"",
        );
        says(
            "invalid type: integer `1`, expected a boolean",
            false,
            "expected true or false, found the number 1",
        );
        says(
            "invalid type: null, expected a string",
            false,
            "expected a string, found null",
        );
        says(
            "invalid type: string \"a\", expected a sequence",
            false,
            "expected an array, found the string \"a\"",
        );
    }

    #[test]
    fn rust_type_names_never_reach_the_client() {
        says(
            "invalid type: sequence, expected struct CreateItem at line 1 column 1",
            false,
            "expected a JSON object, found an array",
        );
        says(
            "invalid length 0, expected struct Inner with 1 element at line 1 column 25",
            false,
            "expected a JSON object, found an array",
        );
        says(
            "invalid type: integer `3`, expected enum Status",
            false,
            "expected one of the allowed values, found the number 3",
        );
        says(
            "invalid type: integer `1`, expected unit",
            false,
            "expected null, found the number 1",
        );
    }

    #[test]
    fn path_parameter_types_are_json_types() {
        assert_eq!(super::expected_term("u8"), "an integer from 0 to 255");
        assert_eq!(super::expected_term("uuid::Uuid"), "a valid value");
    }

    #[test]
    fn syntax_errors_keep_their_position() {
        says(
            "expected `:` at line 1 column 9",
            true,
            "expected `:` at line 1 column 9",
        );
        says(
            "EOF while parsing a value at line 1 column 9",
            true,
            "EOF while parsing a value at line 1 column 9",
        );
        // Text that is no JSON keeps serde_json's words and position; in a body that is valid
        // JSON (an enumeration's value of the wrong type), the path says where.
        says(
            "expected value at line 1 column 1",
            true,
            "expected value at line 1 column 1",
        );
        says(
            "expected value at line 1 column 25",
            false,
            "not an allowed value here",
        );
    }

    #[test]
    fn query_string_parse_errors_are_reworded() {
        says(
            "invalid digit found in string",
            false,
            "expected an integer",
        );
        says(
            "invalid value: string \"lots\", expected u32",
            false,
            "expected an integer, found the string \"lots\"",
        );
        says(
            "invalid value: string \"maybe\", expected true or false",
            false,
            "expected true or false, found the string \"maybe\"",
        );
    }

    #[test]
    fn an_unknown_variant_is_a_string_outside_the_allowed_ones() {
        says(
            "unknown variant `gone`, expected `active` or `archived` at line 1 column 30",
            false,
            "expected one of \"active\", \"archived\", found the string \"gone\"",
        );
        says(
            "unknown variant `x`, expected one of `a`, `b`, `c`",
            false,
            "expected one of \"a\", \"b\", \"c\", found the string \"x\"",
        );
        says(
            "unknown variant `x`, expected `only`",
            false,
            "expected \"only\", found the string \"x\"",
        );
        says(
            "unknown variant `x`, there are no variants",
            false,
            "no value is allowed here, found the string \"x\"",
        );
        // What the client sent may look like serde's own words, and holds quotes.
        says(
            "unknown variant `a`, expected `b\"`, expected `active` or `archived`",
            false,
            "expected one of \"active\", \"archived\", found the string \"a`, expected `b\\\"\"",
        );
        says(
            "unknown variant `a`, expected `b`, there are no variants",
            false,
            "no value is allowed here, found the string \"a`, expected `b\"",
        );
        // Escaped as JSON, not as Rust.
        says(
            "unknown variant `\u{200b}x`, expected `a`",
            false,
            "expected \"a\", found the string \"\u{200b}x\"",
        );
        says(
            "unknown variant `\u{1}`, expected `a`",
            false,
            "expected \"a\", found the string \"\\u0001\"",
        );
        // A value that holds serde_json's position words is not cut there.
        says(
            "unknown variant `a at line 1 column 2`, expected `b`",
            false,
            "expected \"b\", found the string \"a at line 1 column 2\"",
        );
    }

    #[test]
    fn what_is_already_in_the_client_s_terms_is_kept() {
        says(
            "unknown field `b`, expected `a`",
            false,
            "unknown field `b`, expected `a`",
        );
    }
}
