//! Pure rendering of the files kubeadm writes: kubeconfigs, static Pod manifests, kubelet files.

pub fn phase_kubeconfig(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("kubeconfig phase"))
}

pub fn phase_etcd(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("etcd phase"))
}

pub fn phase_control_plane(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("control-plane phase"))
}

pub fn phase_kubelet_start(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("kubelet-start phase"))
}
