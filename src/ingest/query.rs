//! The callback URL's query string, with the case-insensitive lookup Tencent's docs call for
//! (`SdkAppid` and `SdkAppId` both appear).

use serde::ser::{Serialize, SerializeSeq, Serializer};

/// Query parameters in the order they arrived, decoded. Every name and value shares one
/// buffer: two allocations per callback however many parameters it has, where a string per
/// name and value cost a dozen on the receiving path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    /// Each name then its value, back to back.
    text: String,
    /// Where each parameter's name and value end in `text`; a name starts where the previous
    /// value ended.
    ends: Vec<(usize, usize)>,
}

impl QueryParams {
    pub fn parse(query: Option<&str>) -> Self {
        let query = query.unwrap_or_default();
        // Searched a block at a time (the query is read three times, each a vectorised scan).
        let separators = memchr::memchr_iter(b'&', query.as_bytes()).count();
        let encoded = memchr::memchr2(b'%', b'+', query.as_bytes()).is_some();
        // Decoding never makes a valid query longer; the count of `&` bounds the pairs.
        let mut params = Self {
            text: String::with_capacity(query.len()),
            ends: Vec::with_capacity(separators + 1),
        };
        if encoded {
            for (name, value) in form_urlencoded::parse(query.as_bytes()) {
                params.push(&name, &value);
            }
        } else {
            params.push_plain(query);
        }
        params
    }

    /// A query with nothing to decode (Tencent's own queries), split as `form_urlencoded`
    /// would: empty pairs skipped, a pair without `=` is a name with an empty value. One pass
    /// over the bytes: `&` and `=` are ASCII, so every cut falls between characters.
    fn push_plain(&mut self, query: &str) {
        let mut start = 0;
        let ends = memchr::memchr_iter(b'&', query.as_bytes()).chain(std::iter::once(query.len()));
        for end in ends {
            let pair = &query[start..end];
            start = end + 1;
            if pair.is_empty() {
                continue;
            }
            match memchr::memchr(b'=', pair.as_bytes()) {
                Some(eq) => self.push(&pair[..eq], &pair[eq + 1..]),
                None => self.push(pair, ""),
            }
        }
    }

    /// Parameters given as pairs, in this order.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut params = Self::default();
        for (name, value) in pairs {
            params.push(name, value);
        }
        params
    }

    fn push(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        let name_end = self.text.len();
        self.text.push_str(value);
        self.ends.push((name_end, self.text.len()));
    }

    /// Every (name, value), in the order they arrived.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&(name_end, value_end)| {
            let pair = (&self.text[start..name_end], &self.text[name_end..value_end]);
            start = value_end;
            pair
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Roughly the memory held, for the log's byte budget.
    pub fn retained_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<(usize, usize)>()
    }

    /// The first value whose name matches ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&str> {
        // Names compared as bytes: called several times per callback (the app, the command),
        // and only the value found is made a `str` again.
        let bytes = self.text.as_bytes();
        let mut start = 0;
        for &(name_end, value_end) in &self.ends {
            if bytes[start..name_end].eq_ignore_ascii_case(name.as_bytes()) {
                return Some(&self.text[name_end..value_end]);
            }
            start = value_end;
        }
        None
    }

    /// The query string again, with `Sign` hidden (for display and export).
    pub fn redacted(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(k, v)| {
                let value = if k.eq_ignore_ascii_case("Sign") {
                    "…"
                } else {
                    v
                };
                (k.to_string(), value.to_string())
            })
            .collect()
    }
}

/// As a list of `[name, value]` pairs.
impl Serialize for QueryParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for pair in self.iter() {
            seq.serialize_element(&pair)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_queries_split_exactly_as_the_decoder_splits_them() {
        for query in [
            "SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterCreateRoom&contenttype=json",
            "",
            "&&a=1&&b&=v&c==d&",
            "a=1&a=2&Sign=abc&RequestTime=1700000000",
            "x=é&ü=ß",
            "=",
            "a",
            "==&=a&b=",
            "&",
        ] {
            let fast = QueryParams::parse(Some(query));
            let decoded = form_urlencoded::parse(query.as_bytes());
            assert_eq!(
                fast.iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect::<Vec<_>>(),
                decoded
                    .map(|(n, v)| (n.into_owned(), v.into_owned()))
                    .collect::<Vec<_>>(),
                "{query}"
            );
        }
    }

    #[test]
    fn names_and_values_come_back_decoded_in_order() {
        let query = QueryParams::parse(Some("SdkAppid=14&a=%20x+y&a=2&empty=&flag&Sign=s%3D"));
        assert_eq!(
            query.iter().collect::<Vec<_>>(),
            [
                ("SdkAppid", "14"),
                ("a", " x y"),
                ("a", "2"),
                ("empty", ""),
                ("flag", ""),
                ("Sign", "s=")
            ]
        );
        assert_eq!(query.get("sdkappid"), Some("14"));
        assert_eq!(query.get("a"), Some(" x y"));
        assert_eq!(query.get("missing"), None);
        assert_eq!(query.redacted()[5], ("Sign".to_string(), "…".to_string()));
        assert_eq!(
            serde_json::to_string(&query).expect("serialises"),
            r#"[["SdkAppid","14"],["a"," x y"],["a","2"],["empty",""],["flag",""],["Sign","s="]]"#
        );
        assert_eq!(
            query,
            QueryParams::from_pairs(query.iter().collect::<Vec<_>>())
        );
    }

    #[test]
    fn no_query_has_no_parameters() {
        for raw in [None, Some(""), Some("&&")] {
            let query = QueryParams::parse(raw);
            assert!(query.is_empty());
            assert_eq!(query.iter().count(), 0);
            assert_eq!(serde_json::to_string(&query).expect("serialises"), "[]");
        }
    }
}
