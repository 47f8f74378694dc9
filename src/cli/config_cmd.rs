//! `kubeboot config validate|defaults|schema|images`.

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
    /// The container images a control-plane node runs (kubeadm config images list|pull).
    #[command(subcommand)]
    Images(ImagesCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Print the images, one per line: what to pre-load into an OS image for nodes that
    /// cannot reach a registry.
    List(ImagesArgs),
    /// Pull the images through the container runtime's CRI socket (node.criSocket or the one
    /// runtime found on the host), skipping those already present unless the policy is Always.
    Pull(ImagesArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    /// User-data to take the version, image repository and addons from.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Without --config: the Kubernetes version (default: kubeboot's default version).
    #[arg(long, value_name = "VERSION", conflicts_with = "config")]
    kubernetes_version: Option<String>,
}

pub fn run(g: &Global, c: ConfigCommand) -> Result<ExitCode> {
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
        ConfigCommand::Images(ImagesCommand::List(a)) => {
            for image in images_node(g, &a)?.control_plane_images() {
                println!("{image}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Images(ImagesCommand::Pull(a)) => pull(g, &a),
    }
}

/// The node the image list is for: the given user-data, else a default control plane.
fn images_node(g: &Global, a: &ImagesArgs) -> Result<crate::config::Resolved> {
    use crate::error::{Exit, coded};
    let cfg = match (&a.config, &a.kubernetes_version) {
        (Some(path), _) => crate::config::load_file(path),
        (None, Some(v)) => crate::config::load(
            "--kubernetes-version",
            format!("apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\ncluster:\n  kubernetesVersion: \"{v}\"\n").as_bytes(),
        ),
        (None, None) => Ok(crate::config::defaults(crate::config::Role::ControlPlane)),
    }
    .map_err(|d| coded(Exit::InvalidInput, d.to_string()))?;
    let id = crate::config::HostIdentity::detect(&g.host());
    crate::config::Resolved::new(cfg, &id).map_err(|e| coded(Exit::InvalidInput, format!("{e:#}")))
}

fn pull(g: &Global, a: &ImagesArgs) -> Result<ExitCode> {
    use crate::config::types::PullPolicy;
    use crate::preflight::images::pull_one;
    let node = images_node(g, a)?;
    let host = g.host();
    // Pulling changes the runtime's image store, which a run's preflight also pulls into.
    let _lock = crate::workflow::lock::HostLock::acquire(&host, "config images pull")?;
    let (_, socket) =
        crate::host::cri::node_endpoint(&host, node.cfg.node.cri_socket.as_deref()).map_err(anyhow::Error::msg)?;
    // Never means "do not pull": the command pulls anyway, as kubeadm's does.
    let policy = match node.cfg.node.image_pull_policy {
        PullPolicy::Always => PullPolicy::Always,
        _ => PullPolicy::IfNotPresent,
    };
    let mut failed = false;
    for image in node.control_plane_images() {
        match crate::workflow::block_on(pull_one(&socket, &image, policy)) {
            Ok(true) => println!("[config/images] Pulled {image}"),
            Ok(false) => println!("[config/images] Present {image}"),
            Err(p) => {
                failed = true;
                eprintln!("[config/images] {}", p.message);
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
