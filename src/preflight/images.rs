//! ImagePull: the images the control plane runs are in the container runtime before anything
//! is written. kubeadm runs this after every other check has passed (`RunPullImagesCheck`),
//! honours `imagePullPolicy` and `imagePullSerial`, tries each pull five times
//! (`PullImageRetry`) and warns when the runtime's sandbox image is not kubeadm's pause image.
//!
//! kubeboot additions: in check-only mode (`kubeboot preflight`, `--dry-run`) it asks the
//! runtime which images are present and pulls nothing; with `imagePullPolicy: Never` a missing
//! image is an error now rather than a static Pod stuck in ErrImageNeverPull later.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Check, Problem};
use crate::config::types::PullPolicy;
use crate::host::cri::CriClient;
use crate::workflow::block_on;

/// kubeadm `constants.PullImageRetry`.
const PULL_ATTEMPTS: u32 = 5;
/// Pause between attempts; kubeadm retries at once, a short pause lets a registry that just
/// refused a connection come back.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Bounds one pull attempt so that a stalled registry cannot hang the first boot forever
/// (kubeadm has no bound at all).
const PULL_TIMEOUT: Duration = Duration::from_secs(600);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

const FIX_PULL: &str = "make the registry reachable (cluster.imageRepository, a mirror in the runtime's config), \
pre-load the images into the OS image (kubeboot config images list), or add ImagePull to preflight.ignoreErrors";

pub fn image_pull() -> Check {
    Check::new("ImagePull", |env| {
        let images = env.node.control_plane_images();
        let policy = env.node.cfg.node.image_pull_policy;
        let (endpoint, socket) = match super::cri::endpoint(env) {
            Ok(e) => e,
            Err(p) => return vec![p],
        };
        let found = block_on(async {
            let mut cri = CriClient::connect(&socket, CALL_TIMEOUT).await?;
            let mut problems = sandbox_warning(&mut cri, &env.node.pause_image()).await;
            problems.extend(match (env.pull_images, policy) {
                (false, _) | (true, PullPolicy::Never) => survey(&mut cri, &images, policy).await,
                (true, _) => pull(&socket, &images, policy, env.node.cfg.node.image_pull_serial).await,
            });
            Ok::<_, anyhow::Error>(problems)
        });
        found.unwrap_or_else(|e| {
            vec![Problem::error(
                format!(
                    "cannot check the control-plane images: the container runtime at {endpoint} did not answer: {e:#}"
                ),
                "start the container runtime (see the CRI check)",
            )]
        })
    })
    .after_others()
}

/// kubeadm's sandbox-image warning: the runtime runs pods on a pause image other than the
/// one kubeadm pins for this version. Silent when the runtime does not say.
async fn sandbox_warning(cri: &mut CriClient, pause: &str) -> Vec<Problem> {
    match cri.sandbox_image().await {
        Ok(Some(runtime)) if runtime != pause => vec![Problem::warning(
            format!(
                "the container runtime's sandbox image {runtime} is not {pause}, the pause image of this Kubernetes version"
            ),
            format!(
                "set sandbox_image = \"{pause}\" in the runtime's CRI config (containerd: /etc/containerd/config.toml)"
            ),
        )],
        _ => vec![],
    }
}

/// Check-only: which images are present, without pulling. Missing images are an error only
/// when nothing will pull them (policy Never).
async fn survey(cri: &mut CriClient, images: &[String], policy: PullPolicy) -> Vec<Problem> {
    let mut missing = vec![];
    for image in images {
        match cri.image_exists(image).await {
            Ok(true) => {}
            Ok(false) => missing.push(image.as_str()),
            Err(e) => return vec![lookup_error(image, &e)],
        }
    }
    let present = images.len() - missing.len();
    if missing.is_empty() {
        return vec![Problem::info(format!("all {present} control-plane images are present"))];
    }
    if policy == PullPolicy::Never {
        return vec![Problem::error(
            format!("imagePullPolicy is Never but the runtime lacks {}", missing.join(", ")),
            "pre-load the images into the OS image (kubeboot config images list) or set node.imagePullPolicy: IfNotPresent",
        )];
    }
    vec![Problem::info(format!(
        "{present} of {} control-plane images are present; init will pull {}",
        images.len(),
        missing.join(", ")
    ))]
}

/// Pull mode: IfNotPresent pulls what is missing, Always pulls everything; one after another
/// or, with `imagePullSerial: false`, all at once on their own connections.
async fn pull(socket: &Path, images: &[String], policy: PullPolicy, serial: bool) -> Vec<Problem> {
    // kubeadm's notice: a first boot that sits here for minutes should say why.
    println!(
        "[preflight] Pulling images required for setting up a Kubernetes cluster (policy {policy:?}); this might take a minute or two, depending on the registry"
    );
    let started = Instant::now();
    let results: Vec<Result<bool, Problem>> = if serial {
        let mut out = vec![];
        for image in images {
            out.push(pull_one(socket, image, policy).await);
        }
        out
    } else {
        futures::future::join_all(images.iter().map(|image| pull_one(socket, image, policy))).await
    };
    let pulled = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let mut problems: Vec<Problem> = results.into_iter().filter_map(Result::err).collect();
    if problems.is_empty() {
        problems.push(Problem::info(format!(
            "{} control-plane images present, {pulled} pulled in {:.1}s",
            images.len(),
            started.elapsed().as_secs_f64()
        )));
    }
    problems
}

/// Brings one image into the runtime per `policy` (Never is the caller's business): `Ok(true)`
/// when it was pulled, `Ok(false)` when IfNotPresent found it already there.
pub async fn pull_one(socket: &Path, image: &str, policy: PullPolicy) -> Result<bool, Problem> {
    let mut cri = CriClient::connect(socket, CALL_TIMEOUT).await.map_err(|e| lookup_error(image, &e))?;
    tracing::info!(image, ?policy, "ImagePull");
    if policy == PullPolicy::IfNotPresent {
        match cri.image_exists(image).await {
            Ok(true) => return Ok(false),
            Ok(false) => {}
            Err(e) => return Err(lookup_error(image, &e)),
        }
    }
    let mut last = None;
    for attempt in 1..=PULL_ATTEMPTS {
        match cri.pull_image(image, PULL_TIMEOUT).await {
            Ok(_) => return Ok(true),
            Err(e) => last = Some(e),
        }
        if attempt < PULL_ATTEMPTS {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    let e = last.expect("at least one attempt");
    Err(Problem::error(format!("failed to pull image {image} ({PULL_ATTEMPTS} attempts): {e:#}"), FIX_PULL))
}

fn lookup_error(image: &str, e: &anyhow::Error) -> Problem {
    Problem::error(
        format!("failed to check if image {image} exists: {e:#}"),
        "check the container runtime (see the CRI check)",
    )
}
