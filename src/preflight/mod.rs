//! Preflight: can this machine become the node the config describes? Runs kubeadm's checks
//! (same names and severities, so existing `--ignore-preflight-errors` lists keep working) plus
//! the ones a first boot needs, collects every finding in one pass, and changes nothing.
//!
//! Facts come from the rooted `Host` (/proc, /sys, /etc under `--root`); ports, the container
//! runtime, network addresses and privileges are probed on the live machine.

mod cgroups;
mod clock;
mod cri;
mod disk;
mod etcd;
mod executables;
mod files;
pub mod images;
mod kernel;
mod kubelet;
mod network;
mod ports;
mod privileges;
mod proxy;
mod registry;
mod report;
mod resources;
mod swap;
mod system;
mod writable;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::config::Resolved;
use crate::host::Host;
pub use registry::checks_for;
pub use report::Report;

/// How bad a finding is. Errors stop init/join unless ignored; ignored errors become warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// Not a problem: a fact worth showing, such as the runtime version the CRI check found.
    Info,
}

/// What one check found, before the ignore list is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    /// An error: `what` is wrong — `fix` says how to make it right.
    pub fn error(what: impl std::fmt::Display, fix: impl std::fmt::Display) -> Self {
        Problem { severity: Severity::Error, message: format!("{what} — {fix}") }
    }
    pub fn warning(what: impl std::fmt::Display, fix: impl std::fmt::Display) -> Self {
        Problem { severity: Severity::Warning, message: format!("{what} — {fix}") }
    }
    pub fn info(fact: impl Into<String>) -> Self {
        Problem { severity: Severity::Info, message: fact.into() }
    }
}

/// A reported finding: the check's name, its severity after the ignore list, and whether the
/// ignore list demoted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub name: String,
    pub severity: Severity,
    pub message: String,
    pub ignored: bool,
}

/// What checks may look at: the rooted host, the node to be, and the caller's environment
/// (PATH for executables and the proxy variables, as kubeadm reads them).
pub struct Env<'a> {
    pub host: &'a Host,
    pub node: &'a Resolved,
    pub path: String,
    pub proxy: proxy::ProxyEnv,
    /// Whether ImagePull may pull (init and join); `kubeboot preflight` and `--dry-run` only
    /// look at what the runtime already has.
    pub pull_images: bool,
}

impl<'a> Env<'a> {
    pub fn new(host: &'a Host, node: &'a Resolved) -> Self {
        let path = std::env::var("PATH")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        Env { host, node, path, proxy: proxy::ProxyEnv::from_process(), pull_images: false }
    }
}

/// A check's body: the problems it finds on this host (empty when it passes).
type CheckFn = Box<dyn Fn(&Env) -> Vec<Problem> + Send + Sync>;

/// One named check. `fail_fast` stops the run when it reports an error that is not ignored
/// (IsPrivilegedUser: without root every other probe would only add noise).
pub struct Check {
    pub name: String,
    fail_fast: bool,
    after_others: bool,
    run: CheckFn,
}

impl Check {
    pub fn new(name: impl Into<String>, run: impl Fn(&Env) -> Vec<Problem> + Send + Sync + 'static) -> Self {
        Check { name: name.into(), fail_fast: false, after_others: false, run: Box::new(run) }
    }
    fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }
    /// Runs only once every other check has passed (or been ignored): ImagePull, which kubeadm
    /// runs as a separate step so that a host that cannot become a node waits for no download.
    fn after_others(mut self) -> Self {
        self.after_others = true;
        self
    }
}

/// Check names that operators pass to the ignore list: kubeadm's fixed names, then ours.
pub const CHECK_NAMES: &[&str] = &[
    "IsPrivilegedUser",
    "CRI",
    "Swap",
    "SystemVerification",
    "Hostname",
    "KubeletVersion",
    "Service-Kubelet",
    "NumCPU",
    "Mem",
    "KubernetesVersion",
    "Firewalld",
    "HTTPProxy",
    "HTTPProxyCIDR",
    "ExternalEtcdVersion",
    "ExternalEtcdClientCertificates",
    "ImagePull",
    // kubeboot's own checks.
    "DirWritable",
    "CgroupDriver",
    "KernelModules",
    "Clock",
    "DiskSpace",
    "AdvertiseAddress",
    "JoinEndpoint",
];

/// Parameterised name families: `Port-6443`, `FileExisting-mount`,
/// `FileAvailable--etc-kubernetes-kubelet.conf`, `DirAvailable--var-lib-etcd`,
/// `FileContent--proc-sys-net-ipv4-ip_forward`.
pub const CHECK_NAME_PREFIXES: &[&str] =
    &["Port-", "FileExisting-", "FileAvailable--", "DirAvailable--", "FileContent--"];

/// Whether `name` is a check name (case-insensitive), as kubeadm would accept it.
pub fn is_known_check(name: &str) -> bool {
    CHECK_NAMES.iter().any(|f| f.eq_ignore_ascii_case(name))
        || CHECK_NAME_PREFIXES
            .iter()
            .any(|p| name.len() > p.len() && name.is_char_boundary(p.len()) && name[..p.len()].eq_ignore_ascii_case(p))
}

/// Accepts a name for the ignore list: `all` or a known check name (case-insensitive).
pub fn check_ignore_name(name: &str) -> Result<(), String> {
    if name.eq_ignore_ascii_case("all") || is_known_check(name) {
        return Ok(());
    }
    Err(format!("`{name}` is not a preflight check name (kubeadm names such as Swap, NumCPU, Port-6443, or all)"))
}

/// The checks whose errors are demoted to warnings (kubeadm `--ignore-preflight-errors`).
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    all: bool,
    names: BTreeSet<String>,
}

impl IgnoreList {
    /// Validates every name (blank entries, as in `--ignore-preflight-errors=`, are skipped);
    /// unknown names are an error listing all of them.
    pub fn parse(names: &[String]) -> Result<Self, String> {
        let names: Vec<&str> = names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).collect();
        let bad: Vec<String> = names.iter().filter_map(|n| check_ignore_name(n).err()).collect();
        if !bad.is_empty() {
            return Err(bad.join("; "));
        }
        Ok(IgnoreList {
            all: names.iter().any(|n| n.eq_ignore_ascii_case("all")),
            names: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        })
    }

    pub fn covers(&self, check: &str) -> bool {
        self.all || self.names.contains(&check.to_ascii_lowercase())
    }
}

/// Runs `checks` and collects every finding in the checks' order. Fail-fast checks run first,
/// alone, and an unignored error from one stops the run; the rest run concurrently, because
/// several wait on the network or a process (DNS, the join endpoint, the CRI socket, kubelet
/// --version) and their timeouts would otherwise add up.
pub fn run(env: &Env, checks: &[Check], ignore: &IgnoreList) -> Report {
    let judge = |check: &Check, problems: Vec<Problem>| -> Vec<Finding> {
        problems
            .into_iter()
            .map(|p| {
                let ignored = p.severity == Severity::Error && ignore.covers(&check.name);
                let severity = if ignored { Severity::Warning } else { p.severity };
                Finding { name: check.name.clone(), severity, message: p.message, ignored }
            })
            .collect()
    };
    let (gates, rest): (Vec<&Check>, Vec<&Check>) = checks.iter().partition(|c| c.fail_fast);
    let (last, rest): (Vec<&Check>, Vec<&Check>) = rest.into_iter().partition(|c| c.after_others);
    let mut findings = Vec::new();
    for check in gates {
        let found = judge(check, (check.run)(env));
        let stop = found.iter().any(|f| f.severity == Severity::Error);
        findings.extend(found);
        if stop {
            return Report::new(findings);
        }
    }
    let results: Vec<Vec<Problem>> = std::thread::scope(|scope| {
        let handles: Vec<_> = rest.iter().map(|check| scope.spawn(|| (check.run)(env))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    for (check, problems) in rest.into_iter().zip(results) {
        findings.extend(judge(check, problems));
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        return Report::new(findings);
    }
    for check in last {
        findings.extend(judge(check, (check.run)(env)));
    }
    Report::new(findings)
}

/// Every check for this node, run against `host`. `pull_images` lets ImagePull pull what is
/// missing (the preflight phase of init/join); otherwise it only looks.
pub fn check_node(host: &Host, node: &Resolved, ignore: &IgnoreList, pull_images: bool) -> Report {
    let env = Env { pull_images, ..Env::new(host, node) };
    run(&env, &checks_for(node), ignore)
}

/// The `preflight` phase of init and join: prints every finding and aborts, before anything
/// is written, when an error remains.
pub fn phase(ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    use crate::error::{Exit, coded};
    let ignore = IgnoreList::parse(&ctx.ignore_preflight).map_err(|e| coded(Exit::InvalidInput, e))?;
    if ctx.node.role() == crate::config::Role::ControlPlaneJoin {
        // kubeadm runs a control-plane join's init checks (images, CIDRs, etcd) on the
        // cluster's configuration, so it discovers the cluster here already.
        crate::join::follow_cluster_for_preflight(ctx)?;
    }
    ctx.say("preflight", "Running pre-flight checks");
    let report = check_node(&ctx.host, &ctx.node, &ignore, !ctx.dry_run);
    eprint!("{}", report.render_human());
    let outcome = if report.errors() > 0 {
        Err(coded(Exit::Preflight, report.summary()))
    } else {
        ctx.say("preflight", report.summary());
        Ok(())
    };
    ctx.state.preflight = Some(report);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn env_parts() -> (tempfile::TempDir, Host, Resolved) {
        let yaml = "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane
cluster:
  kubernetesVersion: v1.33.5
";
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        (dir, host, Resolved::for_tests(yaml))
    }

    /// A check that records how many checks were running at once while it ran.
    fn probe(name: &str, running: &Arc<AtomicUsize>, peak: &Arc<AtomicUsize>) -> Check {
        let (running, peak) = (running.clone(), peak.clone());
        Check::new(name, move |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(200));
            running.fetch_sub(1, Ordering::SeqCst);
            vec![Problem::warning(format!("{now}"), "-")]
        })
    }

    #[test]
    fn checks_overlap_and_findings_keep_the_check_order() {
        let (_d, host, node) = env_parts();
        let env = Env::new(&host, &node);
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let checks: Vec<Check> = ["Swap", "Hostname", "CRI", "Mem"].iter().map(|n| probe(n, &running, &peak)).collect();
        let report = run(&env, &checks, &IgnoreList::default());
        assert!(peak.load(Ordering::SeqCst) >= 2, "the checks ran one after another");
        let names: Vec<&str> = report.findings().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Swap", "Hostname", "CRI", "Mem"]);
    }

    #[test]
    fn a_failing_gate_stops_the_run_before_any_other_check() {
        let (_d, host, node) = env_parts();
        let env = Env::new(&host, &node);
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let checks = vec![
            Check::new("IsPrivilegedUser", |_| vec![Problem::error("not root", "run as root")]).fail_fast(),
            Check::new("Swap", move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                vec![]
            }),
        ];
        let report = run(&env, &checks, &IgnoreList::default());
        assert_eq!(ran.load(Ordering::SeqCst), 0, "a check ran after the gate failed");
        assert_eq!(report.findings().len(), 1);
        assert_eq!(report.findings()[0].name, "IsPrivilegedUser");
    }

    #[test]
    fn image_pull_waits_for_every_other_check_to_pass() {
        let (_d, host, node) = env_parts();
        let env = Env::new(&host, &node);
        let pulled = Arc::new(AtomicUsize::new(0));
        let checks =
            |swap_fails: bool| {
                let counter = pulled.clone();
                vec![
                    Check::new("Swap", move |_| {
                        if swap_fails { vec![Problem::error("swap is on", "swapoff -a")] } else { vec![] }
                    }),
                    Check::new("ImagePull", move |_| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        vec![Problem::info("pulled")]
                    })
                    .after_others(),
                ]
            };
        let report = run(&env, &checks(true), &IgnoreList::default());
        assert_eq!(pulled.load(Ordering::SeqCst), 0, "pulled although Swap failed");
        assert_eq!(report.findings().len(), 1);
        // An ignored error does not hold the pull back.
        let report = run(&env, &checks(true), &IgnoreList::parse(&["Swap".into()]).unwrap());
        assert_eq!(pulled.load(Ordering::SeqCst), 1);
        assert_eq!(report.findings().last().unwrap().name, "ImagePull");
        run(&env, &checks(false), &IgnoreList::default());
        assert_eq!(pulled.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn names_match_case_insensitively_with_families() {
        for ok in ["swap", "NUMCPU", "port-6443", "FileAvailable--etc-kubernetes-kubelet.conf", "dirwritable", "all"] {
            assert!(check_ignore_name(ok).is_ok(), "{ok}");
        }
        for bad in ["Swapp", "Port-", "FileAvailable-", "", "ports-6443", "é"] {
            assert!(check_ignore_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ignore_list_demotes_named_errors_and_all_demotes_everything() {
        let list = IgnoreList::parse(&["swap".into(), " Port-6443".into()]).unwrap();
        assert!(list.covers("Swap") && list.covers("port-6443") && !list.covers("NumCPU"));
        assert!(IgnoreList::parse(&["ALL".into()]).unwrap().covers("anything"));
        assert!(!IgnoreList::parse(&["".into()]).unwrap().covers("Swap"));
        let err = IgnoreList::parse(&["Swap".into(), "Nope".into(), "Bad".into()]).unwrap_err();
        assert!(err.contains("`Nope`") && err.contains("`Bad`"), "{err}");
    }
}
