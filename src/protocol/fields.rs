//! Lenient field access over raw JSON: real payloads differ from the docs in key case
//! (`opType`/`OpType`) and in types (ids as numbers, booleans as strings).

use super::json::{Json, Object};

/// A JSON object viewed through lenient getters.
#[derive(Clone, Copy)]
pub struct Fields<'a>(pub &'a Object<'a>);

impl<'a> Fields<'a> {
    /// Exact key first, then the first key equal ignoring ASCII case (its last value, as for
    /// an exact key).
    pub fn get(self, key: &str) -> Option<&'a Json<'a>> {
        self.0.get_exact(key).or_else(|| {
            let (found, _) = self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
            self.0.get_exact(found)
        })
    }

    /// A string, or a number written as text; null and empty objects are unknown.
    pub fn string(self, key: &str) -> Option<String> {
        self.get(key).and_then(as_string)
    }

    /// [`Self::string`] borrowed from the body instead of copied, for values only looked at.
    pub fn text(self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(as_text)
    }

    /// An integer, or a string holding one.
    pub fn int(self, key: &str) -> Option<i64> {
        self.get(key).and_then(as_int)
    }

    /// A boolean, or `"true"`/`"false"`/`0`/`1`.
    pub fn bool(self, key: &str) -> Option<bool> {
        self.get(key).and_then(as_bool)
    }

    /// A nested object.
    pub fn object(self, key: &str) -> Option<Fields<'a>> {
        self.get(key).and_then(Json::as_object).map(Fields)
    }

    /// An array's elements; a single value where an array was expected counts as one element.
    /// Walked in place: no list of the elements is built.
    pub fn list(self, key: &str) -> impl Iterator<Item = &'a Json<'a>> + use<'a> {
        let (items, single): (&'a [Json<'a>], Option<&'a Json<'a>>) = match self.get(key) {
            Some(Json::Array(items)) => (items, None),
            Some(Json::Null) | None => (&[], None),
            Some(other) => (&[], Some(other)),
        };
        items.iter().chain(single)
    }

    /// An array of strings (ids), dropping entries of other types.
    pub fn strings(self, key: &str) -> Option<Vec<String>> {
        self.get(key)?;
        Some(self.list(key).filter_map(as_string).collect())
    }

    /// An array of integers.
    pub fn ints(self, key: &str) -> Option<Vec<i64>> {
        self.get(key)?;
        Some(self.list(key).filter_map(as_int).collect())
    }

    /// Objects in an array, skipping anything that is not an object.
    pub fn objects(self, key: &str) -> Vec<Fields<'a>> {
        self.list(key)
            .filter_map(Json::as_object)
            .map(Fields)
            .collect()
    }
}

pub fn as_string(value: &Json<'_>) -> Option<String> {
    match value {
        Json::String(s) | Json::Number(s) => Some(s.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// [`as_string`] without the copy.
pub fn as_text<'a>(value: &'a Json<'_>) -> Option<&'a str> {
    match value {
        Json::String(s) | Json::Number(s) => Some(s),
        Json::Bool(true) => Some("true"),
        Json::Bool(false) => Some("false"),
        _ => None,
    }
}

pub fn as_int(value: &Json<'_>) -> Option<i64> {
    match value {
        // The number's text, read as serde_json's `Number` reads it (i64, u64, then f64).
        Json::Number(n) => n
            .parse::<i64>()
            .ok()
            .or_else(|| {
                n.parse::<u64>()
                    .ok()
                    .map(|u| i64::try_from(u).unwrap_or(i64::MAX))
            })
            .or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn as_bool(value: &Json<'_>) -> Option<bool> {
    match value {
        Json::Bool(b) => Some(*b),
        Json::Number(n) => n.parse::<i64>().ok().map(|i| i != 0),
        Json::String(s) => {
            let s = s.trim();
            if s.eq_ignore_ascii_case("true") || s == "1" {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") || s == "0" {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_types_and_case() {
        let body = br#"{"RoomID": 42, "opType": "add", "Flag": "false", "N": "7", "One": "x"}"#;
        let value = Json::parse(body).expect("valid");
        let fields = Fields(value.as_object().expect("object"));
        assert_eq!(fields.string("RoomId").as_deref(), Some("42"));
        assert_eq!(fields.string("OpType").as_deref(), Some("add"));
        assert_eq!(fields.bool("Flag"), Some(false));
        assert_eq!(fields.int("N"), Some(7));
        assert_eq!(fields.strings("One"), Some(vec!["x".to_string()]));
        assert_eq!(fields.strings("Missing"), None);
    }

    #[test]
    fn borrowed_text_and_lists_read_as_the_copies_do() {
        let body = br#"{"S": "a\"b", "N": 12, "B": true, "O": {}, "L": [1, "2", null], "One": 3}"#;
        let value = Json::parse(body).expect("valid");
        let fields = Fields(value.as_object().expect("object"));
        for key in ["S", "N", "B", "O", "Missing"] {
            assert_eq!(fields.text(key), fields.string(key).as_deref(), "{key}");
        }
        assert_eq!(fields.text("S"), Some("a\"b"));
        assert_eq!(fields.ints("L"), Some(vec![1, 2]));
        assert_eq!(fields.ints("One"), Some(vec![3]));
        assert_eq!(fields.list("L").count(), 3);
        assert_eq!(fields.list("Missing").count(), 0);
        for (text, expected) in [("TRUE", Some(true)), (" 0 ", Some(false)), ("yes", None)] {
            assert_eq!(as_bool(&Json::String(text.into())), expected, "{text}");
        }
    }
}
