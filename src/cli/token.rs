//! `kubeboot token`: bootstrap tokens, as `kubeadm token`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use k8s_openapi::api::core::v1::Secret;

use super::Global;
use crate::cluster::bootstraptoken::{self, Token};
use crate::cluster::{ApiClient, KUBE_SYSTEM, joininfo};
use crate::config::BootstrapToken;
use crate::config::duration::GoDuration;

/// How long one token command may keep retrying the API server.
const API_BUDGET: Duration = Duration::from_secs(60);

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token on the cluster.
    Create {
        /// Token to create; generated when absent.
        token: Option<String>,
        /// Time to live (Go duration, `0s` never expires).
        #[arg(long, default_value = "24h0m0s")]
        ttl: String,
        /// Description stored with the token.
        #[arg(long)]
        description: Option<String>,
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
        #[arg(required = true)]
        tokens: Vec<String>,
        #[arg(long, default_value = "/etc/kubernetes/admin.conf")]
        kubeconfig: String,
    },
    /// Generate a random token locally and print it.
    Generate,
}

pub fn run(g: &Global, c: TokenCommand) -> Result<ExitCode> {
    let host = g.host();
    match c {
        TokenCommand::Generate => println!("{}", Token::generate().expose()),
        TokenCommand::Create { token, ttl, description, print_join_command, kubeconfig } => {
            let token = match token {
                Some(t) => Token::parse(&t)?,
                None => Token::generate(),
            };
            let spec = BootstrapToken {
                token: None,
                description,
                ttl: GoDuration::parse(&ttl).map_err(anyhow::Error::msg).context("--ttl")?,
                ..Default::default()
            };
            let client_host = host.clone();
            crate::workflow::block_on(async {
                let client = ApiClient::from_kubeconfig(&client_host, &kubeconfig, API_BUDGET).await?;
                let secret = bootstraptoken::token_secret(&spec, &token, jiff::Timestamp::now());
                if client.create(&secret).await?.is_none() {
                    anyhow::bail!("a token with id {} already exists; delete it first or choose another", token.id);
                }
                if print_join_command {
                    print_join(&host, &kubeconfig, &client, &token).await?;
                } else {
                    println!("{}", token.expose());
                }
                Ok(())
            })?;
        }
        TokenCommand::List { kubeconfig } => crate::workflow::block_on(async {
            let client = ApiClient::from_kubeconfig(&host, &kubeconfig, API_BUDGET).await?;
            let secrets = bootstraptoken::list_tokens(&client).await?;
            println!(
                "{:<8} {:<22} {:<26} {:<28} {:<44} EXTRA GROUPS",
                "TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION"
            );
            for s in secrets {
                println!("{}", list_line(&s));
            }
            Ok::<_, anyhow::Error>(())
        })?,
        TokenCommand::Delete { tokens, kubeconfig } => crate::workflow::block_on(async {
            let client = ApiClient::from_kubeconfig(&host, &kubeconfig, API_BUDGET).await?;
            for t in tokens {
                // An id alone, or a full token whose secret is not echoed back.
                let id = t.split('.').next().unwrap_or_default().to_string();
                let name = format!("{}{id}", bootstraptoken::SECRET_PREFIX);
                if !client.delete::<Secret>(Some(KUBE_SYSTEM), &name).await? {
                    anyhow::bail!("bootstrap token {id} does not exist");
                }
                println!("bootstrap token {id:?} deleted");
            }
            Ok::<_, anyhow::Error>(())
        })?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The join command and worker user-data for `token`, from the CA and server in `kubeconfig`.
async fn print_join(host: &crate::host::Host, kubeconfig: &str, client: &ApiClient, token: &Token) -> Result<()> {
    use base64::Engine;
    let text = host.read_to_string(kubeconfig).with_context(|| format!("reading {kubeconfig}"))?;
    let kc = kube::config::Kubeconfig::from_yaml(&text)?;
    let ca_b64 = kc
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.certificate_authority_data.clone())
        .with_context(|| format!("{kubeconfig} has no certificate-authority-data"))?;
    let ca = base64::engine::general_purpose::STANDARD.decode(ca_b64.trim()).context("certificate-authority-data")?;
    let endpoint = client.server().trim_start_matches("https://").to_string();
    let info = joininfo::JoinInfo {
        endpoint,
        token: token.clone(),
        ca_hash: joininfo::ca_cert_hash(&ca)?,
        certificate_key: None,
        upload_certs: false,
        has_control_plane_endpoint: false,
    };
    println!("{}", info.worker_command().replace("\\\n\t", ""));
    println!("\n# kubeboot user-data for a worker:\n{}", info.worker_user_data());
    Ok(())
}

/// One `kubeadm token list` line; never the token secret.
fn list_line(s: &Secret) -> String {
    let data = s.data.clone().unwrap_or_default();
    let get = |k: &str| data.get(k).map(|v| String::from_utf8_lossy(&v.0).into_owned()).unwrap_or_default();
    let expiration = get("expiration");
    let ttl = match expiration.parse::<jiff::Timestamp>() {
        Ok(t) => {
            let left = t.duration_since(jiff::Timestamp::now());
            if left.is_negative() { "<expired>".to_string() } else { format!("{}", GoDuration(left.unsigned_abs())) }
        }
        Err(_) => "<forever>".into(),
    };
    let usages: Vec<String> = data
        .keys()
        .filter_map(|k| k.strip_prefix("usage-bootstrap-"))
        .filter(|u| get(&format!("usage-bootstrap-{u}")) == "true")
        .map(str::to_string)
        .collect();
    format!(
        "{:<8} {:<22} {:<26} {:<28} {:<44} {}",
        get("token-id"),
        ttl,
        if expiration.is_empty() { "<never>".into() } else { expiration },
        usages.join(","),
        get("description"),
        get("auth-extra-groups")
    )
}
