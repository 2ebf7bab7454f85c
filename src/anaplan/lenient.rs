//! The one lenient reader behind every field of [`super::model`].
//!
//! Anaplan sends ids as strings and sometimes as numbers, numbers as strings, booleans as
//! `"true"`, and leaves out or nulls what is empty. A field read with
//! `#[serde(deserialize_with = "lenient")]` takes any of these; what it cannot read leaves the
//! field at its default, as a missing field does, so an odd value never fails a whole answer.

use serde::Deserialize;
use serde::de::Deserializer;
use serde_json::Value;

/// Reads a field from any JSON value ([`Lenient::from_json`]); a value it cannot read leaves
/// the field at its default.
pub(crate) fn lenient<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<T, D::Error> {
    Ok(T::from_json(Value::deserialize(d)?).unwrap_or_default())
}

/// A field type read leniently. Texts accept numbers and booleans, numbers and booleans accept
/// texts; anything but a list is an empty list.
pub(crate) trait Lenient: Default {
    /// The field's value, or `None` when `v` cannot be read as one.
    fn from_json(v: Value) -> Option<Self>;
}

/// An item of a list field: `None` leaves it out of the list.
pub(crate) trait ListItem: Sized {
    /// The item read from `v`.
    fn item(v: Value) -> Option<Self>;
}

impl Lenient for String {
    fn from_json(v: Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl Lenient for u64 {
    fn from_json(v: Value) -> Option<Self> {
        match v {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

impl Lenient for i64 {
    fn from_json(v: Value) -> Option<Self> {
        match v {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

impl Lenient for f64 {
    fn from_json(v: Value) -> Option<Self> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

impl Lenient for bool {
    fn from_json(v: Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(b),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Optional fields: a value that cannot be read is `None`, like a missing one.
impl<T: Lenient> Lenient for Option<T> {
    fn from_json(v: Value) -> Option<Self> {
        Some(T::from_json(v))
    }
}

impl<T: ListItem> Lenient for Vec<T> {
    fn from_json(v: Value) -> Option<Self> {
        let Value::Array(items) = v else { return None };
        Some(items.into_iter().filter_map(T::item).collect())
    }
}

/// Texts in a list keep their positions (they line up with columns): an unreadable one is "".
impl ListItem for String {
    fn item(v: Value) -> Option<Self> {
        Some(String::from_json(v).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An object in a list: kept when it reads, left out when not.
    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Item {
        id: u64,
    }

    impl ListItem for Item {
        fn item(v: Value) -> Option<Self> {
            serde_json::from_value(v).ok()
        }
    }

    /// One field of each lenient type.
    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Fields {
        #[serde(deserialize_with = "lenient")]
        text: String,
        #[serde(deserialize_with = "lenient")]
        maybe_text: Option<String>,
        #[serde(deserialize_with = "lenient")]
        count: Option<u64>,
        #[serde(deserialize_with = "lenient")]
        time: Option<i64>,
        #[serde(deserialize_with = "lenient")]
        fraction: Option<f64>,
        #[serde(deserialize_with = "lenient")]
        flag: Option<bool>,
        #[serde(deserialize_with = "lenient")]
        texts: Vec<String>,
        #[serde(deserialize_with = "lenient")]
        items: Vec<Item>,
    }

    #[test]
    fn every_lenient_form() {
        let read = |json: Value| serde_json::from_value::<Fields>(json).unwrap();
        // (the answer, the fields read from it; the rest at their defaults)
        let table: Vec<(Value, Fields)> = vec![
            // Missing or null: the default.
            (json!({}), Fields::default()),
            (
                json!({"text": null, "maybe_text": null, "count": null, "texts": null}),
                Fields::default(),
            ),
            // Texts: a string, a number, a boolean; not an object.
            (
                json!({"text": "116"}),
                Fields {
                    text: "116".into(),
                    ..Fields::default()
                },
            ),
            (
                json!({"text": 116}),
                Fields {
                    text: "116".into(),
                    ..Fields::default()
                },
            ),
            (
                json!({"text": true}),
                Fields {
                    text: "true".into(),
                    ..Fields::default()
                },
            ),
            (json!({"text": {"x": 1}}), Fields::default()),
            (
                json!({"maybe_text": 7}),
                Fields {
                    maybe_text: Some("7".into()),
                    ..Fields::default()
                },
            ),
            (json!({"maybe_text": [7]}), Fields::default()),
            // Counts: a number, a whole float, a string; not negative, not a word.
            (
                json!({"count": 7}),
                Fields {
                    count: Some(7),
                    ..Fields::default()
                },
            ),
            (
                json!({"count": 7.0}),
                Fields {
                    count: Some(7),
                    ..Fields::default()
                },
            ),
            (
                json!({"count": " 7 "}),
                Fields {
                    count: Some(7),
                    ..Fields::default()
                },
            ),
            (json!({"count": -1}), Fields::default()),
            (json!({"count": "seven"}), Fields::default()),
            // Signed numbers and fractions, as numbers or strings.
            (
                json!({"time": "-5"}),
                Fields {
                    time: Some(-5),
                    ..Fields::default()
                },
            ),
            (
                json!({"time": 2.9}),
                Fields {
                    time: Some(2),
                    ..Fields::default()
                },
            ),
            (
                json!({"fraction": "0.5"}),
                Fields {
                    fraction: Some(0.5),
                    ..Fields::default()
                },
            ),
            (json!({"fraction": false}), Fields::default()),
            // Booleans: true/false, as booleans or strings in any case.
            (
                json!({"flag": "FALSE"}),
                Fields {
                    flag: Some(false),
                    ..Fields::default()
                },
            ),
            (
                json!({"flag": " true "}),
                Fields {
                    flag: Some(true),
                    ..Fields::default()
                },
            ),
            (json!({"flag": "yes"}), Fields::default()),
            (json!({"flag": 1}), Fields::default()),
            // Lists: texts keep their places; objects that do not read are left out.
            (
                json!({"texts": ["A", 2, null]}),
                Fields {
                    texts: vec!["A".into(), "2".into(), String::new()],
                    ..Fields::default()
                },
            ),
            (json!({"texts": "A"}), Fields::default()),
            (
                json!({"items": [{"id": 1}, "junk", {"id": "x"}, {"id": 2}]}),
                Fields {
                    items: vec![Item { id: 1 }, Item { id: 2 }],
                    ..Fields::default()
                },
            ),
            (json!({"items": {"id": 1}}), Fields::default()),
        ];
        for (json, expected) in table {
            assert_eq!(read(json.clone()), expected, "{json}");
        }
    }
}
