//! Talking to systemd about the kubelet: daemon-reload, enable, (re)start — through `systemctl`,
//! behind a small trait so tests can record the calls instead of touching the machine's systemd.

use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::Host;
use crate::workflow::Ctx;

pub const KUBELET_UNIT: &str = "kubelet.service";
/// Where kubelet packages put the binary.
const KUBELET_BINARIES: &[&str] = &["/usr/bin/kubelet", "/usr/local/bin/kubelet"];
/// systemd's unit search path for system units (admin, runtime, vendor).
const UNIT_DIRS: &[&str] =
    &["/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];

/// The one operation kubeboot needs from systemd: run a `systemctl` verb.
pub trait Systemctl {
    fn systemctl(&self, args: &[&str]) -> Result<()>;
}

/// The machine's systemd, through `/usr/bin/systemctl` (an absolute path: no PATH lookups).
pub struct RealSystemctl;

impl Systemctl for RealSystemctl {
    fn systemctl(&self, args: &[&str]) -> Result<()> {
        let out = std::process::Command::new("/usr/bin/systemctl")
            .args(args)
            .output()
            .with_context(|| format!("running systemctl {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "systemctl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

/// Records every call; for tests, and for a `--root` that is not this machine's `/`.
#[derive(Default)]
pub struct RecordingSystemctl {
    pub calls: Mutex<Vec<String>>,
}

impl Systemctl for RecordingSystemctl {
    fn systemctl(&self, args: &[&str]) -> Result<()> {
        self.calls.lock().expect("not poisoned").push(args.join(" "));
        Ok(())
    }
}

/// The systemd to use for this host: the real one only when the root is `/`.
pub fn for_host(host: &Host) -> Box<dyn Systemctl> {
    if host.is_live() { Box::new(RealSystemctl) } else { Box::new(PrintingSystemctl) }
}

/// For a non-live root: says what it would do, so `--root` runs never restart the machine's kubelet.
struct PrintingSystemctl;

impl Systemctl for PrintingSystemctl {
    fn systemctl(&self, args: &[&str]) -> Result<()> {
        println!("[systemd] --root is not /: not running `systemctl {}`", args.join(" "));
        Ok(())
    }
}

/// Install step of kubeadm `TryStartKubelet`: `daemon-reload`, enable, restart `kubelet.service`.
pub fn start_kubelet(ctx: &Ctx) -> Result<()> {
    start_kubelet_with(&ctx.host, for_host(&ctx.host).as_ref())
}

pub fn start_kubelet_with(host: &Host, sd: &dyn Systemctl) -> Result<()> {
    require_kubelet(host)?;
    sd.systemctl(&["daemon-reload"])?;
    sd.systemctl(&["enable", KUBELET_UNIT])?;
    sd.systemctl(&["restart", KUBELET_UNIT]).context("the kubelet did not start; see `journalctl -xeu kubelet`")
}

/// kubeadm `TryRestartKubelet` (kubelet-finalize): restart only.
pub fn restart_kubelet_with(host: &Host, sd: &dyn Systemctl) -> Result<()> {
    require_kubelet(host)?;
    sd.systemctl(&["restart", KUBELET_UNIT]).context("restarting the kubelet; see `journalctl -xeu kubelet`")
}

/// kubeadm reset: stop the kubelet before its files go, so it does not recreate static Pods.
pub fn stop_kubelet_with(sd: &dyn Systemctl) -> Result<()> {
    sd.systemctl(&["stop", KUBELET_UNIT])
}

/// A missing binary or unit is an install problem, said plainly instead of a systemctl error.
fn require_kubelet(host: &Host) -> Result<()> {
    if !KUBELET_BINARIES.iter().any(|p| host.exists(p)) {
        bail!(
            "no kubelet binary at {}; install the kubelet package for your Kubernetes version (it also ships {KUBELET_UNIT})",
            KUBELET_BINARIES.join(" or ")
        );
    }
    if !UNIT_DIRS.iter().any(|d| host.exists(format!("{d}/{KUBELET_UNIT}"))) {
        bail!("no {KUBELET_UNIT} unit in {}; install the kubelet package, or add the unit file", UNIT_DIRS.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_with(files: &[&str]) -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        for f in files {
            host.write_atomic(f, b"x", 0o755).unwrap();
        }
        (dir, host)
    }

    #[test]
    fn start_reloads_enables_and_restarts_in_order() {
        let (_d, host) = host_with(&["/usr/bin/kubelet", "/lib/systemd/system/kubelet.service"]);
        let sd = RecordingSystemctl::default();
        start_kubelet_with(&host, &sd).unwrap();
        assert_eq!(*sd.calls.lock().unwrap(), ["daemon-reload", "enable kubelet.service", "restart kubelet.service"]);
        restart_kubelet_with(&host, &sd).unwrap();
        assert_eq!(sd.calls.lock().unwrap().last().unwrap(), "restart kubelet.service");
    }

    #[test]
    fn missing_binary_or_unit_is_a_clear_error_and_calls_nothing() {
        let sd = RecordingSystemctl::default();
        let (_d, host) = host_with(&["/lib/systemd/system/kubelet.service"]);
        let e = start_kubelet_with(&host, &sd).unwrap_err().to_string();
        assert!(e.contains("no kubelet binary at /usr/bin/kubelet"), "{e}");
        let (_d, host) = host_with(&["/usr/local/bin/kubelet"]);
        let e = start_kubelet_with(&host, &sd).unwrap_err().to_string();
        assert!(e.contains("no kubelet.service unit"), "{e}");
        assert!(sd.calls.lock().unwrap().is_empty());
    }
}
