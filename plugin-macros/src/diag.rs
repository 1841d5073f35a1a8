//! Small helpers for diagnostics: "did you mean" suggestions and lists of alternatives.

pub(crate) use plugin_routes_rules::did_you_mean;

/// "`a`, `b` or `c`".
pub(crate) fn one_of(items: &[&str]) -> String {
    listed(items, "or")
}

/// "`a`, `b` and `c`".
pub(crate) fn all_of(items: &[&str]) -> String {
    listed(items, "and")
}

fn listed(items: &[&str], last_word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => format!("`{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|i| format!("`{i}`")).collect();
            format!("{} {last_word} `{last}`", init.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_alternatives() {
        assert_eq!(one_of(&["GET"]), "`GET`");
        assert_eq!(one_of(&["GET", "POST", "PUT"]), "`GET`, `POST` or `PUT`");
    }
}
