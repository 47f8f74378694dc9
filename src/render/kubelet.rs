//! kubelet-start files (reference §5): `/var/lib/kubelet/config.yaml`, `kubeadm-flags.env`,
//! `instance-config.yaml` (NodeLocalCRISocket, default 1.34+) and the systemd drop-in that
//! ties them together.

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::yaml::to_yaml;
use crate::config::resolve::{KUBELET_DIR, MANIFESTS_DIR};
use crate::config::{Arg, Resolved, Role};
use crate::plan::File;
use crate::workflow::Ctx;

pub const CONFIG_PATH: &str = "/var/lib/kubelet/config.yaml";
pub const FLAGS_PATH: &str = "/var/lib/kubelet/kubeadm-flags.env";
pub const INSTANCE_CONFIG_PATH: &str = "/var/lib/kubelet/instance-config.yaml";
/// Admin drop-in location, so it works with or without the kubelet package's own copy.
pub const DROPIN_PATH: &str = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf";
/// kubeadm's environment contract with the kubelet unit (from the kubelet deb/rpm package).
pub const DROPIN: &str = include_str!("../../systemd/10-kubeadm.conf");
/// kubeadm writes the kubelet files 0644 into a 0700 directory.
pub const FILE_MODE: u32 = 0o644;
pub const KUBELET_DIR_MODE: u32 = 0o700;
/// What systemd-resolved writes; when present the kubelet must not use the stub resolver.
pub const RESOLVED_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// Host facts the kubelet files depend on.
#[derive(Debug, Clone, Default)]
pub struct KubeletFacts {
    /// Lower-cased OS host name; `--hostname-override` is written when the node name differs.
    pub hostname: String,
    /// systemd-resolved is in use (its resolv.conf exists).
    pub systemd_resolved: bool,
}

/// `config.yaml`: kubeadm's KubeletConfiguration (zero values spelt out as Go marshals them),
/// the user's KubeletConfiguration merged over it, then the instance config.
pub fn render_config(node: &Resolved, facts: &KubeletFacts) -> Result<String> {
    let mut config = kubeadm_defaults(node, facts);
    if let Some(user) = &node.cfg.kubelet_configuration {
        if !user.is_object() {
            bail!("kubeletConfiguration must be a mapping (a KubeletConfiguration document)");
        }
        warn_overrides(&config, user);
        merge(&mut config, user);
    }
    config["rotateCertificates"] = json!(true); // kubeadm forces client certificate rotation
    if node.gates.node_local_cri_socket {
        config["containerRuntimeEndpoint"] = json!(node.cri_socket);
    }
    to_yaml(&config)
}

fn kubeadm_defaults(node: &Resolved, facts: &KubeletFacts) -> Value {
    let mut c = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"cacheTTL": "0s", "enabled": true},
            "x509": {"clientCAFile": node.pki("ca.crt")},
        },
        "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s"}},
        "cgroupDriver": "systemd",
        "clusterDNS": [node.dns_service_ip().to_string()],
        "clusterDomain": node.cfg.cluster.networking.dns_domain,
        "containerRuntimeEndpoint": "",
        "cpuManagerReconcilePeriod": "0s",
        "evictionPressureTransitionPeriod": "0s",
        "fileCheckFrequency": "0s",
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "httpCheckFrequency": "0s",
        "imageMaximumGCAge": "0s",
        "imageMinimumGCAge": "0s",
        "logging": {
            "flushFrequency": 0,
            "options": {"json": {"infoBufferSize": "0"}, "text": {"infoBufferSize": "0"}},
            "verbosity": 0,
        },
        "memorySwap": {},
        "nodeStatusReportFrequency": "0s",
        "nodeStatusUpdateFrequency": "0s",
        "rotateCertificates": true,
        "runtimeRequestTimeout": "0s",
        "shutdownGracePeriod": "0s",
        "shutdownGracePeriodCriticalPods": "0s",
        "staticPodPath": MANIFESTS_DIR,
        "streamingConnectionIdleTimeout": "0s",
        "syncFrequency": "0s",
        "volumeStatsAggPeriod": "0s",
    });
    if node.version.at_least(32) {
        c["crashLoopBackOff"] = json!({});
    }
    if facts.systemd_resolved {
        c["resolvConf"] = json!(RESOLVED_RESOLV_CONF);
    }
    c
}

/// Fields kubeadm sets on purpose; a user value that differs is kept, with a warning (as kubeadm).
const KUBEADM_OPINIONS: &[&[&str]] = &[
    &["authentication", "anonymous", "enabled"],
    &["authentication", "webhook", "enabled"],
    &["authentication", "x509", "clientCAFile"],
    &["authorization", "mode"],
    &["clusterDNS"],
    &["clusterDomain"],
    &["healthzBindAddress"],
    &["healthzPort"],
    &["staticPodPath"],
];

fn warn_overrides(defaults: &Value, user: &Value) {
    for path in KUBEADM_OPINIONS {
        let get = |v: &Value| path.iter().try_fold(v.clone(), |v, k| v.get(k).cloned());
        if let (Some(d), Some(u)) = (get(defaults), get(user))
            && d != u
        {
            tracing::warn!(
                "kubeletConfiguration.{} is {u}, kubeadm would use {d}; keeping the user value",
                path.join(".")
            );
        }
    }
    if user.get("rotateCertificates") == Some(&json!(false)) {
        tracing::warn!("kubeletConfiguration.rotateCertificates=false is ignored: kubeadm always enables it");
    }
}

/// Deep merge: objects merge key by key, anything else in `over` replaces.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// `kubeadm-flags.env`: `KUBELET_KUBEADM_ARGS="<sorted flags>"` (Go `%q` quoting).
///
/// systemd expands `$KUBELET_KUBEADM_ARGS` unquoted, splitting it at whitespace: a value with a
/// space would become a second kubelet flag. Every flag is checked (`env_safe`) and the file is
/// refused rather than written with one that is not safe.
pub fn render_flags(node: &Resolved, facts: &KubeletFacts) -> Result<String> {
    let arg = |name: &str, value: String| Arg { name: name.into(), value };
    let mut defaults = Vec::new();
    if !node.gates.node_local_cri_socket {
        defaults.push(arg("container-runtime-endpoint", node.cri_socket.clone()));
    }
    defaults.push(arg("pod-infra-container-image", node.pause_image()));
    let labels = &node.cfg.node.labels;
    if !labels.is_empty() {
        let list: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        defaults.push(arg("node-labels", list.join(",")));
    }
    // Control-plane taints go through mark-control-plane; only workers register with them.
    if node.role() == Role::Worker {
        let taints: Vec<String> = node
            .taints()
            .iter()
            .map(|t| format!("{}={}:{}", t.key, t.value.as_deref().unwrap_or(""), t.effect.as_str()))
            .collect();
        if !taints.is_empty() {
            defaults.push(arg("register-with-taints", taints.join(",")));
        }
    }
    let extra = &node.cfg.node.kubelet_extra_args;
    let hostname = extra.iter().find(|a| a.name == "hostname-override").map(|a| a.value.as_str());
    if node.node_name != hostname.unwrap_or(&facts.hostname) {
        defaults.push(arg("hostname-override", node.node_name.clone()));
    }
    let flags = super::flags(defaults, extra);
    for f in &flags {
        if let Err(bad) = env_safe(f) {
            bail!(
                "refusing to write {FLAGS_PATH}: the kubelet flag `{}` contains {bad}, which systemd would split \
                 into another flag or mangle; fix the value in the user-data (node name, labels, taints or \
                 kubeletExtraArgs)",
                f.escape_debug()
            );
        }
    }
    Ok(format!("KUBELET_KUBEADM_ARGS={}\n", go_quote(&flags.join(" "))))
}

/// A kubelet flag is safe in kubeadm-flags.env when it has no whitespace, control character,
/// quote, backslash or `$`: `Err` names the first offending character.
pub fn env_safe(s: &str) -> Result<(), String> {
    match s.chars().find(|&c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '`' | '\\' | '$')) {
        None => Ok(()),
        Some(c) if c.is_whitespace() => Err(format!("whitespace ({})", c.escape_debug())),
        Some(c) if c.is_control() => Err(format!("a control character ({})", c.escape_debug())),
        Some(c) => Err(format!("`{c}`")),
    }
}

/// `instance-config.yaml` (1.34+ by default): the node-local part of the kubelet config.
pub fn render_instance_config(node: &Resolved) -> Option<String> {
    node.gates.node_local_cri_socket.then(|| format!("containerRuntimeEndpoint: {}\n", go_quote(&node.cri_socket)))
}

/// Go's `%q` for the printable ASCII these values hold: quotes and backslashes escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' | '\\' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The kubelet-start files, in kubeadm's order: flags, instance config, config.
pub fn files(node: &Resolved, facts: &KubeletFacts) -> Result<Vec<File>> {
    let mut files =
        vec![File::new(FLAGS_PATH, FILE_MODE, render_flags(node, facts)?, "kubelet flags (KUBELET_KUBEADM_ARGS)")];
    if let Some(instance) = render_instance_config(node) {
        files.push(File::new(
            INSTANCE_CONFIG_PATH,
            FILE_MODE,
            instance,
            "node-local kubelet configuration (CRI socket)",
        ));
    }
    files.push(File::new(CONFIG_PATH, FILE_MODE, render_config(node, facts)?, "KubeletConfiguration"));
    files.push(File::new(DROPIN_PATH, 0o644, DROPIN, "kubelet systemd drop-in (kubeadm environment contract)"));
    Ok(files)
}

impl KubeletFacts {
    pub fn gather(ctx: &Ctx) -> Self {
        KubeletFacts {
            hostname: crate::config::HostIdentity::detect(&ctx.host).hostname,
            systemd_resolved: ctx.host.exists(RESOLVED_RESOLV_CONF),
        }
    }
}

/// `kubeadm init phase kubelet-start`: write the files, then (re)start the kubelet.
pub fn phase_kubelet_start(ctx: &mut Ctx, _sub: Option<&str>) -> Result<()> {
    super::ensure_private_dir(ctx, KUBELET_DIR, KUBELET_DIR_MODE)?;
    let facts = KubeletFacts::gather(ctx);
    let mut files = files(&ctx.node, &facts)?;
    for f in files.iter_mut().filter(|f| f.path == CONFIG_PATH) {
        let yaml = String::from_utf8(std::mem::take(&mut f.contents))?;
        f.contents = crate::patches::patch_kubelet(ctx, "kubelet-start", yaml)?.into_bytes();
    }
    for f in &files {
        ctx.say("kubelet-start", format_args!("Writing {} to file \"{}\"", f.reason, f.path));
    }
    ctx.emit("kubelet-start", files)?;
    if ctx.dry_run || ctx.render_only {
        ctx.say("kubelet-start", "Not starting the kubelet (files only)");
        return Ok(());
    }
    ctx.say("kubelet-start", "Starting the kubelet");
    crate::host::systemd::start_kubelet(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(hostname: &str) -> KubeletFacts {
        KubeletFacts { hostname: hostname.into(), systemd_resolved: false }
    }

    /// Defence in depth: a value that slipped past validation is refused, never written.
    #[test]
    fn a_flag_that_would_split_is_refused() {
        for bad in ["n1 --authorization-mode=AlwaysAllow", "n1\n--x", "a\"b", "a\\b", "$(x)"] {
            let mut n = crate::render::test_node("v1.33.5", "10.0.0.5", "");
            n.node_name = bad.into();
            let err = render_flags(&n, &facts("cp-1")).unwrap_err().to_string();
            assert!(err.contains("refusing to write") && err.contains("kubeadm-flags.env"), "{err}");
            let mut n = crate::render::test_node("v1.33.5", "10.0.0.5", "");
            n.cfg.node.labels.insert("zone".into(), bad.into());
            assert!(render_flags(&n, &facts("cp-1")).is_err(), "label {bad:?}");
        }
    }

    #[test]
    fn flags_per_version_and_host() {
        let n33 = crate::render::test_node("v1.33.5", "10.0.0.5", "");
        assert_eq!(
            render_flags(&n33, &facts("cp-1")).unwrap(),
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock \
             --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n"
        );
        assert_eq!(render_instance_config(&n33), None);
        // 1.34: NodeLocalCRISocket moves the socket to instance-config.yaml.
        let n34 = crate::render::test_node("v1.34.1", "10.0.0.5", "");
        assert_eq!(
            render_flags(&n34, &facts("other-host")).unwrap(),
            "KUBELET_KUBEADM_ARGS=\"--hostname-override=cp-1 --pod-infra-container-image=registry.k8s.io/pause:3.10.1\"\n"
        );
        assert_eq!(
            render_instance_config(&n34).unwrap(),
            "containerRuntimeEndpoint: \"unix:///var/run/containerd/containerd.sock\"\n"
        );
        let config = render_config(&n34, &facts("cp-1")).unwrap();
        assert!(config.contains("containerRuntimeEndpoint: unix:///var/run/containerd/containerd.sock\n"), "{config}");
    }

    #[test]
    fn user_kubelet_configuration_is_merged_but_rotation_is_forced() {
        let node = crate::render::test_node(
            "v1.33.5",
            "10.0.0.5",
            "kubeletConfiguration:\n  rotateCertificates: false\n  maxPods: 150\n  authentication:\n    anonymous:\n      enabled: true\n",
        );
        let config = render_config(&node, &facts("cp-1")).unwrap();
        assert!(config.contains("maxPods: 150\n") && config.contains("rotateCertificates: true\n"), "{config}");
        assert!(config.contains("anonymous:\n    enabled: true\n  webhook:"), "{config}");
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote(r#"--a=b "c"\"#), r#""--a=b \"c\"\\""#);
    }

    #[test]
    fn merge_is_deep_and_user_wins() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge(&mut base, &json!({"a": {"c": 3}, "d": [2, 3], "e": "x"}));
        assert_eq!(base, json!({"a": {"b": 1, "c": 3}, "d": [2, 3], "e": "x"}));
    }
}
