//! DiskSpace: room for etcd's database and for the kubelet's images and pods (warnings).

use super::{Check, Problem};
use crate::config::resolve::KUBELET_DIR;
use crate::host::facts;

/// etcd's default backend quota (`--quota-backend-bytes`): the database may grow to this.
const ETCD_MIN_FREE: u64 = 2 << 30;
/// The kubelet's default hard eviction threshold for the image filesystem (imagefs.available<15%).
const KUBELET_MIN_FREE_PERCENT: u64 = 15;

pub fn disk_space(etcd_data_dir: Option<String>) -> Check {
    Check::new("DiskSpace", move |env| {
        let mut problems = vec![];
        if let Some(dir) = &etcd_data_dir
            && let Ok((free, _)) = facts::disk_space(env.host, dir)
            && free < ETCD_MIN_FREE
        {
            problems.push(Problem::warning(
                format!("only {} free for {dir}; etcd's database may grow to 2 GiB", gib(free)),
                "give etcd a larger filesystem (it is best on its own fast disk)",
            ));
        }
        if let Ok((free, total)) = facts::disk_space(env.host, KUBELET_DIR)
            && total > 0
            && free * 100 / total < KUBELET_MIN_FREE_PERCENT
        {
            problems.push(Problem::warning(
                format!(
                    "only {} of {} ({}%) free for {KUBELET_DIR}: below 15% the kubelet starts evicting pods and deleting images",
                    gib(free),
                    gib(total),
                    free * 100 / total
                ),
                "free space or grow the filesystem",
            ));
        }
        problems
    })
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}
