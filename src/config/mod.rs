//! User-data bytes → one typed, defaulted, validated `NodeConfig`.
//!
//! Accepted inputs: the native `kubeboot.io/v1alpha1` NodeConfig, kubeadm's own
//! Init/Cluster/JoinConfiguration documents (v1beta4 and v1beta3), and `#cloud-config`
//! with a `kubeboot:` key. Nothing touches the host until this step has passed.

pub mod duration;
pub mod follow;
pub mod kubeadm;
pub mod resolve;
pub mod strict;
pub mod types;
pub mod validate;
pub mod versions;
pub mod yaml;

pub use resolve::{HostIdentity, Resolved};
pub use types::*;

pub mod diag;
pub use diag::{Diagnostic, Diagnostics};

use std::path::Path;

/// Largest user-data accepted, checked before parsing.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Parses and validates user-data bytes; `name` is what error messages call the input.
/// Every problem is reported at once; a failure means nothing may touch the host.
pub fn load(name: &str, bytes: &[u8]) -> Result<NodeConfig, Diagnostics> {
    let text = decode(name, bytes)?;
    let docs = yaml::parse(text).map_err(|e| one(name, e.pos.line, e.pos.column, "", e.message))?;
    let ds = |mut findings: Findings| {
        findings.sort_by_key(|(pos, _, _)| (pos.line, pos.column));
        Diagnostics(
            findings
                .into_iter()
                .map(|(pos, path, message)| Diagnostic {
                    file: name.into(),
                    line: pos.line,
                    column: pos.column,
                    path,
                    message,
                })
                .collect(),
        )
    };
    let Some(first) = docs.first() else {
        return Err(one(
            name,
            1,
            1,
            "",
            "user-data is empty; expected a NodeConfig, kubeadm configuration or #cloud-config",
        ));
    };
    if text.starts_with("#cloud-config") {
        let Some(body) = first.get("kubeboot") else {
            return Err(one(
                name,
                1,
                1,
                "kubeboot",
                "this #cloud-config has no `kubeboot:` key holding the NodeConfig",
            ));
        };
        return load_native(body, "kubeboot").map_err(ds);
    }
    let api_version = first.get("apiVersion").and_then(yaml::Node::as_str).unwrap_or_default();
    if api_version.starts_with("kubeadm.k8s.io/") || docs.len() > 1 {
        return kubeadm::import(&docs).map_err(ds);
    }
    if docs.len() > 1 {
        return Err(one(name, docs[1].pos.line, docs[1].pos.column, "", "a NodeConfig is a single YAML document"));
    }
    load_native(first, "").map_err(ds)
}

type Findings = Vec<(yaml::Pos, String, String)>;

/// A native NodeConfig document (or the `kubeboot:` value of a #cloud-config) → NodeConfig.
fn load_native(doc: &yaml::Node, prefix: &str) -> Result<NodeConfig, Findings> {
    let value = check_against_schema::<NodeConfig>(doc, prefix)?;
    let written = value.get("cluster").cloned();
    let mut cfg: NodeConfig =
        serde_json::from_value(value).map_err(|e| vec![(doc.pos, prefix.to_string(), e.to_string())])?;
    cfg.written_cluster = WrittenCluster(written);
    let problems = validate::validate(&cfg);
    if problems.is_empty() {
        return Ok(cfg);
    }
    Err(problems.into_iter().map(|p| (doc.locate(&p.path), prefixed(prefix, &p.path), p.message)).collect())
}

/// Structural check of one document against the JSON Schema of `T`.
pub(crate) fn check_against_schema<T: schemars::JsonSchema>(
    doc: &yaml::Node,
    prefix: &str,
) -> Result<serde_json::Value, Findings> {
    let schema = schema_of::<T>();
    let mut walker = strict::Walker::new(schema);
    let value = walker.check(doc, schema, "");
    match value {
        Some(v) if walker.findings.is_empty() => Ok(v),
        _ => Err(walker.findings.into_iter().map(|f| (f.pos, prefixed(prefix, &f.path), f.message)).collect()),
    }
}

/// Generating a schema costs more than validating a document, so each type's is built once.
fn schema_of<T: schemars::JsonSchema>() -> &'static serde_json::Value {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static serde_json::Value>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    cache.entry(std::any::type_name::<T>()).or_insert_with(|| Box::leak(Box::new(schemars::schema_for!(T).to_value())))
}

fn prefixed(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// Byte-level checks before any parsing: size, encoding, byte-order mark.
fn decode<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostics> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(one(
            name,
            0,
            0,
            "",
            format!("{} bytes is larger than the {MAX_INPUT_BYTES}-byte limit for user-data", bytes.len()),
        ));
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(one(name, 1, 1, "", "starts with a UTF-8 byte-order mark; save the file without a BOM"));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let good = &bytes[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = good.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        one(name, line, col, "", "invalid UTF-8 byte sequence; user-data must be UTF-8 text")
    })?;
    if text.trim().is_empty() {
        return Err(one(
            name,
            1,
            1,
            "",
            "user-data is empty; expected a NodeConfig, kubeadm configuration or #cloud-config",
        ));
    }
    // YAML forbids tabs in indentation; say so plainly instead of a parser error.
    if let Some((i, line)) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.chars().take_while(|c| c.is_whitespace()).any(|c| c == '\t') && !l.trim().is_empty())
    {
        let col = line.find('\t').unwrap_or(0) + 1;
        return Err(one(name, i + 1, col, "", "tab used for indentation; YAML indents with spaces only"));
    }
    Ok(text)
}

/// Reads a user-data file (size-capped) and loads it.
pub fn load_file(path: &Path) -> Result<NodeConfig, Diagnostics> {
    let name = path.display().to_string();
    let bytes = read_capped(path).map_err(|e| one(&name, 0, 0, "", e))?;
    load(&name, &bytes)
}

pub fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut buf = Vec::new();
    f.take(MAX_INPUT_BYTES as u64 + 1).read_to_end(&mut buf).map_err(|e| format!("cannot read: {e}"))?;
    if buf.len() > MAX_INPUT_BYTES {
        return Err(format!("larger than {MAX_INPUT_BYTES} bytes; user-data must be at most 1 MiB"));
    }
    Ok(buf)
}

fn one(file: &str, line: usize, column: usize, path: &str, message: impl Into<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic { file: file.into(), line, column, path: path.into(), message: message.into() }])
}

/// A NodeConfig for `role` with every default filled in (`kubeboot config defaults`).
pub fn defaults(role: Role) -> NodeConfig {
    NodeConfig {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        role,
        node: NodeSpec::default(),
        cluster: ClusterSpec {
            etcd: Etcd { local: Some(LocalEtcd::default()), external: None },
            ..ClusterSpec::default()
        },
        bootstrap_tokens: if role == Role::ControlPlane { vec![BootstrapToken::default()] } else { vec![] },
        upload_certs: false,
        certificate_key: None,
        join: role.is_join().then(JoinSpec::default),
        kubelet_configuration: None,
        kube_proxy_configuration: None,
        preflight: PreflightSpec::default(),
        report: None,
        timeouts: Timeouts::default(),
        skip_phases: vec![],
        certificate_renewal: Default::default(),
        written_cluster: WrittenCluster::default(),
        patches: None,
    }
}

/// The JSON Schema of NodeConfig, as committed in schema/nodeconfig.json for editors.
pub fn schema_json() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(NodeConfig)).expect("schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde's per-field defaults and `Default` must agree, or a defaulted section would differ
    /// from an omitted one.
    #[test]
    fn serde_defaults_equal_default_impls() {
        let empty = serde_json::json!({});
        assert_eq!(serde_json::from_value::<NodeSpec>(empty.clone()).unwrap(), NodeSpec::default());
        assert_eq!(serde_json::from_value::<ClusterSpec>(empty.clone()).unwrap(), ClusterSpec::default());
        assert_eq!(serde_json::from_value::<Timeouts>(empty.clone()).unwrap(), Timeouts::default());
        assert_eq!(serde_json::from_value::<LocalEtcd>(empty.clone()).unwrap(), LocalEtcd::default());
        assert_eq!(serde_json::from_value::<BootstrapToken>(empty).unwrap(), BootstrapToken::default());
    }

    #[test]
    fn defaults_round_trip_through_the_loader() {
        for role in [Role::ControlPlane, Role::Worker] {
            let mut cfg = defaults(role);
            if role.is_join() {
                cfg.join = Some(JoinSpec {
                    api_server_endpoint: Some("10.0.0.1:6443".into()),
                    token: Some("abcdef.0123456789abcdef".into()),
                    unsafe_skip_ca_verification: true,
                    ..JoinSpec::default()
                });
            }
            let text = serde_saphyr::to_string(&cfg).unwrap();
            let back = load("defaults.yaml", text.as_bytes()).unwrap_or_else(|d| panic!("{d}\n{text}"));
            assert_eq!(back, cfg);
        }
    }
}
