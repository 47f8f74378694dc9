//! The PKI: the certificate table (reference §2.3), key generation, CA reuse, CA pin hash.

pub fn phase(_ctx: &mut crate::workflow::Ctx, _sub: Option<&str>) -> anyhow::Result<()> {
    Err(crate::error::not_implemented("certs phase"))
}
