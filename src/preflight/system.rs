//! SystemVerification: what kubeadm's system-validators check — the OS, the kernel version,
//! the kernel build options containers need, and the cgroup controllers the kubelet uses.

use super::{Check, Env, Problem, Severity};
use crate::host::facts::{self, Cgroups};

/// Kernel options every node needs (system-validators `DefaultSysSpec`); a name with an alias
/// is satisfied by either.
const REQUIRED_KERNEL_OPTIONS: &[&[&str]] = &[
    &["NAMESPACES"],
    &["NET_NS"],
    &["PID_NS"],
    &["IPC_NS"],
    &["UTS_NS"],
    &["CGROUPS"],
    &["CGROUP_CPUACCT"],
    &["CGROUP_DEVICE"],
    &["CGROUP_FREEZER"],
    &["CGROUP_SCHED"],
    &["CPUSETS"],
    &["MEMCG"],
    &["INET"],
    &["EXT4_FS"],
    &["PROC_FS"],
    &["NETFILTER_XT_TARGET_REDIRECT", "IP_NF_TARGET_REDIRECT"],
    &["NETFILTER_XT_MATCH_COMMENT"],
    &["FAIR_GROUP_SCHED"],
];

const CGROUPS_V2: &[&str] = &["cpu", "cpuset", "devices", "freezer", "memory", "pids"];
const CGROUPS_V1: &[&str] = &["cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"];
const CGROUPS_OPTIONAL: &[&str] = &["hugetlb"];

pub fn system_verification() -> Check {
    Check::new("SystemVerification", |env| {
        let mut problems = vec![];
        match facts::os_type(env.host).as_deref() {
            Some("Linux") => {}
            other => problems.push(Problem::error(
                format!("unsupported operating system {:?}", other.unwrap_or("(unknown)")),
                "Kubernetes nodes made by kubeadm run Linux",
            )),
        }
        match facts::kernel_release(env.host) {
            Some(release) => {
                problems.extend(kernel_version(env, &release));
                problems.extend(kernel_config(env, &release));
            }
            None => problems.push(Problem::error(
                "cannot read the kernel release (/proc/sys/kernel/osrelease)",
                "check that /proc is mounted",
            )),
        }
        problems.extend(cgroups(env));
        problems
    })
}

/// Kubernetes 1.32 raised the minimum to the 4.19 LTS kernel (system-validators 1.9); 1.34 made
/// a too-old kernel a warning (system-validators 1.10.1, PR #131919). 1.31 needs 3.10.
fn kernel_version(env: &Env, release: &str) -> Option<Problem> {
    let v = &env.node.version;
    let min = if v.at_least(32) { (4, 19) } else { (3, 10) };
    let mut nums = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().ok());
    let (major, minor) = (nums.next().flatten()?, nums.next().flatten()?);
    if (major, minor) >= min {
        return None;
    }
    let what = format!("unsupported kernel release: {release} (Kubernetes {v} needs {}.{} or newer)", min.0, min.1);
    let fix = "boot a newer LTS kernel";
    Some(if v.at_least(34) { Problem::warning(what, fix) } else { Problem::error(what, fix) })
}

fn kernel_config(env: &Env, release: &str) -> Vec<Problem> {
    let Some((path, options)) = facts::kernel_config(env.host, release) else {
        return vec![Problem::error(
            format!(
                "failed to parse kernel config: no config path in [{}] is available",
                facts::kernel_config_paths(release).join(" ")
            ),
            format!(
                "load the `configs` module (modprobe configs) or install the kernel's config as /boot/config-{release}"
            ),
        )];
    };
    let state = |names: &[&str]| names.iter().find_map(|n| options.get(&format!("CONFIG_{n}")).copied());
    let missing: Vec<String> = REQUIRED_KERNEL_OPTIONS
        .iter()
        .filter(|names| !matches!(state(names), Some('y' | 'm')))
        .map(|names| format!("CONFIG_{}", names[0]))
        .collect();
    if missing.is_empty() {
        return vec![];
    }
    vec![Problem::error(
        format!("unexpected kernel config ({path}): {} not set", missing.join(" ")),
        "boot a kernel built with the options containers need",
    )]
}

fn cgroups(env: &Env) -> Vec<Problem> {
    let (controllers, required) = match facts::cgroups(env.host) {
        Ok(Cgroups::V2 { controllers }) => (controllers, CGROUPS_V2),
        Ok(Cgroups::V1 { controllers }) => (controllers, CGROUPS_V1),
        Err(e) => {
            return vec![Problem::error(
                format!("cannot inspect cgroups: {e}"),
                "check that /sys/fs/cgroup is mounted",
            )];
        }
    };
    let mut problems = vec![];
    if required == CGROUPS_V1 {
        problems.push(Problem::warning(
            "cgroups v1 support is in maintenance mode, please migrate to cgroups v2",
            "boot with systemd.unified_cgroup_hierarchy=1 (the kubelet of Kubernetes 1.35 refuses cgroup v1)",
        ));
    }
    for (wanted, severity) in [(required, Severity::Error), (CGROUPS_OPTIONAL, Severity::Warning)] {
        let m: Vec<&str> = wanted.iter().copied().filter(|c| !controllers.iter().any(|have| have == c)).collect();
        if m.is_empty() {
            continue;
        }
        let what = format!(
            "missing {} cgroups: {}",
            if severity == Severity::Error { "required" } else { "optional" },
            m.join(" ")
        );
        let fix = "enable the controllers on the kernel command line (cgroup_enable=...) or in the cgroup hierarchy";
        problems.push(if severity == Severity::Error {
            Problem::error(what, fix)
        } else {
            Problem::warning(what, fix)
        });
    }
    problems
}
