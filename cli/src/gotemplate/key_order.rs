//! `{{json .Config}}` in Docker's key order. Templates look fields up in plain `serde_json`
//! values, whose objects sort their keys; Docker prints a struct's fields in their declared
//! order. The ordered document an `inspect` renders knows that order: every object's keys are
//! noted by their set (objects with the same keys are the same Go struct), and `json` writes an
//! object whose key set was noted in the noted order.
use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value;

use crate::ordered_json::Json;

type Orders = HashMap<Vec<String>, Vec<String>>;

thread_local! {
    static ORDERS: RefCell<Orders> = RefCell::new(HashMap::new());
}

/// Run `f` with the key orders of `document` in force for `json`.
pub(super) fn with_orders_of<T>(document: &Json, f: impl FnOnce() -> T) -> T {
    let mut orders = Orders::new();
    note(document, &mut orders);
    let previous = ORDERS.with(|o| std::mem::replace(&mut *o.borrow_mut(), orders));
    let result = f();
    ORDERS.with(|o| *o.borrow_mut() = previous);
    result
}

fn note(json: &Json, orders: &mut Orders) {
    match json {
        Json::Object(fields) => {
            let ordered: Vec<String> = fields.iter().map(|(k, _)| k.clone()).collect();
            let mut set = ordered.clone();
            set.sort();
            set.dedup();
            if set.len() == ordered.len() {
                orders.entry(set).or_insert(ordered);
            }
            for (_, v) in fields {
                note(v, orders);
            }
        }
        Json::Array(items) => items.iter().for_each(|i| note(i, orders)),
        Json::Value(_) => {}
    }
}

/// `value` as JSON text, its objects in the noted orders (sorted where none was noted).
pub(super) fn to_string(value: &Value) -> Result<String, String> {
    ORDERS.with(|o| serde_json::to_string(&ordered(value, &o.borrow())).map_err(|e| e.to_string()))
}

/// Docker's structs that reach a document as plain values (an image's health check): their
/// fields' order.
const KNOWN_STRUCTS: &[&[&str]] = &[&[
    "Test",
    "Interval",
    "Timeout",
    "StartPeriod",
    "StartInterval",
    "Retries",
]];

/// `keys` (sorted) in the order of a known struct they all belong to; else as they are.
fn known_order(mut keys: Vec<String>) -> Vec<String> {
    let fields = KNOWN_STRUCTS
        .iter()
        .find(|fields| keys.iter().all(|k| fields.contains(&k.as_str())));
    if let Some(fields) = fields {
        keys.sort_by_key(|k| fields.iter().position(|f| f == k));
    }
    keys
}

fn ordered(value: &Value, orders: &Orders) -> Json {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let order = orders
                .get(&keys)
                .cloned()
                .unwrap_or_else(|| known_order(keys));
            Json::Object(
                order
                    .into_iter()
                    .filter_map(|k| map.get(&k).map(|v| (k.clone(), ordered(v, orders))))
                    .collect(),
            )
        }
        Value::Array(items) => Json::Array(items.iter().map(|i| ordered(i, orders)).collect()),
        other => Json::Value(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_the_documents_order() {
        let doc = Json::object(vec![(
            "Config",
            Json::object(vec![("Tty", Json::from(false)), ("Cmd", Json::from("x"))]),
        )]);
        let value = doc.to_value();
        let text = with_orders_of(&doc, || to_string(&value["Config"])).unwrap();
        assert_eq!(text, r#"{"Tty":false,"Cmd":"x"}"#);
        // Unknown key sets: sorted, as before.
        let other = serde_json::json!({"b": 1, "a": 2});
        assert_eq!(to_string(&other).unwrap(), r#"{"a":2,"b":1}"#);
        let check = serde_json::json!({"Retries": 2, "Test": ["NONE"], "Interval": 1});
        assert_eq!(
            to_string(&check).unwrap(),
            r#"{"Test":["NONE"],"Interval":1,"Retries":2}"#
        );
    }
}
