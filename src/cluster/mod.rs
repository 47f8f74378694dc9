//! Cluster-side steps through the Kubernetes API (kube-rs): waits, upload-config, tokens, addons.

pub fn phase_wait_control_plane(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("wait-control-plane phase"))
}

pub fn phase_upload_config(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("upload-config phase"))
}

pub fn phase_upload_certs(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("upload-certs phase"))
}

pub fn phase_mark_control_plane(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("mark-control-plane phase"))
}

pub fn phase_bootstrap_token(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("bootstrap-token phase"))
}

pub fn phase_kubelet_finalize(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("kubelet-finalize phase"))
}

pub fn phase_addon(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("addon phase"))
}
