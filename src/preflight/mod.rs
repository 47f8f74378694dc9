//! Preflight checks (kubeadm names and severities) plus the ones first boots need.

pub fn phase(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("preflight checks"))
}

/// Accepts a name for the ignore list: `all` or a known check name (case-insensitive).
pub fn check_ignore_name(name: &str) -> Result<(), String> {
    if name.eq_ignore_ascii_case("all") || is_known_check(name) {
        return Ok(());
    }
    Err(format!("`{name}` is not a preflight check name (kubeadm names such as Swap, NumCPU, Port-6443, or all)"))
}

/// Check names as kubeadm spells them; parameterised families (Port-N, FileExisting-x,
/// FileAvailable--path, DirAvailable--path, FileContent--path) match by prefix.
pub fn is_known_check(name: &str) -> bool {
    const FIXED: &[&str] = &[
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
    ];
    const PREFIXES: &[&str] = &["Port-", "FileExisting-", "FileAvailable--", "DirAvailable--", "FileContent--"];
    FIXED.iter().any(|f| f.eq_ignore_ascii_case(name))
        || PREFIXES.iter().any(|p| name.len() > p.len() && name[..p.len()].eq_ignore_ascii_case(p))
}
