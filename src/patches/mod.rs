//! kubeadm patches (`patches.directory` in Init/JoinConfiguration, `--patches`): files named
//! `target[suffix][+patchtype].json|yaml` laid over what kubeboot renders, exactly where
//! kubeadm applies them (cmd/kubeadm/app/util/patches):
//!
//! - targets `etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler` (static Pod
//!   manifests), `kubeletconfiguration` (/var/lib/kubelet/config.yaml) and `corednsdeployment`
//!   (the CoreDNS Deployment the addon phase applies);
//! - patch types `strategic` (the default), `merge` (RFC 7386) and `json` (RFC 6902);
//! - the directory is walked like Go's `filepath.Walk` (lexical order, sub-directories
//!   included), so the file names decide the order; one file may hold several YAML documents,
//!   applied in turn;
//! - a file with another extension or an unknown target is ignored with a message, an empty
//!   file likewise; `+` followed by an unknown patch type is an error.
//!
//! A patched static Pod or Deployment is decoded back into its Kubernetes type and written
//! the way kubeboot writes every manifest, as kubeadm re-encodes its `v1.Pod`. Every patch is
//! tried on every target before the first phase runs, so a bad patch stops the run before
//! anything is written; errors name the patch file (and `line:column` for malformed YAML).

pub mod strategic;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::workflow::Ctx;

pub const ETCD: &str = "etcd";
pub const KUBE_APISERVER: &str = "kube-apiserver";
pub const KUBE_CONTROLLER_MANAGER: &str = "kube-controller-manager";
pub const KUBE_SCHEDULER: &str = "kube-scheduler";
pub const KUBELET_CONFIGURATION: &str = "kubeletconfiguration";
pub const COREDNS_DEPLOYMENT: &str = "corednsdeployment";

/// kubeadm's `knownTargets`, in its order.
pub const TARGETS: &[&str] =
    &[ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBELET_CONFIGURATION, COREDNS_DEPLOYMENT];

/// A single patch file may not exceed this (user-data itself is capped the same way).
pub const MAX_PATCH_FILE: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Strategic,
    Merge,
    Json,
}

impl PatchType {
    /// The content type kubeadm prints (`types.PatchType`).
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
        }
    }
}

/// What a file name says: a patch for a target, a file to ignore (with why), or an error.
#[derive(Debug, PartialEq, Eq)]
pub enum Name {
    Patch(&'static str, PatchType),
    Ignore(String),
}

/// kubeadm `parseFilename`: `^(target)([^.+\n]*)?(\+)?(json|merge|strategic)?` on a name ending
/// `.json` or `.yaml`.
pub fn parse_name(name: &str) -> Result<Name, String> {
    let has_ext = [".json", ".yaml"].iter().any(|e| name.len() > e.len() && name.ends_with(e));
    if !has_ext {
        return Ok(Name::Ignore("the file extension must be one of [json yaml]".into()));
    }
    let Some(target) = TARGETS.iter().copied().find(|t| name.starts_with(t)) else {
        return Ok(Name::Ignore(format!("unknown target, must be one of [{}]", TARGETS.join(" "))));
    };
    let rest = &name[target.len()..];
    let rest = rest.trim_start_matches(|c| c != '.' && c != '+' && c != '\n');
    let patch_type = match rest.strip_prefix('+') {
        None => PatchType::Strategic,
        Some(t) if t.starts_with("json") => PatchType::Json,
        Some(t) if t.starts_with("merge") => PatchType::Merge,
        Some(t) if t.starts_with("strategic") => PatchType::Strategic,
        Some(_) => {
            return Err(format!(
                "{name}: unknown or missing patch type after '+', must be one of [json merge strategic]"
            ));
        }
    };
    Ok(Name::Patch(target, patch_type))
}

/// One YAML document of a patch file.
#[derive(Debug, Clone)]
pub struct Patch {
    pub file: String,
    /// 1-based document number within the file.
    pub doc: usize,
    pub target: &'static str,
    pub patch_type: PatchType,
    pub value: Value,
}

/// The patches of one directory, in the order kubeadm applies them.
#[derive(Debug, Clone, Default)]
pub struct PatchManager {
    pub directory: String,
    pub patches: Vec<Patch>,
    pub files: Vec<String>,
    pub ignored: Vec<(String, String)>,
}

impl PatchManager {
    /// Reads `dir` (a host path already mapped under --root) named `directory` in messages.
    pub fn load(directory: &str, dir: &Path) -> Result<Self> {
        let meta = std::fs::symlink_metadata(dir)
            .with_context(|| format!("could not list patch files for path {directory:?}"))?;
        if !meta.is_dir() {
            bail!("could not list patch files for path {directory:?}: not a directory");
        }
        let mut pm = PatchManager { directory: directory.to_string(), ..Default::default() };
        let mut paths = vec![];
        walk(dir, &mut paths).with_context(|| format!("could not list patch files for path {directory:?}"))?;
        for path in paths {
            let base = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let shown = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
            let (target, patch_type) = match parse_name(&base).map_err(anyhow::Error::msg)? {
                Name::Patch(t, p) => (t, p),
                Name::Ignore(why) => {
                    pm.ignored.push((base, why));
                    continue;
                }
            };
            let file = format!("{directory}/{shown}");
            let size = std::fs::metadata(&path).with_context(|| format!("could not read the file {file:?}"))?.len();
            if size > MAX_PATCH_FILE {
                bail!("patch file {file:?} is {size} bytes; the limit is {MAX_PATCH_FILE}");
            }
            let bytes = std::fs::read(&path).with_context(|| format!("could not read the file {file:?}"))?;
            if bytes.is_empty() {
                pm.ignored.push((base, "empty file".into()));
                continue;
            }
            let text = std::str::from_utf8(&bytes).map_err(|_| anyhow::anyhow!("patch file {file:?} is not UTF-8"))?;
            let docs = crate::config::yaml::parse(text)
                .map_err(|e| anyhow::anyhow!("patch file {file}:{}:{}: {}", e.pos.line, e.pos.column, e.message))?;
            for (i, doc) in docs.iter().enumerate() {
                let value = crate::config::strict::core_value(doc);
                if value.is_null() {
                    continue;
                }
                pm.patches.push(Patch { file: file.clone(), doc: i + 1, target, patch_type, value });
            }
            pm.files.push(base);
        }
        Ok(pm)
    }

    pub fn has(&self, target: &str) -> bool {
        self.patches.iter().any(|p| p.target == target)
    }

    /// Applies every patch for `target` in order; `ty` is the object's type for strategic merge.
    /// `say` gets one line per applied patch.
    pub fn apply(
        &self,
        target: &str,
        ty: strategic::Ty,
        mut data: Value,
        say: &mut dyn FnMut(String),
    ) -> Result<Value> {
        for p in self.patches.iter().filter(|p| p.target == target) {
            data = apply_one(p, ty, data).with_context(|| {
                let doc = if p.doc > 1 { format!(" (document {})", p.doc) } else { String::new() };
                format!(
                    "could not apply patch file {}{doc} of type {:?} to target {target:?}",
                    p.file,
                    p.patch_type.media_type()
                )
            })?;
            say(format!("Applied patch of type {:?} to target {target:?}", p.patch_type.media_type()));
        }
        Ok(data)
    }
}

fn apply_one(p: &Patch, ty: strategic::Ty, data: Value) -> Result<Value> {
    match p.patch_type {
        PatchType::Strategic => strategic::apply(data, &p.value, ty).map_err(anyhow::Error::msg),
        PatchType::Merge => {
            let mut data = data;
            json_patch::merge(&mut data, &p.value);
            Ok(data)
        }
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(p.value.clone())
                .context("a json patch is a list of RFC 6902 operations (op, path, value/from)")?;
            let mut data = data;
            json_patch::patch(&mut data, &ops).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(data)
        }
    }
}

/// Go `filepath.Walk` order: entries sorted by name, directories descended where they sort.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if std::fs::symlink_metadata(&path)?.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The patch directory for this run: `--patches`, else the config's `patches.directory`.
pub fn directory(ctx: &Ctx) -> Option<String> {
    ctx.node.cfg.patches.as_ref().map(|p| p.directory.clone()).filter(|d| !d.is_empty())
}

/// Reads the patch directory once per run and tries every patch on every target this node
/// renders, so a bad patch fails the run before any phase writes a file.
pub fn prepare(ctx: &mut Ctx) -> Result<()> {
    if ctx.state.patches.is_some() {
        return Ok(());
    }
    let Some(dir) = directory(ctx) else { return Ok(()) };
    ctx.say("patches", format_args!("Reading patches from path {dir:?}"));
    let pm = PatchManager::load(&dir, &ctx.host.path(&dir))?;
    if !pm.files.is_empty() {
        ctx.say("patches", format_args!("Found the following patch files: [{}]", pm.files.join(" ")));
    }
    for (name, why) in &pm.ignored {
        ctx.say("patches", format_args!("Ignoring file {name:?}: {why}"));
    }
    validate_all(ctx, &pm)?;
    ctx.state.patches = Some(pm);
    Ok(())
}

/// Renders each patched target this node has and applies its patches, discarding the result.
fn validate_all(ctx: &Ctx, pm: &PatchManager) -> Result<()> {
    use crate::render::staticpod::{self, EtcdCluster, HostFacts};
    let mut quiet = |_: String| {};
    let role = ctx.node.role();
    if role.is_control_plane() {
        let facts = HostFacts::gather(ctx)?;
        if pm.has(ETCD) && ctx.node.local_etcd().is_some() {
            pod_yaml(pm, ETCD, staticpod::render_etcd(&ctx.node, &facts, &EtcdCluster::New)?, &mut quiet)?;
        }
        type Render = fn(&crate::config::Resolved, &HostFacts) -> Result<String>;
        let cps: [(&str, Render); 3] = [
            (KUBE_APISERVER, staticpod::render_apiserver),
            (KUBE_CONTROLLER_MANAGER, staticpod::render_controller_manager),
            (KUBE_SCHEDULER, staticpod::render_scheduler),
        ];
        for (target, render) in cps {
            if pm.has(target) {
                pod_yaml(pm, target, render(&ctx.node, &facts)?, &mut quiet)?;
            }
        }
    }
    if pm.has(KUBELET_CONFIGURATION) {
        let facts = crate::render::kubelet::KubeletFacts::gather(ctx);
        kubelet_yaml(pm, crate::render::kubelet::render_config(&ctx.node, &facts)?, &mut quiet)?;
    }
    if pm.has(COREDNS_DEPLOYMENT) && role == crate::config::Role::ControlPlane {
        deployment(pm, crate::cluster::addons::coredns_deployment(&ctx.node), &mut quiet)?;
    }
    Ok(())
}

fn yaml_value(yaml: &str) -> Result<Value> {
    let docs =
        crate::config::yaml::parse(yaml).map_err(|e| anyhow::anyhow!("re-reading a rendered file: {}", e.message))?;
    docs.first().map(crate::config::strict::core_value).context("re-reading a rendered file: empty")
}

/// A static Pod manifest with the patches for `target` applied (unchanged when there are none).
pub fn pod_yaml(pm: &PatchManager, target: &str, yaml: String, say: &mut dyn FnMut(String)) -> Result<String> {
    if !pm.has(target) {
        return Ok(yaml);
    }
    let patched = pm.apply(target, strategic::Ty::Pod, yaml_value(&yaml)?, say)?;
    let pod: k8s_openapi::api::core::v1::Pod =
        serde_json::from_value(patched).with_context(|| format!("the patched {target} manifest is not a valid Pod"))?;
    crate::render::yaml::to_yaml(&pod)
}

/// config.yaml with the `kubeletconfiguration` patches applied.
pub fn kubelet_yaml(pm: &PatchManager, yaml: String, say: &mut dyn FnMut(String)) -> Result<String> {
    if !pm.has(KUBELET_CONFIGURATION) {
        return Ok(yaml);
    }
    let patched = pm.apply(KUBELET_CONFIGURATION, strategic::Ty::Plain, yaml_value(&yaml)?, say)?;
    if !patched.is_object() {
        bail!("the patched KubeletConfiguration is not a mapping");
    }
    crate::render::yaml::to_yaml(&patched)
}

/// The CoreDNS Deployment with the `corednsdeployment` patches applied.
pub fn deployment(
    pm: &PatchManager,
    d: k8s_openapi::api::apps::v1::Deployment,
    say: &mut dyn FnMut(String),
) -> Result<k8s_openapi::api::apps::v1::Deployment> {
    if !pm.has(COREDNS_DEPLOYMENT) {
        return Ok(d);
    }
    let patched = pm.apply(COREDNS_DEPLOYMENT, strategic::Ty::Deployment, serde_json::to_value(&d)?, say)?;
    serde_json::from_value(patched).context("the patched CoreDNS Deployment is not a valid Deployment")
}

/// The run's patches: prepared ones, else read now (a phase run on its own).
fn manager(ctx: &Ctx) -> Result<Option<std::borrow::Cow<'_, PatchManager>>> {
    if let Some(pm) = &ctx.state.patches {
        return Ok(Some(std::borrow::Cow::Borrowed(pm)));
    }
    match directory(ctx) {
        Some(dir) => Ok(Some(std::borrow::Cow::Owned(PatchManager::load(&dir, &ctx.host.path(&dir))?))),
        None => Ok(None),
    }
}

/// `pod_yaml` for a phase.
pub fn patch_pod(ctx: &Ctx, phase: &str, target: &str, yaml: String) -> Result<String> {
    match manager(ctx)? {
        Some(pm) => pod_yaml(&pm, target, yaml, &mut |m| ctx.say(phase, m)),
        None => Ok(yaml),
    }
}

/// `kubelet_yaml` for a phase.
pub fn patch_kubelet(ctx: &Ctx, phase: &str, yaml: String) -> Result<String> {
    match manager(ctx)? {
        Some(pm) => kubelet_yaml(&pm, yaml, &mut |m| ctx.say(phase, m)),
        None => Ok(yaml),
    }
}

/// `deployment` for a phase.
pub fn patch_deployment(
    ctx: &Ctx,
    phase: &str,
    d: k8s_openapi::api::apps::v1::Deployment,
) -> Result<k8s_openapi::api::apps::v1::Deployment> {
    match manager(ctx)? {
        Some(pm) => deployment(&pm, d, &mut |m| ctx.say(phase, m)),
        None => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_as_kubeadm_parses_them() {
        use PatchType::*;
        let p = |n: &str| parse_name(n);
        assert_eq!(p("etcd.yaml"), Ok(Name::Patch(ETCD, Strategic)));
        assert_eq!(p("kube-apiserver0+merge.yaml"), Ok(Name::Patch(KUBE_APISERVER, Merge)));
        assert_eq!(p("kube-scheduler-foo+json.json"), Ok(Name::Patch(KUBE_SCHEDULER, Json)));
        assert_eq!(p("kubeletconfiguration+strategic.json"), Ok(Name::Patch(KUBELET_CONFIGURATION, Strategic)));
        assert_eq!(p("corednsdeployment.yaml"), Ok(Name::Patch(COREDNS_DEPLOYMENT, Strategic)));
        assert!(matches!(p("etcd.yml"), Ok(Name::Ignore(_))));
        assert!(matches!(p("README.md"), Ok(Name::Ignore(_))));
        assert!(matches!(p("kube-proxy.yaml"), Ok(Name::Ignore(_))));
        assert!(matches!(p(".yaml"), Ok(Name::Ignore(_))));
        assert!(p("etcd+foo.yaml").unwrap_err().contains("unknown or missing patch type"));
        assert!(p("etcd+.yaml").is_err());
    }
}
