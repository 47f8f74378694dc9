//! `kubeboot config validate|defaults|schema`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::Global;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate user-data files; every problem is reported with file:line:column.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a NodeConfig with every default filled in.
    Defaults {
        /// Role to print defaults for.
        #[arg(long, default_value = "control-plane")]
        role: String,
    },
    /// Print the JSON Schema of NodeConfig.
    Schema,
}

pub fn run(_g: &Global, c: ConfigCommand) -> Result<ExitCode> {
    match c {
        ConfigCommand::Validate { files } => {
            let mut failed = false;
            for f in &files {
                match crate::config::load_file(f) {
                    Ok(_) => println!("{}: valid", f.display()),
                    Err(d) => {
                        failed = true;
                        eprint!("{d}");
                    }
                }
            }
            Ok(if failed { ExitCode::from(crate::error::Exit::InvalidInput as u8) } else { ExitCode::SUCCESS })
        }
        ConfigCommand::Defaults { role } => {
            let role: crate::config::Role =
                serde_json::from_value(serde_json::Value::String(role.clone())).map_err(|_| {
                    anyhow::anyhow!("unknown role `{role}`; use control-plane, control-plane-join or worker")
                })?;
            print!("{}", serde_saphyr::to_string(&crate::config::defaults(role))?);
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Schema => {
            println!("{}", crate::config::schema_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}
