//! Semantic checks on a structurally valid NodeConfig: the rules kubeadm's validation
//! applies, plus the ones a first boot needs. Each finding names its key path; the loader
//! turns paths into file:line:column. Secret values are never quoted.

use std::net::IpAddr;

use ipnet::IpNet;

use super::duration::GoDuration;
use super::types::*;
use super::versions::{KNOWN_FEATURE_GATES, KubeVersion};
use crate::workflow::phases;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { path: path.into(), message: message.into() });
    }
}

pub fn validate(cfg: &NodeConfig) -> Vec<Problem> {
    let mut p = Problems::default();
    if cfg.api_version != API_VERSION {
        p.add("apiVersion", format!("must be {API_VERSION}"));
    }
    if cfg.kind != KIND {
        p.add("kind", format!("must be {KIND}"));
    }
    let version = check_version(&mut p, &cfg.cluster.kubernetes_version);
    check_node(&mut p, cfg);
    check_cluster(&mut p, &cfg.cluster, version.as_ref());
    check_tokens(&mut p, &cfg.bootstrap_tokens);
    if let Some(k) = &cfg.certificate_key
        && !is_hex(k, 64)
    {
        p.add(
            "certificateKey",
            "must be 64 hexadecimal characters (32 bytes); generate one with `kubeboot certs certificate-key`",
        );
    }
    check_role(&mut p, cfg);
    check_preflight(&mut p, &cfg.preflight);
    if let Some(r) = &cfg.report {
        check_report(&mut p, r);
    }
    check_timeouts(&mut p, &cfg.timeouts);
    if let Some(pt) = &cfg.patches {
        if !pt.directory.starts_with('/') {
            p.add("patches.directory", "must be an absolute path on the node (like /etc/kubeboot/patches)");
        } else if pt.directory.split('/').any(|c| c == "..") {
            p.add("patches.directory", "must not contain `..`");
        }
    }
    check_renewal(&mut p, cfg);
    let table = if cfg.role.is_join() { phases::JOIN } else { phases::INIT };
    for (i, s) in cfg.skip_phases.iter().enumerate() {
        if let Err(e) = phases::resolve_skip(table, s) {
            p.add(format!("skipPhases.{i}"), e);
        }
    }
    p.0
}

fn check_version(p: &mut Problems, v: &str) -> Option<KubeVersion> {
    match KubeVersion::parse(v) {
        Ok(kv) if kv.is_supported() => Some(kv),
        Ok(kv) => {
            p.add(
                "cluster.kubernetesVersion",
                format!("{kv} is not supported; kubeboot renders Kubernetes v1.31 to v1.34"),
            );
            None
        }
        Err(e) => {
            p.add("cluster.kubernetesVersion", e);
            None
        }
    }
}

fn check_node(p: &mut Problems, cfg: &NodeConfig) {
    let n = &cfg.node;
    if let Some(name) = &n.name
        && let Err(e) = dns1123_subdomain(name)
    {
        p.add("node.name", format!("`{name}` is not a valid node name: {e}"));
    }
    if let Some(a) = &n.advertise_address {
        match a.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => {
                p.add("node.advertiseAddress", format!("`{a}` is unspecified; give the node's own address"))
            }
            Ok(ip) if ip.is_multicast() => p.add("node.advertiseAddress", format!("`{a}` is a multicast address")),
            Ok(_) => {}
            Err(_) => p.add("node.advertiseAddress", format!("`{a}` is not an IP address")),
        }
    }
    if n.bind_port == 0 {
        p.add("node.bindPort", "must be between 1 and 65535");
    }
    if let Some(s) = &n.cri_socket
        && !(s.starts_with("unix:///") || s.starts_with('/'))
    {
        p.add(
            "node.criSocket",
            format!("`{s}` must be a unix socket URL such as unix:///var/run/containerd/containerd.sock"),
        );
    }
    for (k, v) in &n.labels {
        if let Err(e) = qualified_name(k) {
            p.add(format!("node.labels.{k}"), format!("label key `{k}` is invalid: {e}"));
        }
        if let Err(e) = label_value(v) {
            p.add(format!("node.labels.{k}"), format!("label value `{}` is invalid: {e}", v.escape_debug()));
        }
    }
    if let Some(taints) = &n.taints {
        for (i, t) in taints.iter().enumerate() {
            if let Err(e) = qualified_name(&t.key) {
                p.add(format!("node.taints.{i}.key"), format!("taint key `{}` is invalid: {e}", t.key));
            }
            if let Some(v) = &t.value
                && let Err(e) = label_value(v)
            {
                p.add(format!("node.taints.{i}.value"), format!("taint value `{}` is invalid: {e}", v.escape_debug()));
            }
            if let Some(at) = &t.time_added {
                if at.parse::<jiff::Timestamp>().is_err() {
                    p.add(
                        format!("node.taints.{i}.timeAdded"),
                        format!("`{at}` is not an RFC 3339 time (like 2030-01-02T03:04:05Z)"),
                    );
                } else if cfg.role == Role::Worker {
                    p.add(
                        format!("node.taints.{i}.timeAdded"),
                        "a worker's taints are registered by the kubelet (--register-with-taints), which \
                         carries no time; remove timeAdded (it is honoured on control-plane nodes)",
                    );
                }
            }
        }
    }
    check_args(p, "node.kubeletExtraArgs", &n.kubelet_extra_args);
    // These end up in kubeadm-flags.env, which systemd splits at whitespace.
    for (i, a) in n.kubelet_extra_args.iter().enumerate() {
        if let Err(bad) = crate::render::kubelet::env_safe(&a.value) {
            p.add(
                format!("node.kubeletExtraArgs.{i}.value"),
                format!(
                    "`{}` contains {bad}; kubelet flags go into kubeadm-flags.env, where that would split or \
                     mangle the flag",
                    a.value.escape_debug()
                ),
            );
        }
    }
}

fn check_cluster(p: &mut Problems, c: &ClusterSpec, version: Option<&KubeVersion>) {
    if let Err(e) = dns1123_subdomain(&c.name) {
        p.add("cluster.name", format!("`{}` is not a valid cluster name: {e}", c.name));
    }
    let svc = check_cidrs(p, "cluster.networking.serviceSubnet", &c.networking.service_subnet);
    for net in &svc {
        let (min_prefix, max_prefix) = if net.addr().is_ipv4() { (12, 28) } else { (108, 124) };
        if net.prefix_len() < min_prefix {
            p.add(
                "cluster.networking.serviceSubnet",
                format!("{net} is too large; the largest allowed is /{min_prefix}"),
            );
        } else if net.prefix_len() > max_prefix {
            p.add(
                "cluster.networking.serviceSubnet",
                format!("{net} has fewer than 10 addresses; use /{max_prefix} or larger"),
            );
        }
    }
    if let Some(pod) = &c.networking.pod_subnet {
        let pods = check_cidrs(p, "cluster.networking.podSubnet", pod);
        for s in &svc {
            for q in &pods {
                if s.contains(&q.network()) || q.contains(&s.network()) {
                    p.add(
                        "cluster.networking.podSubnet",
                        format!("{q} overlaps the service subnet {s}; pick disjoint ranges"),
                    );
                }
            }
        }
    }
    if let Err(e) = dns1123_subdomain(&c.networking.dns_domain) {
        p.add("cluster.networking.dnsDomain", format!("`{}` is not a DNS domain: {e}", c.networking.dns_domain));
    }
    if let Some(ep) = &c.control_plane_endpoint {
        let (host, port) = super::resolve::split_host_port(ep);
        let port_ok =
            !ep.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']') && !host.contains(':') && port.is_none())
                && port != Some(0);
        if host.is_empty() || (host.parse::<IpAddr>().is_err() && dns1123_subdomain(&host).is_err()) || !port_ok {
            p.add("cluster.controlPlaneEndpoint", format!("`{ep}` is not host[:port] with a DNS name or IP address"));
        }
    }
    if c.image_repository.is_empty() || c.image_repository.contains("://") {
        p.add("cluster.imageRepository", "must be a registry path such as registry.k8s.io (no scheme)");
    }
    if c.encryption_algorithm == EncryptionAlgorithm::EcdsaP384 && version.is_some_and(|v| !v.at_least(34)) {
        p.add("cluster.encryptionAlgorithm", "ECDSA-P384 needs Kubernetes v1.34 or later");
    }
    for (path, d) in [
        ("cluster.certificateValidityPeriod", c.certificate_validity_period),
        ("cluster.caCertificateValidityPeriod", c.ca_certificate_validity_period),
    ] {
        if d == GoDuration::default() {
            p.add(path, "must be longer than 0s");
        }
    }
    check_path(p, "cluster.certificatesDir", &c.certificates_dir);
    for (section, comp) in [
        ("apiServer", &c.api_server.extra_volumes),
        ("controllerManager", &c.controller_manager.extra_volumes),
        ("scheduler", &c.scheduler.extra_volumes),
    ] {
        for (i, v) in comp.iter().enumerate() {
            check_path(p, &format!("cluster.{section}.extraVolumes.{i}.hostPath"), &v.host_path);
            check_path(p, &format!("cluster.{section}.extraVolumes.{i}.mountPath"), &v.mount_path);
            if let Err(e) = dns1123_label(&v.name) {
                p.add(
                    format!("cluster.{section}.extraVolumes.{i}.name"),
                    format!("`{}` is not a volume name: {e}", v.name),
                );
            }
        }
    }
    for (i, san) in c.api_server.cert_sans.iter().enumerate() {
        check_san(p, &format!("cluster.apiServer.certSANs.{i}"), san);
    }
    check_args(p, "cluster.apiServer.extraArgs", &c.api_server.extra_args);
    check_args(p, "cluster.controllerManager.extraArgs", &c.controller_manager.extra_args);
    check_args(p, "cluster.scheduler.extraArgs", &c.scheduler.extra_args);
    match (&c.etcd.local, &c.etcd.external) {
        (Some(_), Some(_)) => p.add("cluster.etcd", "set either etcd.local or etcd.external, not both"),
        (_, Some(ext)) => {
            if ext.endpoints.is_empty() {
                p.add("cluster.etcd.external.endpoints", "needs at least one endpoint");
            }
            for (key, file) in [("caFile", &ext.ca_file), ("certFile", &ext.cert_file), ("keyFile", &ext.key_file)] {
                if !file.is_empty() {
                    check_path(p, &format!("cluster.etcd.external.{key}"), file);
                }
            }
            for (i, e) in ext.endpoints.iter().enumerate() {
                match reqwest::Url::parse(e) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {
                        if u.scheme() == "https"
                            && (ext.ca_file.is_empty() || ext.cert_file.is_empty() || ext.key_file.is_empty())
                        {
                            p.add("cluster.etcd.external", "https endpoints need caFile, certFile and keyFile");
                        }
                    }
                    _ => p.add(format!("cluster.etcd.external.endpoints.{i}"), format!("`{e}` is not an http(s) URL")),
                }
            }
        }
        (local, None) => {
            if let Some(l) = local {
                check_path(p, "cluster.etcd.local.dataDir", &l.data_dir);
                check_args(p, "cluster.etcd.local.extraArgs", &l.extra_args);
                for (i, san) in l.server_cert_sans.iter().enumerate() {
                    check_san(p, &format!("cluster.etcd.local.serverCertSANs.{i}"), san);
                }
                for (i, san) in l.peer_cert_sans.iter().enumerate() {
                    check_san(p, &format!("cluster.etcd.local.peerCertSANs.{i}"), san);
                }
            }
        }
    }
    for gate in c.feature_gates.keys() {
        if !KNOWN_FEATURE_GATES.contains(&gate.as_str()) {
            let hint = super::strict::closest(gate, KNOWN_FEATURE_GATES)
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            p.add(format!("cluster.featureGates.{gate}"), format!("unknown kubeadm feature gate `{gate}`{hint}"));
        }
    }
    // Gates kubeadm knows but kubeboot does not implement: only their default value is accepted.
    for (gate, on) in &c.feature_gates {
        let refusal = match (gate.as_str(), on) {
            ("RootlessControlPlane", true) => Some(
                "RootlessControlPlane is not implemented by kubeboot: the control-plane containers run as root; \
                 remove the gate or set it to false",
            ),
            ("EtcdLearnerMode", false) => Some(
                "kubeboot always adds a joining etcd member as a learner and promotes it (EtcdLearnerMode on); \
                 false is not supported",
            ),
            ("PublicKeysECDSA", true) => Some(
                "kubeboot does not read PublicKeysECDSA (deprecated in kubeadm); set encryptionAlgorithm: \
                 ECDSA-P256 instead",
            ),
            _ => None,
        };
        if let Some(msg) = refusal {
            p.add(format!("cluster.featureGates.{gate}"), msg);
        }
    }
    if let Some(ca) = &c.ca {
        if !ca.cert.contains("-----BEGIN CERTIFICATE-----") {
            p.add("cluster.ca.cert", "must be a PEM certificate (-----BEGIN CERTIFICATE-----)");
        }
        if !ca.key.contains("PRIVATE KEY-----") {
            p.add("cluster.ca.key", "must be a PEM private key (PKCS#1, SEC1 or PKCS#8)");
        }
    }
}

fn check_tokens(p: &mut Problems, tokens: &[BootstrapToken]) {
    let mut seen = std::collections::HashSet::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Some(tok) = &t.token {
            if !is_bootstrap_token(tok) {
                p.add(
                    format!("bootstrapTokens.{i}.token"),
                    "must match [a-z0-9]{6}.[a-z0-9]{16}; generate one with `kubeboot token generate`",
                );
            } else if !seen.insert(tok.split('.').next().unwrap_or_default().to_string()) {
                p.add(format!("bootstrapTokens.{i}.token"), "token id is used twice");
            }
        }
        if let Some(e) = &t.expires
            && e.parse::<jiff::Timestamp>().is_err()
        {
            p.add(
                format!("bootstrapTokens.{i}.expires"),
                format!("`{e}` is not an RFC 3339 time (like 2030-01-02T03:04:05Z)"),
            );
        }
        for (j, u) in t.usages.iter().enumerate() {
            if !matches!(u.as_str(), "signing" | "authentication") {
                p.add(
                    format!("bootstrapTokens.{i}.usages.{j}"),
                    format!("`{u}` is not a usage; use signing and/or authentication"),
                );
            }
        }
        for (j, g) in t.groups.iter().enumerate() {
            let ok = g.strip_prefix("system:bootstrappers:").is_some_and(|rest| {
                !rest.is_empty()
                    && rest.len() <= 256
                    && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
                    && rest.bytes().last().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            if !ok {
                p.add(
                    format!("bootstrapTokens.{i}.groups.{j}"),
                    format!("`{g}` must match system:bootstrappers:[a-z0-9:-]*[a-z0-9]"),
                );
            }
        }
    }
}

fn check_role(p: &mut Problems, cfg: &NodeConfig) {
    match cfg.role {
        Role::ControlPlane => {
            if cfg.join.is_some() {
                p.add("join", "only a joining node (role worker or control-plane-join) has a join section");
            }
        }
        Role::Worker | Role::ControlPlaneJoin => {
            if cfg.upload_certs {
                p.add("uploadCerts", "only the first control-plane node (role control-plane) uploads certificates");
            }
            if !cfg.bootstrap_tokens.is_empty() {
                p.add(
                    "bootstrapTokens",
                    "bootstrap tokens are created by the first control-plane node, not by a joining node",
                );
            }
            let Some(j) = &cfg.join else {
                p.add(
                    "join",
                    format!("role {} needs a join section (apiServerEndpoint, token, caCertHashes)", cfg.role.as_str()),
                );
                return;
            };
            check_join(p, j);
            if cfg.role == Role::ControlPlaneJoin && cfg.certificate_key.is_none() {
                p.add(
                    "certificateKey",
                    "a control-plane join needs the certificate key printed by the first control-plane node (64 hex)",
                );
            }
        }
    }
}

fn check_join(p: &mut Problems, j: &JoinSpec) {
    for (i, h) in j.ca_cert_hashes.iter().enumerate() {
        let ok = h.strip_prefix("sha256:").is_some_and(|hex| is_hex(hex, 64));
        if !ok {
            p.add(
                format!("join.caCertHashes.{i}"),
                format!("`{h}` must be sha256: followed by 64 hex characters (see `kubeboot certs ca-hash`)"),
            );
        }
    }
    if let Some(t) = &j.tls_bootstrap_token
        && !is_bootstrap_token(t)
    {
        p.add("join.tlsBootstrapToken", "must match [a-z0-9]{6}.[a-z0-9]{16}");
    }
    match &j.discovery_file {
        Some(f) => {
            let ok = f.starts_with('/') || f.starts_with("file:///") || f.starts_with("https://");
            if !ok {
                p.add("join.discoveryFile", "must be an absolute path, a file:// URL or an https:// URL");
            }
            if j.token.is_none() && j.tls_bootstrap_token.is_none() {
                p.add(
                    "join.token",
                    "file discovery needs a token for TLS bootstrap (join.token or join.tlsBootstrapToken)",
                );
            }
        }
        None => {
            match &j.api_server_endpoint {
                None => {
                    p.add("join.apiServerEndpoint", "is required for token discovery (host:port of the API server)")
                }
                Some(ep) => {
                    let (host, port) = super::resolve::split_host_port(ep);
                    if host.is_empty() || port.is_none() || port == Some(0) {
                        p.add("join.apiServerEndpoint", format!("`{ep}` must be host:port"));
                    }
                }
            }
            match &j.token {
                None => p.add("join.token", "is required for token discovery"),
                Some(t) if !is_bootstrap_token(t) => p.add("join.token", "must match [a-z0-9]{6}.[a-z0-9]{16}"),
                Some(_) => {}
            }
            if j.ca_cert_hashes.is_empty() && !j.unsafe_skip_ca_verification {
                p.add(
                    "join.caCertHashes",
                    "token discovery needs at least one CA pin (sha256:...); without it anyone on the path could impersonate the cluster. Set unsafeSkipCAVerification: true only if you accept that",
                );
            }
        }
    }
}

fn check_preflight(p: &mut Problems, pf: &PreflightSpec) {
    for (i, name) in pf.ignore_errors.iter().enumerate() {
        if let Err(e) = crate::preflight::check_ignore_name(name) {
            p.add(format!("preflight.ignoreErrors.{i}"), e);
        }
    }
}

fn check_report(p: &mut Problems, r: &ReportSpec) {
    if let Some(u) = &r.url {
        match reqwest::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                // Headers carry credentials: never in clear text over a network (loopback is
                // not one: a collector on this host).
                let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
                let loopback =
                    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback());
                if url.scheme() == "http" && !r.headers.is_empty() && !loopback {
                    p.add(
                        "report.headers",
                        format!(
                            "are sent in clear text to `{u}`; use an https:// report.url (with report.caCert for a \
                             private collector), or drop the headers"
                        ),
                    );
                }
            }
            _ => p.add("report.url", format!("`{u}` is not an http(s) URL")),
        }
    }
    for k in r.headers.keys() {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            p.add(format!("report.headers.{k}"), "header names are letters, digits, '-' and '_'");
        }
    }
    if let Some(ca) = &r.ca_cert {
        let parsed = crate::pki::certs_der_from_pem(ca);
        if parsed.as_ref().map_or(true, |certs| certs.is_empty()) {
            p.add(
                "report.caCert",
                "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----): the report collector's CA",
            );
        }
        if !r.url.as_deref().is_some_and(|u| u.starts_with("https://")) {
            p.add("report.caCert", "is only used for an https report.url; set report.url to https://… or drop it");
        }
    }
}

/// Renewing `before` expiry must leave a certificate some life: a window as long as the
/// validity period would renew every certificate on every run.
fn check_renewal(p: &mut Problems, cfg: &NodeConfig) {
    let r = &cfg.certificate_renewal;
    if !r.enabled {
        return;
    }
    let validity = cfg.cluster.certificate_validity_period;
    if r.before == GoDuration::default() {
        p.add(
            "certificateRenewal.before",
            "must be longer than 0s (set certificateRenewal.enabled: false to turn renewal off)",
        );
    } else if r.before >= validity {
        p.add(
            "certificateRenewal.before",
            format!(
                "{} is not shorter than cluster.certificateValidityPeriod ({validity}): every certificate would be \
                 renewed on every run; use a shorter window (default 720h)",
                r.before
            ),
        );
    }
}

fn check_timeouts(p: &mut Problems, t: &Timeouts) {
    for (name, d) in [
        ("controlPlaneComponentHealthCheck", t.control_plane_component_health_check),
        ("kubeletHealthCheck", t.kubelet_health_check),
        ("kubernetesAPICall", t.kubernetes_api_call),
        ("etcdAPICall", t.etcd_api_call),
        ("tlsBootstrap", t.tls_bootstrap),
        ("discovery", t.discovery),
        ("upgradeManifests", t.upgrade_manifests),
    ] {
        if d == GoDuration::default() {
            p.add(format!("timeouts.{name}"), "must be longer than 0s");
        }
    }
}

fn check_args(p: &mut Problems, path: &str, args: &[Arg]) {
    for (i, a) in args.iter().enumerate() {
        if a.name.is_empty() || a.name.starts_with('-') || a.name.contains('=') {
            p.add(
                format!("{path}.{i}.name"),
                format!("`{}` must be a flag name without leading dashes or '='", a.name),
            );
        }
    }
}

fn check_cidrs(p: &mut Problems, path: &str, s: &str) -> Vec<IpNet> {
    let mut nets = Vec::new();
    for part in s.split(',') {
        match part.trim().parse::<IpNet>() {
            Ok(n) => nets.push(n),
            Err(_) => p.add(path, format!("`{part}` is not a CIDR such as 10.96.0.0/12")),
        }
    }
    if nets.len() > 2 || (nets.len() == 2 && nets[0].addr().is_ipv4() == nets[1].addr().is_ipv4()) {
        p.add(path, "dual-stack takes exactly one IPv4 and one IPv6 CIDR");
    }
    nets
}

fn check_san(p: &mut Problems, path: &str, san: &str) {
    let wildcard = san.strip_prefix("*.").unwrap_or(san);
    if san.parse::<IpAddr>().is_err() && dns1123_subdomain(wildcard).is_err() {
        p.add(path, format!("`{san}` is neither an IP address nor a DNS name"));
    }
}

/// Paths that end up on the host must be absolute and stay where they say: no `..`, no NUL.
fn check_path(p: &mut Problems, path: &str, value: &str) {
    if !value.starts_with('/') {
        p.add(path, format!("`{value}` must be an absolute path"));
    } else if value.split('/').any(|c| c == "..") || value.contains('\0') {
        p.add(path, format!("`{}` must not contain `..` or NUL", value.escape_debug()));
    }
}

/// RFC 1123 label (volume names): at most 63 characters, no dots.
fn dns1123_label(s: &str) -> Result<(), String> {
    if s.len() > 63 || s.contains('.') {
        return Err("must be at most 63 characters without dots".into());
    }
    dns1123_subdomain(s)
}

pub fn is_bootstrap_token(t: &str) -> bool {
    let b = t.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.len() == 23 && b[6] == b'.' && b[..6].iter().all(ok) && b[7..].iter().all(ok)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// RFC 1123 subdomain as Kubernetes validates node names: lower-case alphanumerics, '-' and '.',
/// starting and ending alphanumeric, at most 253 characters.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be 1 to 253 characters".into());
    }
    for label in s.split('.') {
        let b = label.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) || !b.iter().all(|&c| alnum(c) || c == b'-') {
            return Err(
                "must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit".into()
            );
        }
    }
    Ok(())
}

/// Kubernetes label value (also taint values): empty, or at most 63 alphanumerics, '-', '_'
/// or '.', starting and ending alphanumeric.
fn label_value(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    if b.is_empty() {
        return Ok(());
    }
    if b.len() > 63
        || !alnum(b[0])
        || !alnum(b[b.len() - 1])
        || !b.iter().all(|&c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
    {
        return Err("must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric".into());
    }
    Ok(())
}

/// Kubernetes qualified name (label keys): optional DNS prefix + '/' + name of 1–63 chars.
fn qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = s.rsplit_once('/').map_or((None, s), |(p, n)| (Some(p), n));
    if let Some(p) = prefix {
        dns1123_subdomain(p).map_err(|e| format!("prefix {e}"))?;
    }
    let b = name.as_bytes();
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    if b.is_empty()
        || b.len() > 63
        || !alnum(b[0])
        || !alnum(b[b.len() - 1])
        || !b.iter().all(|&c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
    {
        return Err("name must be 1 to 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_and_names() {
        assert!(is_bootstrap_token("abcdef.0123456789abcdef"));
        assert!(!is_bootstrap_token("ABCDEF.0123456789abcdef"));
        assert!(!is_bootstrap_token("abcdef0123456789abcdef"));
        assert!(dns1123_subdomain("cp-1.example").is_ok());
        assert!(dns1123_subdomain("CP_1").is_err());
        assert!(qualified_name("topology.kubernetes.io/zone").is_ok());
        assert!(qualified_name("bad key").is_err());
    }
}
