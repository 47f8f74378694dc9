//! NumCPU and Mem: the control-plane minimums (kubeadm `ControlPlaneNumCPU`, `ControlPlaneMem`).

use super::{Check, Problem};
use crate::host::facts;

pub const CONTROL_PLANE_NUM_CPU: usize = 2;
pub const CONTROL_PLANE_MEM_MB: u64 = 1700;

pub fn num_cpu() -> Check {
    Check::new("NumCPU", |env| match facts::online_cpus(env.host) {
        Some(n) if n < CONTROL_PLANE_NUM_CPU => vec![Problem::error(
            format!("the number of available CPUs {n} is less than the required {CONTROL_PLANE_NUM_CPU}"),
            "give this machine at least 2 CPUs; a control-plane node needs them",
        )],
        Some(_) => vec![],
        None => vec![Problem::error(
            "cannot count the online CPUs (/sys/devices/system/cpu/online is unreadable)",
            "check that /sys is mounted",
        )],
    })
}

pub fn mem() -> Check {
    Check::new("Mem", |env| match facts::mem_total_bytes(env.host) {
        Some(bytes) if bytes / 1024 / 1024 < CONTROL_PLANE_MEM_MB => vec![Problem::error(
            format!("the system RAM ({} MB) is less than the minimum {CONTROL_PLANE_MEM_MB} MB", bytes / 1024 / 1024),
            "give this machine at least 2 GB of memory",
        )],
        Some(_) => vec![],
        None => vec![Problem::error("cannot read MemTotal from /proc/meminfo", "check that /proc is mounted")],
    })
}
