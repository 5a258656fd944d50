//! The callback URL's query string, with the case-insensitive lookup Tencent's docs call for
//! (`SdkAppid` and `SdkAppId` both appear).

use serde::Serialize;

/// Query parameters in the order they arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value whose name matches ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The query string again, with `Sign` hidden (for display and export).
    pub fn redacted(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(k, v)| {
                let value = if k.eq_ignore_ascii_case("Sign") {
                    "…".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), value)
            })
            .collect()
    }
}
