//! The two essential addons kubeadm installs (reference §10), object for object as its
//! templates for the version (`phases/addons/dns/manifests.go`, `proxy/manifests.go`).

use std::collections::BTreeMap;

use anyhow::Result;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::{ApiClient, Kind, Outcome, meta};
use super::rbac::{cluster_role, cluster_role_binding, group, role, role_binding, rule, service_account};
use super::uploadconfig::{sign_config_map, to_yaml};
use super::{KUBE_SYSTEM, NODE_BOOTSTRAP_GROUP, report};
use crate::config::Resolved;
use crate::workflow::Ctx;

const PHASE: &str = "addons";
const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";

pub async fn ensure_coredns(ctx: &Ctx, client: &ApiClient) -> Result<()> {
    if ctx.node.cfg.cluster.dns.disabled {
        ctx.say(PHASE, "Skipping CoreDNS: dns.disabled is set");
        return Ok(());
    }
    let node = &ctx.node;
    // kubeadm CreateOrRetainConfigMap: an operator's edits to the Corefile survive a re-run.
    let cm = ConfigMap {
        metadata: meta(KUBE_SYSTEM, "coredns"),
        data: Some(BTreeMap::from([("Corefile".to_string(), corefile(node))])),
        ..Default::default()
    };
    note(ctx, &cm, client.create_if_absent(&cm).await?);
    let cr = cluster_role(
        "system:coredns",
        vec![
            rule(&["list", "watch"], &[""], &["endpoints", "services", "pods", "namespaces"], &[]),
            rule(&["list", "watch"], &["discovery.k8s.io"], &["endpointslices"], &[]),
        ],
    );
    apply(ctx, client, &cr).await?;
    apply(
        ctx,
        client,
        &cluster_role_binding("system:coredns", "system:coredns", vec![service_account(KUBE_SYSTEM, "coredns")]),
    )
    .await?;
    apply(ctx, client, &ServiceAccount { metadata: meta(KUBE_SYSTEM, "coredns"), ..Default::default() }).await?;
    apply(ctx, client, &crate::patches::patch_deployment(ctx, PHASE, coredns_deployment(node))?).await?;
    apply(ctx, client, &coredns_service(node)).await?;
    ctx.say(PHASE, "Applied essential addon: CoreDNS");
    Ok(())
}

pub async fn ensure_kube_proxy(ctx: &Ctx, client: &ApiClient) -> Result<()> {
    if ctx.node.cfg.cluster.proxy.disabled {
        ctx.say(PHASE, "Skipping kube-proxy: proxy.disabled is set");
        return Ok(());
    }
    let node = &ctx.node;
    apply(ctx, client, &ServiceAccount { metadata: meta(KUBE_SYSTEM, "kube-proxy"), ..Default::default() }).await?;
    apply(ctx, client, &kube_proxy_config_map(node)).await?;
    apply(ctx, client, &kube_proxy_daemon_set(node)).await?;
    apply(
        ctx,
        client,
        &cluster_role_binding(
            "kubeadm:node-proxier",
            "system:node-proxier",
            vec![service_account(KUBE_SYSTEM, "kube-proxy")],
        ),
    )
    .await?;
    apply(ctx, client, &role(KUBE_SYSTEM, "kube-proxy", vec![rule(&["get"], &[""], &["configmaps"], &["kube-proxy"])]))
        .await?;
    apply(ctx, client, &role_binding(KUBE_SYSTEM, "kube-proxy", "kube-proxy", vec![group(NODE_BOOTSTRAP_GROUP)]))
        .await?;
    ctx.say(PHASE, "Applied essential addon: kube-proxy");
    Ok(())
}

async fn apply<K: Kind>(ctx: &Ctx, client: &ApiClient, obj: &K) -> Result<()> {
    note(ctx, obj, client.create_or_update(obj).await?);
    Ok(())
}

fn note<K: Kind>(ctx: &Ctx, obj: &K, outcome: Outcome) {
    use kube::ResourceExt;
    let ns = obj.namespace().map(|n| format!("{n}/")).unwrap_or_default();
    report(ctx, PHASE, &format!("{} {ns}{}", K::kind(&()), obj.name_any()), outcome);
}

/// The Corefile of the version: 1.32+ stops caching answers for the cluster domain (PR #128359).
pub fn corefile(node: &Resolved) -> String {
    let domain = &node.cfg.cluster.networking.dns_domain;
    let cache = if node.version.at_least(32) {
        format!("cache 30 {{\n       disable success {domain}\n       disable denial {domain}\n    }}")
    } else {
        "cache 30".to_string()
    };
    format!(
        ".:53 {{\n    errors\n    health {{\n       lameduck 5s\n    }}\n    ready\n    \
         kubernetes {domain} in-addr.arpa ip6.arpa {{\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }}\n    \
         prometheus :9153\n    forward . /etc/resolv.conf {{\n       max_concurrent 1000\n    }}\n    \
         {cache}\n    loop\n    reload\n    loadbalance\n}}\n"
    )
}

pub fn coredns_deployment(node: &Resolved) -> Deployment {
    // 1.34 names the probe ports and refers to them by name (PR #131587).
    let named_probes = node.version.at_least(34);
    let mut ports = vec![
        json!({"containerPort": 53, "name": "dns", "protocol": "UDP"}),
        json!({"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"}),
        json!({"containerPort": 9153, "name": "metrics", "protocol": "TCP"}),
    ];
    if named_probes {
        ports.push(json!({"containerPort": 8080, "name": "liveness-probe", "protocol": "TCP"}));
        ports.push(json!({"containerPort": 8181, "name": "readiness-probe", "protocol": "TCP"}));
    }
    let (liveness_port, readiness_port) =
        if named_probes { (json!("liveness-probe"), json!("readiness-probe")) } else { (json!(8080), json!(8181)) };
    typed(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": KUBE_SYSTEM, "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchExpressions": [{"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
                            "topologyKey": "kubernetes.io/hostname"
                        }
                    }]}},
                    "tolerations": [
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"}
                    ],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{
                        "name": "coredns",
                        "image": node.coredns_image(),
                        "imagePullPolicy": "IfNotPresent",
                        "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": true}],
                        "ports": ports,
                        "livenessProbe": {
                            "httpGet": {"path": "/health", "port": liveness_port, "scheme": "HTTP"},
                            "initialDelaySeconds": 60, "timeoutSeconds": 5, "successThreshold": 1, "failureThreshold": 5
                        },
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": readiness_port, "scheme": "HTTP"}},
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
                            "readOnlyRootFilesystem": true
                        }
                    }],
                    "dnsPolicy": "Default",
                    "volumes": [{"name": "config-volume", "configMap": {"name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]}}]
                }
            }
        }
    }))
}

/// Service kube-dns at the 10th address of the first service CIDR.
pub fn coredns_service(node: &Resolved) -> Service {
    typed(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": KUBE_SYSTEM,
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}
        },
        "spec": {
            "clusterIP": node.dns_service_ip().to_string(),
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}
            ],
            "selector": {"k8s-app": "kube-dns"}
        }
    }))
}

/// kube-system/kube-proxy: `config.conf` (KubeProxyConfiguration) and `kubeconfig.conf`, which
/// authenticates with the Pod's service account against the control-plane endpoint.
pub fn kube_proxy_config_map(node: &Resolved) -> ConfigMap {
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    \
         server: {}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    namespace: default\n    user: default\n  \
         name: default\ncurrent-context: default\nusers:\n- name: default\n  user:\n    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token",
        node.control_plane_endpoint_url()
    );
    let mut cm = ConfigMap {
        metadata: meta(KUBE_SYSTEM, "kube-proxy"),
        data: Some(BTreeMap::from([
            ("config.conf".to_string(), to_yaml(&kube_proxy_configuration(node)).trim_end().to_string()),
            ("kubeconfig.conf".to_string(), kubeconfig),
        ])),
        ..Default::default()
    };
    cm.metadata.labels = Some(BTreeMap::from([("app".to_string(), "kube-proxy".to_string())]));
    if node.cfg.kube_proxy_configuration.is_none() {
        sign_config_map(&mut cm);
    }
    cm
}

/// `config.conf` as kubeadm writes it: kubeadm marshals the `kubeproxy.config.k8s.io/v1alpha1`
/// Go struct without kube-proxy's defaulting, so every field that lacks `omitempty` appears
/// with its zero value (`""`, `0`, `0s`, `null`, `false`) and kube-proxy fills in its defaults
/// at start. On that: the user's KubeProxyConfiguration (if any), then kubeadm's `Default`:
/// bindAddress by address family, clusterCIDR from the pod subnet, and the in-Pod kubeconfig,
/// each only where the user left it empty.
pub fn kube_proxy_configuration(node: &Resolved) -> Value {
    let mut cfg = kube_proxy_zero_values();
    if let Some(user) = &node.cfg.kube_proxy_configuration {
        crate::render::kubelet::merge(&mut cfg, user);
    }
    let obj = cfg.as_object_mut().expect("the zero-valued configuration is a mapping");
    let empty = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").is_empty();
    if empty(obj.get("bindAddress")) {
        obj.insert("bindAddress".into(), json!(if node.is_ipv6() { "::" } else { "0.0.0.0" }));
    }
    if let Some(pods) = &node.cfg.cluster.networking.pod_subnet
        && empty(obj.get("clusterCIDR"))
    {
        obj.insert("clusterCIDR".into(), json!(pods));
    }
    let conn = obj.entry("clientConnection").or_insert_with(|| json!({}));
    if empty(conn.get("kubeconfig")) {
        conn["kubeconfig"] = json!("/var/lib/kube-proxy/kubeconfig.conf");
    }
    cfg
}

/// KubeProxyConfiguration v1alpha1 of Kubernetes 1.31–1.34 with every field at its Go zero
/// value, as encoding/json emits the struct (k8s.io/kube-proxy/config/v1alpha1/types.go;
/// `featureGates` and `windowsRunAsService` are `omitempty` and absent; `logging` is a struct,
/// which `omitempty` does not drop).
fn kube_proxy_zero_values() -> Value {
    json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "bindAddress": "",
        "bindAddressHardFail": false,
        "clientConnection": {"acceptContentTypes": "", "burst": 0, "contentType": "", "kubeconfig": "", "qps": 0},
        "clusterCIDR": "",
        "configSyncPeriod": "0s",
        "conntrack": {
            "maxPerCore": null, "min": null, "tcpBeLiberal": false, "tcpCloseWaitTimeout": null,
            "tcpEstablishedTimeout": null, "udpStreamTimeout": "0s", "udpTimeout": "0s"
        },
        "detectLocal": {"bridgeInterface": "", "interfaceNamePrefix": ""},
        "detectLocalMode": "",
        "enableProfiling": false,
        "healthzBindAddress": "",
        "hostnameOverride": "",
        "iptables": {
            "localhostNodePorts": null, "masqueradeAll": false, "masqueradeBit": null,
            "minSyncPeriod": "0s", "syncPeriod": "0s"
        },
        "ipvs": {
            "excludeCIDRs": null, "minSyncPeriod": "0s", "scheduler": "", "strictARP": false,
            "syncPeriod": "0s", "tcpFinTimeout": "0s", "tcpTimeout": "0s", "udpTimeout": "0s"
        },
        "logging": {
            "flushFrequency": 0,
            "options": {"json": {"infoBufferSize": "0"}, "text": {"infoBufferSize": "0"}},
            "verbosity": 0
        },
        "metricsBindAddress": "",
        "mode": "",
        "nftables": {"masqueradeAll": false, "masqueradeBit": null, "minSyncPeriod": "0s", "syncPeriod": "0s"},
        "nodePortAddresses": null,
        "oomScoreAdj": null,
        "portRange": "",
        "showHiddenMetricsForVersion": "",
        "winkernel": {
            "enableDSR": false, "forwardHealthCheckVip": false, "networkName": "",
            "rootHnsEndpointName": "", "sourceVip": ""
        }
    })
}

pub fn kube_proxy_daemon_set(node: &Resolved) -> DaemonSet {
    typed(json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": KUBE_SYSTEM, "labels": {"k8s-app": "kube-proxy"}},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-proxy"}},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "containers": [{
                        "name": "kube-proxy",
                        "image": node.image("kube-proxy"),
                        "imagePullPolicy": "IfNotPresent",
                        "command": [
                            "/usr/local/bin/kube-proxy",
                            "--config=/var/lib/kube-proxy/config.conf",
                            "--hostname-override=$(NODE_NAME)"
                        ],
                        "securityContext": {"privileged": true},
                        "volumeMounts": [
                            {"mountPath": "/var/lib/kube-proxy", "name": "kube-proxy"},
                            {"mountPath": "/run/xtables.lock", "name": "xtables-lock", "readOnly": false},
                            {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": true}
                        ],
                        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
                    }],
                    "hostNetwork": true,
                    "serviceAccountName": "kube-proxy",
                    "volumes": [
                        {"name": "kube-proxy", "configMap": {"name": "kube-proxy"}},
                        {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                        {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}}
                    ],
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}, {"operator": "Exists"}],
                    "nodeSelector": {"kubernetes.io/os": "linux"}
                }
            }
        }
    }))
}

/// The templates above are fixed shapes; failing to decode one is a programming error the unit
/// tests catch.
fn typed<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).expect("addon template matches the API type")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(version: &str) -> Resolved {
        Resolved::for_tests(&format!(
            "apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane
cluster:
  kubernetesVersion: {version}
  networking:
    podSubnet: 10.244.0.0/16
"
        ))
    }

    #[test]
    fn corefile_follows_the_version() {
        let c = corefile(&node("v1.31.4"));
        assert!(c.contains("\n    cache 30\n    loop\n"), "{c}");
        let c = corefile(&node("v1.33.5"));
        assert!(
            c.contains(
                "    cache 30 {\n       disable success cluster.local\n       disable denial cluster.local\n    }\n"
            ),
            "{c}"
        );
        assert!(c.starts_with(".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n"), "{c}");
    }

    #[test]
    fn coredns_probes_are_named_from_1_34() {
        for (v, named) in [("v1.33.5", false), ("v1.34.1", true)] {
            let d = coredns_deployment(&node(v));
            let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
            assert_eq!(c.ports.as_ref().unwrap().len(), if named { 5 } else { 3 });
            let port = &c.liveness_probe.as_ref().unwrap().http_get.as_ref().unwrap().port;
            assert_eq!(serde_json::to_value(port).unwrap(), if named { json!("liveness-probe") } else { json!(8080) });
            assert_eq!(
                c.image.as_deref(),
                Some(if named {
                    "registry.k8s.io/coredns/coredns:v1.12.1"
                } else {
                    "registry.k8s.io/coredns/coredns:v1.12.0"
                })
            );
        }
    }

    #[test]
    fn kube_proxy_config_conf_is_kubeadms_zero_valued_dump() {
        // `kubectl -n kube-system get cm kube-proxy` on a kubeadm v1.31–v1.34 cluster with
        // podSubnet 10.244.0.0/16 and no KubeProxyConfiguration of the user's.
        let conf = kube_proxy_config_map(&node("v1.33.5")).data.unwrap()["config.conf"].clone();
        assert_eq!(
            conf,
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: \"\"
  burst: 0
  contentType: \"\"
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: \"\"
  interfaceNamePrefix: \"\"
detectLocalMode: \"\"
enableProfiling: false
healthzBindAddress: \"\"
hostnameOverride: \"\"
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: \"\"
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: \"0\"
    text:
      infoBufferSize: \"0\"
  verbosity: 0
metricsBindAddress: \"\"
mode: \"\"
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: \"\"
showHiddenMetricsForVersion: \"\"
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: \"\"
  rootHnsEndpointName: \"\"
  sourceVip: \"\""
        );
    }

    #[test]
    fn a_users_kube_proxy_configuration_is_laid_over_the_zero_values() {
        let mut n = node("v1.33.5");
        n.cfg.kube_proxy_configuration = Some(json!({
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "ipvs",
            "ipvs": {"strictARP": true},
            "clientConnection": {"kubeconfig": "/etc/custom.conf"}
        }));
        let conf = kube_proxy_configuration(&n);
        assert_eq!(conf["mode"], "ipvs");
        assert_eq!(conf["ipvs"]["strictARP"], true);
        assert_eq!(conf["ipvs"]["scheduler"], "", "zero values kept beside the user's");
        // kubeadm fills only what the user left empty.
        assert_eq!(conf["clientConnection"]["kubeconfig"], "/etc/custom.conf");
        assert_eq!(conf["clusterCIDR"], "10.244.0.0/16");
        assert_eq!(conf["bindAddress"], "0.0.0.0");
    }

    #[test]
    fn kube_proxy_config_and_service_ip() {
        let n = node("v1.33.5");
        assert_eq!(coredns_service(&n).spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.10"));
        let cm = kube_proxy_config_map(&n);
        let data = cm.data.unwrap();
        let conf: Value = serde_saphyr::from_str(&data["config.conf"]).unwrap();
        assert_eq!(conf["bindAddress"], "0.0.0.0");
        assert_eq!(conf["clusterCIDR"], "10.244.0.0/16");
        assert_eq!(conf["clientConnection"]["kubeconfig"], "/var/lib/kube-proxy/kubeconfig.conf");
        assert_eq!(conf["kind"], "KubeProxyConfiguration");
        assert!(data["kubeconfig.conf"].contains("server: https://10.0.0.5:6443\n"));
        assert!(
            cm.metadata.annotations.unwrap()[super::super::uploadconfig::COMPONENT_CONFIG_HASH].starts_with("sha256:")
        );
        let ds = kube_proxy_daemon_set(&n);
        assert_eq!(
            ds.spec.unwrap().template.spec.unwrap().containers[0].image.as_deref(),
            Some("registry.k8s.io/kube-proxy:v1.33.5")
        );
    }
}
