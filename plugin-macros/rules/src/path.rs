//! URL path templates, shared by routes (`path = "/items/{id}"`) and plugins
//! (`base_path = "/v1/plugins/items"`). Both `{id}` and `:id` are accepted; the validated form
//! always uses `{id}`, the syntax axum 0.8 routes with.

/// A validated path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// The template with every parameter written `{name}`.
    pub template: String,
    /// Parameter names in order of appearance.
    pub params: Vec<String>,
}

/// Validates `raw`, returning the first problem as a sentence.
///
/// # Errors
/// The first problem found, as a sentence that says what would be right.
pub fn parse_template(raw: &str) -> Result<PathTemplate, String> {
    if raw.is_empty() {
        return Err("the path is empty; it must start with `/`, e.g. `/items`".into());
    }
    if !raw.starts_with('/') {
        return Err(format!("the path must start with `/`: write `/{raw}`"));
    }
    if raw == "/" {
        return Ok(PathTemplate {
            template: "/".into(),
            params: Vec::new(),
        });
    }
    if raw.ends_with('/') {
        return Err(format!(
            "the path must not end with `/`: write `{}` (axum treats the two as different routes)",
            raw.trim_end_matches('/')
        ));
    }
    if let Some(c) = raw
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '?' | '#'))
    {
        return Err(format!(
            "the path may not contain {c:?}; query strings come from the route's input"
        ));
    }
    let mut template = String::with_capacity(raw.len());
    let mut params: Vec<String> = Vec::new();
    for segment in raw[1..].split('/') {
        template.push('/');
        if segment.is_empty() {
            return Err("the path has an empty segment (`//`)".into());
        }
        let name = if let Some(inner) = segment.strip_prefix('{') {
            let Some(name) = inner.strip_suffix('}') else {
                return Err(format!(
                    "malformed parameter `{segment}`: a parameter is a whole segment, `{{name}}`"
                ));
            };
            Some(name)
        } else {
            segment.strip_prefix(':')
        };
        match name {
            Some(name) => {
                if name.starts_with('*') {
                    return Err(format!(
                        "catch-all parameter `{segment}` is not supported; routes take typed single-segment parameters"
                    ));
                }
                if !is_identifier(name) {
                    return Err(format!(
                        "malformed parameter `{segment}`: its name must be a Rust identifier such as `{{id}}`"
                    ));
                }
                if params.iter().any(|p| p == name) {
                    return Err(format!(
                        "parameter `{name}` appears more than once in the path"
                    ));
                }
                template.push('{');
                template.push_str(name);
                template.push('}');
                params.push(name.to_owned());
            }
            None => {
                if segment.contains(['{', '}']) {
                    return Err(format!(
                        "malformed parameter in `{segment}`: a parameter is a whole segment, `{{name}}`"
                    ));
                }
                if segment.contains(':') {
                    return Err(format!(
                        "`:` may only start a parameter segment (`:id`), found `{segment}`"
                    ));
                }
                template.push_str(segment);
            }
        }
    }
    Ok(PathTemplate { template, params })
}

/// The path a route is served at: `base + path`, with a route path of `/` meaning the base path
/// itself, and under the site base path `/` the route's path alone.
pub fn full_path(base: &str, path: &str) -> String {
    if path == "/" {
        base.to_owned()
    } else if base == "/" {
        path.to_owned()
    } else {
        format!("{base}{path}")
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && name != "_"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_both_parameter_syntaxes() {
        let p = parse_template("/items/:id/tags/{tag}").unwrap();
        assert_eq!(p.template, "/items/{id}/tags/{tag}");
        assert_eq!(p.params, ["id", "tag"]);
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in [
            "",
            "items",
            "/items/",
            "/a//b",
            "/items/{id",
            "/items/{}",
            "/items/{1d}",
            "/x/{id}.json",
            "/x/{*rest}",
            "/x/{id}/{id}",
            "/x?y=1",
            "/a:b",
        ] {
            assert!(parse_template(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn root_is_allowed() {
        assert_eq!(parse_template("/").unwrap().template, "/");
        assert_eq!(full_path("/v1/plugins/a", "/"), "/v1/plugins/a");
        assert_eq!(full_path("/v1/plugins/a", "/x"), "/v1/plugins/a/x");
    }
}
