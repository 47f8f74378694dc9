//! Talking to systemd about the kubelet: daemon-reload, enable, (re)start, stop.

use anyhow::Result;

use crate::workflow::Ctx;

/// Install/refresh the kubelet drop-in, `daemon-reload`, enable and restart `kubelet.service`.
pub fn start_kubelet(_ctx: &Ctx) -> Result<()> {
    Err(crate::error::not_implemented("starting the kubelet through systemd"))
}
