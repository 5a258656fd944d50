//! A borrowed JSON tree for reading a callback once: keys and strings point into the body
//! wherever they hold no escapes, numbers keep their text, objects are plain lists of pairs.
//! Building it costs a fraction of a `serde_json::Value` (no hash map per object, no copied
//! keys); the typed callback is read from it, and the raw bytes stay with the event for views.
//!
//! A hand-written parser ([`direct`]) reads well-formed bodies, the usual case, in one pass
//! without serde's visitor machinery or a copy per number; anything it does not take is read
//! again by serde_json, so every error, and every case it leaves aside, is serde_json's.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

mod direct;

/// The key serde_json uses to hand a number over as its text (its `arbitrary_precision`
/// feature, on in this crate so that numbers are shown exactly as sent).
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Elements reserved up front at most, whatever a sequence claims.
const MAX_PREALLOCATED: usize = 64;

/// One JSON value, borrowing from the body it was read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// A number exactly as written.
    Number(Cow<'a, str>),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// An object's members in the order written; a repeated key is kept each time (lookups see
/// the last value, as `serde_json::Value` would).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object<'a>(pub Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Json<'a> {
    /// Parses `bytes`: the same tree, errors and recursion limit as serde_json's parser.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        match direct::parse(bytes) {
            Some(json) => Ok(json),
            None => serde_json::from_slice(bytes),
        }
    }

    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Self::Object(object) => Some(object),
            _ => None,
        }
    }

    /// The JSON type's name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "boolean",
            Self::Number(_) => "number",
            Self::String(_) => "string",
            Self::Array(_) => "array",
            Self::Object(_) => "object",
        }
    }
}

impl<'a> Object<'a> {
    /// The value of the last member named exactly `key`.
    pub fn get_exact(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(Cow::Owned(v.to_string())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Json::Number(Cow::Owned(v.to_string())))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v.to_string())))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Json::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOCATED));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(Text(first)) = map.next_key()? else {
            return Ok(Json::Object(Object::default()));
        };
        if first == NUMBER_TOKEN {
            let Text(number) = map.next_value()?;
            return Ok(Json::Number(number));
        }
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8).min(MAX_PREALLOCATED));
        members.push((first, map.next_value()?));
        while let Some(Text(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(Object(members)))
    }
}

/// A key or number text, borrowed from the body when it holds no escapes (serde's own
/// `Cow<str>` always copies).
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_keeps_numbers_exact() {
        let body = br#"{"RoomId":"r\u00e9","Big":123456789012345678901234567890,"F":1.50,"L":[1,"a",null,true,{}]}"#;
        let json = Json::parse(body).expect("valid");
        let object = json.as_object().expect("object");
        assert!(matches!(object.0[0].0, Cow::Borrowed("RoomId")));
        assert_eq!(object.get_exact("RoomId"), Some(&Json::String("ré".into())));
        assert_eq!(
            object.get_exact("Big"),
            Some(&Json::Number("123456789012345678901234567890".into()))
        );
        assert_eq!(object.get_exact("F"), Some(&Json::Number("1.50".into())));
        let Some(Json::Array(items)) = object.get_exact("L") else {
            panic!("array expected");
        };
        assert_eq!(items.len(), 5);
        assert_eq!(items[4], Json::Object(Object::default()));
    }

    #[test]
    fn last_repeated_key_wins_like_value() {
        let json = Json::parse(br#"{"A":1,"A":2}"#).expect("valid");
        let object = json.as_object().expect("object");
        assert_eq!(object.get_exact("A"), Some(&Json::Number("2".into())));
    }

    #[test]
    fn errors_are_serde_json_errors() {
        let error = Json::parse(b"{\"a\":").expect_err("truncated");
        let value_error = serde_json::from_slice::<serde_json::Value>(b"{\"a\":").expect_err("x");
        assert_eq!(error.to_string(), value_error.to_string());
    }
}
