//! The HTTP methods a route can declare, and what each implies for where its input comes from.

/// An HTTP method a route can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`: input from the query string.
    Get,
    /// `POST`: input from the JSON body.
    Post,
    /// `PUT`: input from the JSON body.
    Put,
    /// `PATCH`: input from the JSON body.
    Patch,
    /// `DELETE`: input from the query string.
    Delete,
}

impl Method {
    /// Every method a route can declare, in the order diagnostics list them.
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    /// The names `method = "..."` accepts, in the order of [`Method::ALL`].
    pub const NAMES: [&'static str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

    /// The method named exactly `name` (upper case), if a route can declare it.
    pub fn from_name(name: &str) -> Option<Method> {
        let i = Self::NAMES.iter().position(|n| *n == name)?;
        Some(Self::ALL[i])
    }

    /// The method's name, e.g. `"GET"`.
    pub const fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The variant's name (`"Get"`): what generated code writes after `Method::`.
    pub const fn variant_name(self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Post => "Post",
            Method::Put => "Put",
            Method::Patch => "Patch",
            Method::Delete => "Delete",
        }
    }

    /// Whether the input is a JSON body (`POST`, `PUT`, `PATCH`) rather than the query string.
    pub const fn reads_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }

    /// Whether the method changes state (everything but `GET`): cookie-authenticated requests
    /// with these methods get the cross-site checks.
    pub const fn is_unsafe(self) -> bool {
        !matches!(self, Method::Get)
    }
}

#[cfg(test)]
mod tests {
    use super::Method;

    #[test]
    fn names_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.as_str()), Some(m));
            assert_eq!(m.variant_name().to_uppercase(), m.as_str());
        }
        assert_eq!(Method::from_name("get"), None);
        assert_eq!(Method::from_name("HEAD"), None);
    }
}
