//! YAML as kubeadm writes it: Go marshals to JSON first, so every map's keys come out sorted
//! alphabetically, lists sit at their parent's indentation, and long strings stay on one line.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

/// Serializes `value` with every mapping's keys in alphabetical order.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
    let sorted = sort_keys(serde_json::to_value(value).context("serializing to JSON")?);
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(&sorted, options).context("serializing to YAML")
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_lists_compact_long_strings_unfolded() {
        let long = "x".repeat(200);
        let v = serde_json::json!({"z": 1, "a": {"y": [{"k": "v", "b": true}], "c": {}}, "s": long, "on": "on"});
        let y = to_yaml(&v).unwrap();
        assert_eq!(
            y,
            format!("a:\n  c: {{}}\n  \"y\":\n  - b: true\n    k: v\n\"on\": \"on\"\ns: {long}\nz: 1\n"),
            "{y}"
        );
    }
}
