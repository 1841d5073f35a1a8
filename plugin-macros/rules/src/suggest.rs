//! "Did you mean": the name closest to a mistyped one, for compile errors and start-up errors
//! alike.

/// The candidate closest to `input` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&input_lower, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance counting a swap of two neighbours as one edit (optimal string alignment), so
/// `gti` is one edit from `git`; inputs here are short attribute keys, presets and error codes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: the distance between the first i chars of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j - 1] + cost)
                .min(d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Whether `name` can name a security scheme: one or more ASCII letters, digits, `.`, `-` or
/// `_`, which OpenAPI allows as a component's key.
pub const fn is_scheme_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b'-' | b'_')) {
            return false;
        }
        i += 1;
    }
    true
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
        assert_eq!(did_you_mean("gti", &["git", "tmp"]), Some("git"));
    }

    #[test]
    fn scheme_names_are_component_keys() {
        assert!(is_scheme_name("gateway"));
        assert!(is_scheme_name("x-user.id_2"));
        assert!(!is_scheme_name(""));
        assert!(!is_scheme_name("two words"));
        assert!(!is_scheme_name("a/b"));
    }
}
