//! Small helpers for diagnostics: "did you mean" suggestions and lists of alternatives.

/// The candidate closest to `input` by edit distance, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&input_lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance; inputs here are short attribute keys and error codes.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "`a`, `b` or `c`".
pub(crate) fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => format!("`{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|i| format!("`{i}`")).collect();
            format!("{} or `{last}`", init.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["method", "path", "timeout_ms", "body_limit"];
        assert_eq!(did_you_mean("timout_ms", &keys), Some("timeout_ms"));
        assert_eq!(did_you_mean("methd", &keys), Some("method"));
        assert_eq!(did_you_mean("colour", &keys), None);
    }

    #[test]
    fn lists_alternatives() {
        assert_eq!(one_of(&["GET"]), "`GET`");
        assert_eq!(one_of(&["GET", "POST", "PUT"]), "`GET`, `POST` or `PUT`");
    }
}
