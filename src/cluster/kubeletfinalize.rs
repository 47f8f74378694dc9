//! kubelet-finalize (reference §3): once the kubelet has rotated its client certificate,
//! kubelet.conf points user `system:node:<name>` at `kubelet-client-current.pem` instead of the
//! embedded bootstrap credentials, and the kubelet is restarted.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::KUBELET_CONF;
use super::uploadconfig::to_yaml;
use crate::host::systemd;
use crate::workflow::Ctx;

pub const ROTATED_CLIENT_PEM: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";
const PHASE: &str = "kubelet-finalize";

pub fn run(ctx: &Ctx) -> Result<()> {
    if !ctx.host.exists(ROTATED_CLIENT_PEM) {
        ctx.say(PHASE, format_args!("{ROTATED_CLIENT_PEM} does not exist yet; leaving {KUBELET_CONF} as it is"));
        return Ok(());
    }
    let text = ctx.host.read_to_string(KUBELET_CONF).with_context(|| format!("reading {KUBELET_CONF}"))?;
    let Some(updated) = point_at_rotated_cert(&text, &ctx.node.node_name)? else {
        tracing::debug!("{KUBELET_CONF} already uses {ROTATED_CLIENT_PEM}");
        return Ok(());
    };
    if ctx.dry_run {
        ctx.say(PHASE, format_args!("would update {KUBELET_CONF} to use {ROTATED_CLIENT_PEM} and restart the kubelet"));
        return Ok(());
    }
    ctx.say(
        PHASE,
        format_args!("Updating \"{KUBELET_CONF}\" to point to a rotatable kubelet client certificate and key"),
    );
    ctx.host.write_atomic(KUBELET_CONF, updated.as_bytes(), 0o600)?;
    systemd::restart_kubelet_with(&ctx.host, systemd::for_host(&ctx.host).as_ref())
}

/// The rewritten kubeconfig, or `None` when it already points at the rotated certificate.
pub fn point_at_rotated_cert(kubeconfig: &str, node_name: &str) -> Result<Option<String>> {
    let mut kc: Value = serde_saphyr::from_str(kubeconfig).with_context(|| format!("parsing {KUBELET_CONF}"))?;
    let user_name = format!("system:node:{node_name}");
    let Some(user) = kc
        .get_mut("users")
        .and_then(Value::as_array_mut)
        .and_then(|users| users.iter_mut().find(|u| u.get("name").and_then(Value::as_str) == Some(&user_name)))
        .and_then(|u| u.get_mut("user"))
        .and_then(Value::as_object_mut)
    else {
        bail!("{KUBELET_CONF} does not contain authentication for user {user_name:?}");
    };
    let target = json!(ROTATED_CLIENT_PEM);
    if user.get("client-certificate") == Some(&target)
        && user.get("client-key") == Some(&target)
        && !user.contains_key("client-certificate-data")
        && !user.contains_key("client-key-data")
    {
        return Ok(None);
    }
    user.remove("client-certificate-data");
    user.remove("client-key-data");
    user.insert("client-certificate".into(), target.clone());
    user.insert("client-key".into(), target);
    Ok(Some(to_yaml(&kc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBELET_CONF_TEXT: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: https://10.0.0.5:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: system:node:cp-1\n  name: system:node:cp-1@kubernetes\ncurrent-context: system:node:cp-1@kubernetes\nkind: Config\npreferences: {}\nusers:\n- name: system:node:cp-1\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n";

    #[test]
    fn repoints_the_node_user_and_is_idempotent() {
        let out = point_at_rotated_cert(KUBELET_CONF_TEXT, "cp-1").unwrap().unwrap();
        assert!(out.contains("    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n"), "{out}");
        assert!(out.contains("    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n"), "{out}");
        assert!(!out.contains("-data: Q0VSVA=="), "{out}");
        assert!(out.contains("certificate-authority-data: Q0E="), "{out}");
        assert_eq!(point_at_rotated_cert(&out, "cp-1").unwrap(), None);
        assert!(point_at_rotated_cert(KUBELET_CONF_TEXT, "other").is_err());
    }
}
