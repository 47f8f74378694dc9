//! `kubeboot certs`: inspect certificates, print the CA pin, make a certificate key.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::Global;

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Show expiry of every kubeadm certificate under the root.
    CheckExpiration,
    /// Print a new random certificate key (64 hex characters) for upload-certs.
    CertificateKey,
    /// Print the `sha256:` pin of the cluster CA (for join.caCertHashes).
    CaHash,
}

pub fn run(_g: &Global, _c: CertsCommand) -> Result<ExitCode> {
    Err(crate::error::not_implemented("certs"))
}
