//! `kubeboot version`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format: text or json.
    #[arg(short, long, default_value = "text")]
    pub output: String,
}

pub fn run(a: VersionArgs) -> Result<ExitCode> {
    let v = env!("CARGO_PKG_VERSION");
    let minors = crate::config::versions::SUPPORTED_MINORS;
    match a.output.as_str() {
        "json" => println!(
            "{}",
            serde_json::json!({"kubeboot": v, "kubernetes": {"minMinor": minors.start(), "maxMinor": minors.end()}})
        ),
        "text" => println!("kubeboot {v} (Kubernetes 1.{}–1.{})", minors.start(), minors.end()),
        other => anyhow::bail!("unknown output format `{other}`; use text or json"),
    }
    Ok(ExitCode::SUCCESS)
}
