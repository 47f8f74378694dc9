//! Preflight checks (kubeadm names and severities) plus the ones first boots need.

pub fn phase(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("preflight checks"))
}
