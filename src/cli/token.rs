//! `kubeboot token`: bootstrap tokens, as `kubeadm token`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::Global;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token on the cluster.
    Create {
        /// Token to create; generated when absent.
        token: Option<String>,
        /// Time to live (Go duration, `0s` never expires).
        #[arg(long, default_value = "24h0m0s")]
        ttl: String,
        /// Print the join command and a kubeboot user-data snippet.
        #[arg(long)]
        print_join_command: bool,
        /// kubeconfig to use.
        #[arg(long, default_value = "/etc/kubernetes/admin.conf")]
        kubeconfig: String,
    },
    /// List bootstrap tokens.
    List {
        #[arg(long, default_value = "/etc/kubernetes/admin.conf")]
        kubeconfig: String,
    },
    /// Delete bootstrap tokens by id or full token.
    Delete {
        tokens: Vec<String>,
        #[arg(long, default_value = "/etc/kubernetes/admin.conf")]
        kubeconfig: String,
    },
    /// Generate a random token locally and print it.
    Generate,
}

pub fn run(_g: &Global, _c: TokenCommand) -> Result<ExitCode> {
    Err(crate::error::not_implemented("token"))
}
