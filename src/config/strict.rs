//! Strict structural validation: walk a position-carrying YAML tree against the JSON Schema
//! generated from the Rust types, collect every finding at once, and produce the JSON value
//! that serde then turns into typed structs.
//!
//! Typing follows YAML 1.2's core schema, but a plain scalar that a YAML 1.1 reader (the
//! kubelet, client-go, cloud-init) would type differently is refused where the meaning
//! would silently change: `yes`/`on` for booleans, `0755` for integers, unquoted
//! numbers/booleans/`~` for strings.

use serde_json::{Map, Value};

use super::yaml::{Kind, Node, Pos};

/// One structural finding, positioned.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub pos: Pos,
    pub path: String,
    pub message: String,
}

pub struct Walker<'s> {
    root_schema: &'s Value,
    pub findings: Vec<Finding>,
}

impl<'s> Walker<'s> {
    pub fn new(root_schema: &'s Value) -> Self {
        Walker { root_schema, findings: vec![] }
    }

    fn report(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        self.findings.push(Finding { pos, path: path.to_string(), message: message.into() });
    }

    fn resolve(&self, schema: &'s Value) -> &'s Value {
        let mut s = schema;
        for _ in 0..16 {
            match s.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let name = r.trim_start_matches("#/$defs/");
                    match self.root_schema.get("$defs").and_then(|d| d.get(name)) {
                        Some(t) => s = t,
                        None => return s,
                    }
                }
                None => return s,
            }
        }
        s
    }

    /// Checks `node` against `schema`; returns the JSON value (None when it is unusable).
    pub fn check(&mut self, node: &Node, schema: &'s Value, path: &str) -> Option<Value> {
        if schema == &Value::Bool(true) || schema.as_object().is_some_and(|o| o.is_empty()) {
            return Some(core_value(node));
        }
        if schema.get("$ref").and_then(Value::as_str) == Some("#/$defs/GoDuration") {
            return self.check_duration(node, path);
        }
        let schema = self.resolve(schema);
        if let Some(branches) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
            return self.check_union(node, branches, path);
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            return self.check_enum(node, allowed, path);
        }
        if let Some(c) = schema.get("const") {
            return self.check_enum(node, std::slice::from_ref(c), path);
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Some(core_value(node)),
        };
        if is_null(node) {
            if types.contains(&"null") {
                return Some(Value::Null);
            }
            self.report(node.pos, path, "is empty (null); give it a value or remove the key to use the default");
            return None;
        }
        let ty = types.iter().copied().find(|t| *t != "null").unwrap_or("null");
        match ty {
            "object" => self.check_object(node, schema, path),
            "array" => self.check_array(node, schema, path),
            "string" => self.check_string(node, path),
            "boolean" => self.check_bool(node, path),
            "integer" => self.check_integer(node, schema, path),
            "number" => self.check_number(node, path),
            _ => Some(core_value(node)),
        }
    }

    fn check_object(&mut self, node: &Node, schema: &'s Value, path: &str) -> Option<Value> {
        let Kind::Map(entries) = &node.kind else {
            self.report(node.pos, path, format!("expected a mapping (key: value), found {}", node.describe()));
            return None;
        };
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let mut out = Map::new();
        let mut ok = true;
        for (key, value) in entries {
            let child_path = join(path, &key.name);
            let sub = match props.and_then(|p| p.get(&key.name)) {
                Some(s) => s,
                None => match additional {
                    Some(Value::Bool(false)) | None if props.is_some() => {
                        let known: Vec<&str> =
                            props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                        self.report(key.pos, &child_path, unknown_key_message(&key.name, &known));
                        ok = false;
                        continue;
                    }
                    Some(s) if s.is_object() || s.is_boolean() => s,
                    _ => &Value::Bool(true),
                },
            };
            match self.check(value, sub, &child_path) {
                Some(v) => {
                    out.insert(key.name.clone(), v);
                }
                None => ok = false,
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for r in required.iter().filter_map(Value::as_str) {
                if !entries.iter().any(|(k, _)| k.name == r) {
                    self.report(node.pos, &join(path, r), "is required but missing");
                    ok = false;
                }
            }
        }
        ok.then_some(Value::Object(out))
    }

    fn check_array(&mut self, node: &Node, schema: &'s Value, path: &str) -> Option<Value> {
        let Kind::Seq(items) = &node.kind else {
            self.report(node.pos, path, format!("expected a list, found {}", node.describe()));
            return None;
        };
        let item_schema = schema.get("items").unwrap_or(&Value::Bool(true));
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.check(item, item_schema, &join(path, &i.to_string())) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(Value::Array(out))
    }

    fn scalar<'n>(&mut self, node: &'n Node, path: &str, expected: &str) -> Option<(&'n str, bool)> {
        match &node.kind {
            Kind::Scalar { value, plain } => Some((value.as_str(), *plain)),
            _ => {
                self.report(node.pos, path, format!("expected {expected}, found {}", node.describe()));
                None
            }
        }
    }

    fn check_string(&mut self, node: &Node, path: &str) -> Option<Value> {
        let (v, plain) = self.scalar(node, path, "a string")?;
        if plain && let Some(what) = yaml11_non_string(v) {
            let message = if is_secret_path(path) {
                format!("the value (a secret, not shown) is read as {what} by YAML; quote it if you mean the text")
            } else {
                format!("`{v}` is read as {what} by YAML; quote it (\"{v}\") if you mean the text")
            };
            self.report(node.pos, path, message);
            return None;
        }
        Some(Value::String(v.to_string()))
    }

    fn check_bool(&mut self, node: &Node, path: &str) -> Option<Value> {
        let (v, plain) = self.scalar(node, path, "true or false")?;
        match (v, plain) {
            ("true" | "True" | "TRUE", true) => Some(Value::Bool(true)),
            ("false" | "False" | "FALSE", true) => Some(Value::Bool(false)),
            (_, true) if is_yaml11_bool(v) => {
                self.report(
                    node.pos,
                    path,
                    format!("`{v}` is a YAML 1.1 boolean that YAML 1.2 reads as text; write true or false"),
                );
                None
            }
            _ => {
                self.report(node.pos, path, format!("expected true or false, found {}", redact(path, v)));
                None
            }
        }
    }

    fn check_integer(&mut self, node: &Node, schema: &Value, path: &str) -> Option<Value> {
        let (v, plain) = self.scalar(node, path, "an integer")?;
        if !plain {
            self.report(
                node.pos,
                path,
                format!("expected an integer, found the quoted string \"{v}\"; remove the quotes"),
            );
            return None;
        }
        let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
        if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
            self.report(
                node.pos,
                path,
                format!("`{v}` has a leading zero, which YAML 1.1 reads as octal; write the decimal number without it"),
            );
            return None;
        }
        let Ok(n) = v.parse::<i64>() else {
            self.report(node.pos, path, format!("expected an integer, found {}", redact(path, v)));
            return None;
        };
        let min = schema.get("minimum").and_then(Value::as_i64);
        let max = schema.get("maximum").and_then(Value::as_i64);
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            self.report(
                node.pos,
                path,
                format!(
                    "{n} is out of range ({}..={})",
                    min.map_or("".into(), |m| m.to_string()),
                    max.map_or("".into(), |m| m.to_string())
                ),
            );
            return None;
        }
        Some(Value::from(n))
    }

    fn check_number(&mut self, node: &Node, path: &str) -> Option<Value> {
        let (v, plain) = self.scalar(node, path, "a number")?;
        match v.parse::<f64>().ok().filter(|_| plain).and_then(serde_json::Number::from_f64) {
            Some(n) => Some(Value::Number(n)),
            None => {
                self.report(node.pos, path, format!("expected a number, found `{v}`"));
                None
            }
        }
    }

    fn check_duration(&mut self, node: &Node, path: &str) -> Option<Value> {
        let (v, _) = self.scalar(node, path, "a duration such as 4m0s")?;
        match super::duration::GoDuration::parse(v) {
            Ok(_) => Some(Value::String(v.to_string())),
            Err(e) => {
                self.report(node.pos, path, e);
                None
            }
        }
    }

    fn check_enum(&mut self, node: &Node, allowed: &[Value], path: &str) -> Option<Value> {
        let (v, _) = self.scalar(node, path, "one of the listed values")?;
        if allowed.iter().any(|a| a.as_str() == Some(v)) {
            return Some(Value::String(v.to_string()));
        }
        let names: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
        let hint = match closest(v, &names) {
            Some(c) => format!("; did you mean `{c}`?"),
            None => String::new(),
        };
        self.report(node.pos, path, format!("{} is not one of: {}{hint}", redact(path, v), names.join(", ")));
        None
    }

    fn check_union(&mut self, node: &Node, branches: &'s [Value], path: &str) -> Option<Value> {
        // Unit-variant enums: every branch is a `const`.
        let consts: Vec<Value> =
            branches.iter().map(|b| self.resolve(b)).filter_map(|b| b.get("const").cloned()).collect();
        if consts.len() == branches.len() {
            return self.check_enum(node, &consts, path);
        }
        if is_null(node) && branches.iter().any(|b| self.resolve(b).get("type").and_then(Value::as_str) == Some("null"))
        {
            return Some(Value::Null);
        }
        // Option<Struct>: the one non-null branch decides, with its findings.
        let non_null: Vec<&'s Value> =
            branches.iter().filter(|b| self.resolve(b).get("type").and_then(Value::as_str) != Some("null")).collect();
        if non_null.len() == 1 {
            return self.check(node, non_null[0], path);
        }
        for b in &non_null {
            let mut trial = Walker::new(self.root_schema);
            if let Some(v) = trial.check(node, b, path) {
                return Some(v);
            }
        }
        self.report(node.pos, path, "does not match any allowed form");
        None
    }
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() { seg.to_string() } else { format!("{path}.{seg}") }
}

fn is_null(node: &Node) -> bool {
    matches!(&node.kind, Kind::Scalar { value, plain: true } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
}

fn is_yaml11_bool(v: &str) -> bool {
    matches!(
        v,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF"
    )
}

/// What a YAML 1.1 or 1.2 reader would make of a plain scalar, when it is not a string.
fn yaml11_non_string(v: &str) -> Option<&'static str> {
    if matches!(v, "" | "~" | "null" | "Null" | "NULL") {
        return Some("null");
    }
    if is_yaml11_bool(v) || matches!(v, "true" | "True" | "TRUE" | "false" | "False" | "FALSE") {
        return Some("a boolean");
    }
    let body = v.strip_prefix(['-', '+']).unwrap_or(v).replace('_', "");
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        return Some("a number");
    }
    if body.starts_with("0x") && body.len() > 2 && body[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some("a number");
    }
    if body.starts_with("0o") && body.len() > 2 && body[2..].bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Some("a number");
    }
    if matches!(body.as_str(), ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        return Some("a number");
    }
    // Floats: digits with one dot and/or an exponent (1.33, .5, 1e3). IPs have several dots.
    let looks_float = body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E' || b == b'-' || b == b'+')
        && body.matches('.').count() <= 1
        && body.parse::<f64>().is_ok();
    if looks_float {
        return Some("a number");
    }
    // YAML 1.1 sexagesimal integers: 1:30 → 90.
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() > 1 && parts.iter().all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit())) {
        return Some("a base-60 number (YAML 1.1)");
    }
    None
}

/// Generic YAML 1.2 core typing, for free-form values (KubeletConfiguration passthrough).
pub fn core_value(node: &Node) -> Value {
    match &node.kind {
        Kind::Scalar { value, plain: false } => Value::String(value.clone()),
        Kind::Scalar { value, plain: true } => match value.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Value::Null,
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            v => v
                .parse::<i64>()
                .map(Value::from)
                .ok()
                .or_else(|| v.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number))
                .unwrap_or_else(|| Value::String(v.to_string())),
        },
        Kind::Seq(items) => Value::Array(items.iter().map(core_value).collect()),
        Kind::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), core_value(v))).collect()),
    }
}

fn unknown_key_message(key: &str, known: &[&str]) -> String {
    match closest(key, known) {
        Some(c) => format!("unknown key `{key}`; did you mean `{c}`?"),
        None if known.len() <= 12 => format!("unknown key `{key}`; valid keys here: {}", known.join(", ")),
        None => format!("unknown key `{key}`; see `kubeboot config schema` for valid keys"),
    }
}

/// The nearest candidate by edit distance, if it is plausibly a typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lw = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lw, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Key names whose values are secrets: never quoted in a message.
pub fn is_secret_path(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    let parent = path.rsplit('.').nth(1).unwrap_or("");
    matches!(last, "token" | "tlsBootstrapToken" | "certificateKey" | "key" | "keyFile")
        || parent == "headers"
        || path.contains(".headers.")
}

fn redact(path: &str, v: &str) -> String {
    if is_secret_path(path) { "the value (a secret, not shown)".to_string() } else { format!("`{v}`") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_traps_are_recognised() {
        for v in ["yes", "on", "NO", "1.33", "0755", "6443", "~", "1:30", "0x1F", "1e3"] {
            assert!(yaml11_non_string(v).is_some(), "{v}");
        }
        for v in ["v1.33.5", "10.96.0.0/12", "192.168.1.10", "cp-1", "unix:///run/x.sock", "abcdef.0123456789abcdef"] {
            assert!(yaml11_non_string(v).is_none(), "{v}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("advertiseAdress", &["advertiseAddress", "bindPort"]), Some("advertiseAddress"));
        assert_eq!(closest("zzz", &["advertiseAddress", "bindPort"]), None);
    }
}
