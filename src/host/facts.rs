//! Facts about the machine, read through the rooted `Host`: /proc, /sys and /etc come from
//! `--root`, so tests describe a machine with a few fixture files. Nothing here changes the host.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use super::Host;

/// `uname -r`, as the kernel reports it in /proc.
pub fn kernel_release(host: &Host) -> Option<String> {
    read_trimmed(host, "/proc/sys/kernel/osrelease")
}

/// `uname -s`.
pub fn os_type(host: &Host) -> Option<String> {
    read_trimmed(host, "/proc/sys/kernel/ostype")
}

/// The number of online CPUs, from the kernel's range list (`0-1,4`).
pub fn online_cpus(host: &Host) -> Option<usize> {
    let list = read_trimmed(host, "/sys/devices/system/cpu/online")?;
    let mut n = 0;
    for part in list.split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().ok()?.checked_sub(a.parse::<usize>().ok()?)? + 1,
            None => part.parse::<usize>().map(|_| 1).ok()?,
        };
    }
    Some(n)
}

/// Total usable RAM (`MemTotal`, what sysinfo(2) calls totalram), in bytes.
pub fn mem_total_bytes(host: &Host) -> Option<u64> {
    let meminfo = host.read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One active swap area from /proc/swaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapArea {
    pub name: String,
    pub size_kib: u64,
}

/// Active swap areas; a missing /proc/swaps means no swap support, hence none.
pub fn swap_areas(host: &Host) -> Vec<SwapArea> {
    let Ok(text) = host.read_to_string("/proc/swaps") else {
        return vec![];
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| SwapArea { name: f[0].to_string(), size_kib: f[2].parse().unwrap_or(0) })
        })
        .collect()
}

/// Where kernel configs live, in the order system-validators searches them.
pub fn kernel_config_paths(release: &str) -> Vec<String> {
    vec![
        "/proc/config.gz".into(),
        format!("/boot/config-{release}"),
        format!("/usr/src/linux-{release}/.config"),
        "/usr/src/linux/.config".into(),
        format!("/usr/lib/modules/{release}/config"),
        format!("/usr/lib/ostree-boot/config-{release}"),
        format!("/usr/lib/kernel/config-{release}"),
        format!("/usr/src/linux-headers-{release}/.config"),
        format!("/lib/modules/{release}/build/.config"),
    ]
}

/// The kernel build configuration: `CONFIG_X` → `y`/`m`/`n`, and the file it came from.
/// `None` when no config file exists (the `configs` module would have to be loaded).
pub fn kernel_config(host: &Host, release: &str) -> Option<(String, BTreeMap<String, char>)> {
    for path in kernel_config_paths(release) {
        let Ok(bytes) = host.read(&path) else { continue };
        let text = if path.ends_with(".gz") {
            let mut s = String::new();
            if flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut s).is_err() {
                continue;
            }
            s
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let options = text
            .lines()
            .filter_map(|l| {
                let (k, v) = l.trim().split_once('=')?;
                let v = v.chars().next()?;
                (k.starts_with("CONFIG_") && matches!(v, 'y' | 'm' | 'n')).then(|| (k.to_string(), v))
            })
            .collect();
        return Some((path, options));
    }
    None
}

/// How control groups are set up, the way the kubelet and runc see it: /sys/fs/cgroup itself
/// is either the cgroup2 hierarchy or a tmpfs of v1 hierarchies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroups {
    V2 { controllers: Vec<String> },
    V1 { controllers: Vec<String> },
}

pub fn cgroups(host: &Host) -> Result<Cgroups, String> {
    let mounts = host.read_to_string("/proc/mounts").map_err(|e| format!("cannot read /proc/mounts: {e}"))?;
    let root_fs = mounts.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() >= 3 && f[1] == "/sys/fs/cgroup").then(|| f[2].to_string())
    });
    if root_fs.as_deref() == Some("cgroup2") {
        let text = host
            .read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .map_err(|e| format!("cannot read /sys/fs/cgroup/cgroup.controllers: {e}"))?;
        // devices (eBPF) and freezer (cgroup.freeze) are implicit in v2 and never listed.
        let mut controllers: Vec<String> = text.split_whitespace().map(String::from).collect();
        controllers.push("devices".into());
        if cgroup_v2_has_freezer(host) {
            controllers.push("freezer".into());
        }
        return Ok(Cgroups::V2 { controllers });
    }
    let text = host.read_to_string("/proc/cgroups").map_err(|e| format!("cannot read /proc/cgroups: {e}"))?;
    let controllers = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] != "0").then(|| f[0].to_string())
        })
        .collect();
    Ok(Cgroups::V1 { controllers })
}

/// The v2 freezer exists when non-root cgroups have `cgroup.freeze` (Linux 5.2+). Looked up in
/// existing child cgroups instead of creating one, as system-validators does.
fn cgroup_v2_has_freezer(host: &Host) -> bool {
    let Ok(entries) = std::fs::read_dir(host.path("/sys/fs/cgroup")) else {
        return false;
    };
    entries.flatten().any(|e| e.path().join("cgroup.freeze").exists())
}

/// Whether a kernel module is available: built in (kernel config `y`, modules.builtin) or loaded.
pub fn module_available(host: &Host, module: &str, config: Option<&BTreeMap<String, char>>, config_key: &str) -> bool {
    if config.and_then(|c| c.get(config_key)) == Some(&'y') {
        return true;
    }
    let loaded = host
        .read_to_string("/proc/modules")
        .map(|m| m.lines().any(|l| l.split_whitespace().next() == Some(module)))
        .unwrap_or(false);
    loaded || host.exists(format!("/sys/module/{module}"))
}

/// Filesystem types the kernel supports right now (/proc/filesystems).
pub fn filesystems(host: &Host) -> Vec<String> {
    host.read_to_string("/proc/filesystems")
        .map(|t| t.lines().filter_map(|l| l.split_whitespace().last().map(String::from)).collect())
        .unwrap_or_default()
}

/// Whether a process with this command name (`/proc/<pid>/comm`) is running.
pub fn process_running(host: &Host, comm: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(host.path("/proc")) else {
        return false;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .any(|e| std::fs::read_to_string(e.path().join("comm")).map(|c| c.trim() == comm).unwrap_or(false))
}

/// systemd unit directories, highest precedence first.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// The unit file for `unit` (e.g. `kubelet.service`), if one is installed.
pub fn unit_file(host: &Host, unit: &str) -> Option<String> {
    UNIT_DIRS.iter().map(|d| format!("{d}/{unit}")).find(|p| host.exists(p))
}

/// The first executable named `exe` in the colon-separated `path_var`, looked up under the root.
pub fn find_executable(host: &Host, exe: &str, path_var: &str) -> Option<String> {
    path_var.split(':').filter(|d| d.starts_with('/')).map(|d| format!("{}/{exe}", d.trim_end_matches('/'))).find(|p| {
        std::fs::metadata(host.path(p)).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
}

/// Addresses /etc/hosts gives for `name`.
pub fn hosts_file_lookup(host: &Host, name: &str) -> Vec<IpAddr> {
    let Ok(text) = host.read_to_string("/etc/hosts") else {
        return vec![];
    };
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let ip: IpAddr = f.next()?.parse().ok()?;
            f.any(|n| n.eq_ignore_ascii_case(name)).then_some(ip)
        })
        .collect()
}

/// The deepest existing directory at or above `node_path`: where creating it would start.
pub fn nearest_existing_dir(host: &Host, node_path: &str) -> String {
    let mut p = Path::new(node_path);
    loop {
        if std::fs::metadata(host.path(p)).map(|m| m.is_dir()).unwrap_or(false) {
            return p.to_string_lossy().into_owned();
        }
        match p.parent() {
            Some(parent) => p = parent,
            None => return "/".into(),
        }
    }
}

/// Free and total bytes of the filesystem holding `node_path` (or its nearest existing parent).
pub fn disk_space(host: &Host, node_path: &str) -> std::io::Result<(u64, u64)> {
    let dir = nearest_existing_dir(host, node_path);
    let st = nix::sys::statvfs::statvfs(&host.path(&dir)).map_err(std::io::Error::from)?;
    let unit = st.fragment_size() as u64;
    Ok((st.blocks_available() as u64 * unit, st.blocks() as u64 * unit))
}

/// Whether a Unix socket exists at `node_path`.
pub fn is_socket(host: &Host, node_path: &str) -> bool {
    std::fs::metadata(host.path(node_path)).map(|m| m.file_type().is_socket()).unwrap_or(false)
}

fn read_trimmed(host: &Host, node_path: &str) -> Option<String> {
    host.read_to_string(node_path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(files: &[(&str, &str)]) -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        for (p, c) in files {
            let full = host.path(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, c).unwrap();
        }
        (dir, host)
    }

    #[test]
    fn reads_cpu_ranges_memory_and_swap() {
        let (_d, host) = fixture(&[
            ("/sys/devices/system/cpu/online", "0-3,6,8-9\n"),
            ("/proc/meminfo", "MemTotal:        1024000 kB\nMemFree: 1 kB\n"),
            (
                "/proc/swaps",
                "Filename\tType\tSize\tUsed\tPriority\n/swapfile file 2097148 0 -2\n/dev/zram0 partition 1024 0 100\n",
            ),
        ]);
        assert_eq!(online_cpus(&host), Some(7));
        assert_eq!(mem_total_bytes(&host), Some(1024000 * 1024));
        let swaps = swap_areas(&host);
        assert_eq!(swaps.len(), 2);
        assert_eq!(swaps[0], SwapArea { name: "/swapfile".into(), size_kib: 2097148 });
    }

    #[test]
    fn cgroup_mode_follows_the_mount_at_sys_fs_cgroup() {
        // A hybrid host: cgroup2 only at /sys/fs/cgroup/unified, so the kubelet runs v1.
        let (_d, host) = fixture(&[
            (
                "/proc/mounts",
                "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n",
            ),
            ("/proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\nhugetlb\t0\t1\t0\n"),
        ]);
        assert_eq!(cgroups(&host).unwrap(), Cgroups::V1 { controllers: vec!["cpu".into()] });
        let (_d, host) = fixture(&[
            ("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"),
            ("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu memory pids\n"),
            ("/sys/fs/cgroup/system.slice/cgroup.freeze", "0\n"),
        ]);
        let Cgroups::V2 { controllers } = cgroups(&host).unwrap() else { panic!("expected v2") };
        assert_eq!(controllers, ["cpuset", "cpu", "memory", "pids", "devices", "freezer"]);
    }

    #[test]
    fn finds_executables_only_when_executable() {
        let (_d, host) = fixture(&[("/usr/bin/mount", "#!/bin/sh\n"), ("/usr/sbin/nsenter", "")]);
        std::fs::set_permissions(host.path("/usr/bin/mount"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_executable(&host, "mount", "/usr/sbin:/usr/bin").as_deref(), Some("/usr/bin/mount"));
        assert_eq!(find_executable(&host, "nsenter", "/usr/sbin:/usr/bin"), None);
    }

    #[test]
    fn hosts_file_and_nearest_dir() {
        let (_d, host) = fixture(&[("/etc/hosts", "127.0.0.1 localhost\n10.0.0.5 cp-1 cp-1.example # node\n")]);
        assert_eq!(hosts_file_lookup(&host, "CP-1"), vec!["10.0.0.5".parse::<IpAddr>().unwrap()]);
        assert!(hosts_file_lookup(&host, "node").is_empty());
        assert_eq!(nearest_existing_dir(&host, "/etc/kubernetes/pki"), "/etc");
        assert_eq!(nearest_existing_dir(&host, "/var/lib/etcd"), "/");
    }
}
