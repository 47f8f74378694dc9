//! The phase lists of `kubeadm init` and `kubeadm join` (reference §0), in one place.
//! Each entry names the function that does the work; `init phase <name>` and the journal
//! both go through these tables.

use anyhow::Result;

use super::Ctx;

pub type PhaseFn = fn(&mut Ctx, Option<&str>) -> Result<()>;

#[derive(Clone, Copy)]
pub struct Phase {
    /// kubeadm's phase name, as in `kubeadm init phase <name>` and `--skip-phases`.
    pub name: &'static str,
    /// Sub-phases accepted as `<name> <sub>` / `<name>/<sub>`; `all` is implied when non-empty.
    pub subs: &'static [&'static str],
    pub about: &'static str,
    pub run: PhaseFn,
}

impl std::fmt::Debug for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// `kubeadm init`, in order.
pub const INIT: &[Phase] = &[
    Phase { name: "preflight", subs: &[], about: "Run pre-flight checks", run: crate::preflight::phase },
    Phase {
        name: "certs",
        subs: &[
            "ca",
            "apiserver",
            "apiserver-kubelet-client",
            "front-proxy-ca",
            "front-proxy-client",
            "etcd-ca",
            "etcd-server",
            "etcd-peer",
            "etcd-healthcheck-client",
            "apiserver-etcd-client",
            "sa",
        ],
        about: "Certificate generation",
        run: crate::pki::phase,
    },
    Phase {
        name: "kubeconfig",
        subs: &["admin", "super-admin", "kubelet", "controller-manager", "scheduler"],
        about: "Generate all kubeconfig files",
        run: crate::render::phase_kubeconfig,
    },
    Phase {
        name: "etcd",
        subs: &["local"],
        about: "Generate static Pod manifest file for local etcd",
        run: crate::render::phase_etcd,
    },
    Phase {
        name: "control-plane",
        subs: &["apiserver", "controller-manager", "scheduler"],
        about: "Generate all static Pod manifest files necessary to establish the control plane",
        run: crate::render::phase_control_plane,
    },
    Phase {
        name: "kubelet-start",
        subs: &[],
        about: "Write kubelet settings and (re)start the kubelet",
        run: crate::render::phase_kubelet_start,
    },
    Phase {
        name: "wait-control-plane",
        subs: &[],
        about: "Wait for the control plane to start",
        run: crate::cluster::phase_wait_control_plane,
    },
    Phase {
        name: "upload-config",
        subs: &["kubeadm", "kubelet"],
        about: "Upload the kubeadm and kubelet configuration to a ConfigMap",
        run: crate::cluster::phase_upload_config,
    },
    Phase {
        name: "upload-certs",
        subs: &[],
        about: "Upload certificates to kubeadm-certs",
        run: crate::cluster::phase_upload_certs,
    },
    Phase {
        name: "mark-control-plane",
        subs: &[],
        about: "Mark a node as a control-plane",
        run: crate::cluster::phase_mark_control_plane,
    },
    Phase {
        name: "bootstrap-token",
        subs: &[],
        about: "Generates bootstrap tokens used to join a node to a cluster",
        run: crate::cluster::phase_bootstrap_token,
    },
    Phase {
        name: "kubelet-finalize",
        subs: &["enable-client-cert-rotation"],
        about: "Updates settings relevant to the kubelet after TLS bootstrap",
        run: crate::cluster::phase_kubelet_finalize,
    },
    Phase {
        name: "addon",
        subs: &["coredns", "kube-proxy"],
        about: "Install required addons",
        run: crate::cluster::phase_addon,
    },
    Phase {
        name: "show-join-command",
        subs: &[],
        about: "Show the join command for control-plane and worker node",
        run: crate::cluster::phase_show_join_command,
    },
];

/// `kubeadm join`, in order (control-plane-only phases skip themselves on workers).
pub const JOIN: &[Phase] = &[
    Phase { name: "preflight", subs: &[], about: "Run join pre-flight checks", run: crate::preflight::phase },
    Phase {
        name: "discovery",
        subs: &[],
        about: "Discover the cluster and verify its CA (token + pin, or file)",
        run: crate::join::phase_discovery,
    },
    Phase {
        name: "control-plane-prepare",
        subs: &["download-certs", "certs", "kubeconfig", "control-plane"],
        about: "Prepare the machine for serving a control plane",
        run: crate::join::phase_control_plane_prepare,
    },
    Phase {
        name: "kubelet-start",
        subs: &[],
        about: "Write kubelet settings, certificates and (re)start the kubelet",
        run: crate::join::phase_kubelet_start,
    },
    Phase {
        name: "etcd-join",
        subs: &[],
        about: "Join etcd for control plane nodes",
        run: crate::join::phase_etcd_join,
    },
    Phase {
        name: "kubelet-wait-bootstrap",
        subs: &[],
        about: "Wait for the kubelet to finish TLS bootstrap",
        run: crate::join::phase_kubelet_wait_bootstrap,
    },
    Phase {
        name: "mark-control-plane",
        subs: &[],
        about: "Mark a node as a control-plane",
        run: crate::join::phase_mark_control_plane,
    },
    Phase {
        name: "wait-control-plane",
        subs: &[],
        about: "Wait for the control plane to start",
        run: crate::join::phase_wait_control_plane,
    },
];

pub fn find(table: &'static [Phase], name: &str) -> Option<&'static Phase> {
    table.iter().find(|p| p.name == name)
}

pub fn names(table: &'static [Phase]) -> Vec<&'static str> {
    table.iter().map(|p| p.name).collect()
}

/// Sub-phases that are a phase's only one: skipping them skips the phase.
const ONLY_SUB: &[&str] = &["etcd/local", "kubelet-finalize/enable-client-cert-rotation"];

/// kubeadm's join phase names that kubeboot's join table spells differently (kubeadm runs
/// `etcd-join` or `control-plane-join/etcd` depending on ControlPlaneKubeletLocalMode; kubeboot
/// always has the former), and what skipping them skips here.
const JOIN_ALIASES: &[(&str, &[&str])] = &[
    ("control-plane-join", &["etcd-join", "mark-control-plane"]),
    ("control-plane-join/etcd", &["etcd-join"]),
    ("control-plane-join/mark-control-plane", &["mark-control-plane"]),
];

/// What a `skipPhases` / `--skip-phases` entry skips in `table`, as the names `Ctx::skipped`
/// tests: every phase and sub-phase of kubeadm's lists is honoured (a sub-phase skips only
/// its part), or refused with the reason; none is ignored.
pub fn resolve_skip(table: &'static [Phase], entry: &str) -> Result<Vec<String>, String> {
    let join = table.iter().any(|p| p.name == "etcd-join");
    let workflow = if join { "join" } else { "init" };
    if join && let Some((_, to)) = JOIN_ALIASES.iter().find(|(from, _)| *from == entry) {
        return Ok(to.iter().map(|s| s.to_string()).collect());
    }
    if join && entry == "check-etcd" {
        return Err("`check-etcd` cannot be skipped on its own: kubeboot checks etcd health inside `etcd-join` \
                    (skip `etcd-join` to skip both)"
            .into());
    }
    let (name, sub) = entry.split_once('/').map_or((entry, None), |(n, s)| (n, Some(s)));
    let Some(phase) = find(table, name) else {
        let mut known = names(table);
        if join {
            known.extend(JOIN_ALIASES.iter().map(|(from, _)| *from));
        }
        return Err(format!("`{entry}` is not a {workflow} phase; phases are: {}", known.join(", ")));
    };
    match sub {
        None => Ok(vec![name.to_string()]),
        Some("all") => Err(format!(
            "`{entry}` names kubeadm's command-line shortcut `{workflow} phase {name} all`, not a phase to skip; \
             skip `{name}` to skip every sub-phase"
        )),
        Some(s) if phase.subs.contains(&s) => {
            if ONLY_SUB.contains(&entry) {
                Ok(vec![name.to_string()])
            } else {
                Ok(vec![entry.to_string()])
            }
        }
        Some(s) => Err(format!(
            "phase `{name}` has no sub-phase `{s}`; its sub-phases are: {}",
            if phase.subs.is_empty() { "(none)".to_string() } else { phase.subs.join(", ") }
        )),
    }
}

/// `resolve_skip` over a list; the first refusal is the error.
pub fn resolve_skips(table: &'static [Phase], entries: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for e in entries {
        out.extend(resolve_skip(table, e)?);
    }
    Ok(out)
}

/// The init phases that only lay down files: what `kubeboot render` runs.
pub const RENDER: &[&str] = &["certs", "kubeconfig", "etcd", "control-plane", "kubelet-start"];
