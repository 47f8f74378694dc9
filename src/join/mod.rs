//! kubeadm join: token discovery with CA pinning, TLS bootstrap, etcd member join.

pub fn phase_discovery(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("join discovery phase"))
}

pub fn phase_control_plane_prepare(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("join control-plane-prepare phase"))
}

pub fn phase_kubelet_start(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("join kubelet-start phase"))
}

pub fn phase_etcd_join(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("join etcd-join phase"))
}

pub fn phase_kubelet_wait_bootstrap(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("join kubelet-wait-bootstrap phase"))
}

pub fn phase_mark_control_plane(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("join mark-control-plane phase"))
}

pub fn phase_wait_control_plane(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("join wait-control-plane phase"))
}
