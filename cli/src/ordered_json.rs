//! JSON whose objects keep the order their keys were added in, for output that must look like
//! Docker's (`docker inspect` prints fields in its structs' order, not sorted). serde_json's own
//! `Value` sorts keys (the workspace does not enable `preserve_order`: image configs hash as written).
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// A JSON value with ordered objects.
#[derive(Debug, Clone)]
pub enum Json {
    Value(Value),
    Object(Vec<(String, Json)>),
    Array(Vec<Json>),
}

impl Json {
    /// An ordered object from `(key, value)` pairs.
    pub fn object<K: Into<String>>(fields: Vec<(K, Json)>) -> Json {
        Json::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The same data as a plain `serde_json::Value` (for templates, which look keys up).
    pub fn to_value(&self) -> Value {
        match self {
            Json::Value(v) => v.clone(),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
        }
    }

    /// Docker's layout: four spaces of indent.
    pub fn to_pretty_string(&self) -> String {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Serializing into memory cannot fail: every key is a string.
        let _ = self.serialize(&mut serializer);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl<T: Into<Value>> From<T> for Json {
    fn from(value: T) -> Self {
        Json::Value(value.into())
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Value(v) => v.serialize(serializer),
            Json::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_in_order() {
        let j = Json::object(vec![("b", Json::from(1)), ("a", Json::from("x"))]);
        assert_eq!(
            j.to_pretty_string(),
            "{\n    \"b\": 1,\n    \"a\": \"x\"\n}"
        );
        assert_eq!(j.to_value()["a"], "x");
    }
}
