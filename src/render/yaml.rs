//! YAML as kubeadm writes it: Go marshals to JSON first, so every map's keys come out sorted
//! alphabetically, lists sit at their parent's indentation, and long strings stay on one line.
//! Strings are quoted exactly when go-yaml v2 (sigs.k8s.io/yaml's encoder) quotes them: when
//! YAML 1.1 would read them as something else (`on`, `2024-01-02`, `1_000`, `0x1F`) — but not
//! dotted addresses like `10.96.0.10`, which its float rule does not match.

use anyhow::{Context, Result};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::Value;

/// Serializes `value` with every mapping's keys in alphabetical order.
pub fn to_yaml<T: Serialize>(value: &T) -> Result<String> {
    let sorted = sort_keys(serde_json::to_value(value).context("serializing to JSON")?);
    // YAML 1.2 rules for the serializer's own quoting (narrower than go-yaml's), plus GoYaml
    // below forcing quotes where go-yaml v2 resolves a string to another type.
    // The serializer treats a wrapper on a mapping key as transparent, so a document with a
    // key go-yaml would quote (`y`, `on`, ...) is written with YAML 1.1 rules throughout: such
    // keys stay quoted, at the price of quoting dotted addresses too.
    if any_key(&sorted, &go_yaml_v2_quotes) {
        let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
        return serde_saphyr::to_string_with_options(&sorted, options).context("serializing to YAML");
    }
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false, yaml_12: true, no_lang_directive: true };
    serde_saphyr::to_string_with_options(&GoYaml(&sorted), options).context("serializing to YAML")
}

fn any_key(v: &Value, pred: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(k, v)| pred(k) || any_key(v, pred)),
        Value::Array(items) => items.iter().any(|v| any_key(v, pred)),
        _ => false,
    }
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

/// A JSON value whose strings are double-quoted where go-yaml v2 would quote them.
struct GoYaml<'a>(&'a Value);

impl Serialize for GoYaml<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, &GoYaml(v))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&GoYaml(v))?;
                }
                seq.end()
            }
            Value::String(text) if go_yaml_v2_quotes(text) => serde_saphyr::DoubleQuoted(text.as_str()).serialize(s),
            other => other.serialize(s),
        }
    }
}

/// Whether go-yaml v2's resolver reads `s`, unquoted, as anything but a string (its `resolve`
/// table, Go's integer and float syntax, base-60 floats, timestamps).
fn go_yaml_v2_quotes(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True",
        "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".nan", ".NaN", ".NAN", ".inf",
        ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
    ];
    SPECIAL.contains(&s) || is_go_int(s) || is_yaml_float(s) || is_base60_float(s) || is_timestamp(s)
}

/// `strconv.ParseInt(s, 0, 64)` syntax: sign, then decimal, `0x`/`0o`/`0b`/leading-0 octal,
/// underscores between digits.
fn is_go_int(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = match unsigned.get(..2) {
        Some("0x" | "0X") => (&unsigned[2..], 16),
        Some("0o" | "0O") => (&unsigned[2..], 8),
        Some("0b" | "0B") => (&unsigned[2..], 2),
        _ => (unsigned, 10),
    };
    let digits = digits.trim_start_matches('_');
    !digits.is_empty()
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c == '_' || c.is_digit(radix))
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((whole, frac)) => digits(whole) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// go-yaml v2's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    head.starts_with(|c: char| c.is_ascii_digit())
        && head.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !rest.is_empty()
        && rest.iter().all(|p| match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        })
        && frac.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// A YAML timestamp as go-yaml v2 parses it: `2006-1-2`, optionally followed by `T`, `t` or
/// a space and a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let run = |from: usize| b[from.min(b.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
    if run(0) != 4 || b.get(4) != Some(&b'-') {
        return false;
    }
    let month = run(5);
    if !(1..=2).contains(&month) || b.get(5 + month) != Some(&b'-') {
        return false;
    }
    let day_at = 6 + month;
    let day = run(day_at);
    if !(1..=2).contains(&day) {
        return false;
    }
    match b.get(day_at + day) {
        None => true,
        Some(b'T' | b't' | b' ') => run(day_at + day + 1) > 0,
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_where_go_yaml_v2_quotes_them() {
        // Quoted by go-yaml v2 (sigs.k8s.io/yaml.Marshal of a map[string]string).
        for s in [
            "",
            "on",
            "Off",
            "yes",
            "n",
            "~",
            "null",
            "true",
            "10",
            "-3",
            "0x1F",
            "0o17",
            "1_000",
            "1.5",
            ".5",
            "1e3",
            "6.",
            "1:20",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "<<",
            ".inf",
        ] {
            assert_eq!(to_yaml(&serde_json::json!({"k": s})).unwrap(), format!("k: \"{s}\"\n"), "{s:?}");
        }
        // Plain in go-yaml v2: addresses, versions, durations, CIDRs, paths.
        for s in [
            "10.96.0.10",
            "127.0.0.1",
            "0.0.0.0",
            "1.2.3",
            "v1.33.5",
            "0s",
            "10.244.0.0/16",
            "/etc/kubernetes",
            "3.10.1",
            "fd00::1",
            "cluster.local",
        ] {
            assert_eq!(to_yaml(&serde_json::json!({"k": s})).unwrap(), format!("k: {s}\n"), "{s:?}");
        }
    }

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
