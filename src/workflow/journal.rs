//! The run-once journal: exactly-once first boot per instance, resumable after a crash.
//!
//! State lives on persistent disk under /var/lib/kubeboot/instances/<instance-id>/ (dirs 0700):
//! `user-data` (the unwrapped bytes, 0600) and `journal.json` (0600), which records the
//! user-data hash and each phase as started, then done, with timestamps and durations. Every
//! update is an atomic, fsynced rewrite, so after a crash the journal is either the old or the
//! new version. Unlike cloud-init's semaphores (written before a module runs), a phase counts
//! as done only after it finished, so an interrupted phase runs again; phases are idempotent.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::failpoint::{Failpoint, When};
use super::{Phase, PhaseObserver};
use crate::error::{Exit, coded};
use crate::host::Host;

pub const STATE_DIR: &str = "/var/lib/kubeboot";
pub const INSTANCES_DIR: &str = "/var/lib/kubeboot/instances";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub instance_id: String,
    /// SHA-256 of the user-data this instance is being provisioned from.
    pub user_data_sha256: String,
    pub origin: String,
    pub created_at: String,
    /// Set once every phase finished: the instance is provisioned and never touched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<String>,
    /// How many runs worked on this instance (more than one means it was resumed).
    pub runs: u32,
    pub phases: Vec<PhaseRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PhaseRecord {
    pub name: String,
    pub state: PhaseState,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseState {
    /// Began and did not finish (the run crashed or is still in it): runs again on resume.
    Started,
    Done,
    Failed,
}

impl Record {
    /// What a journal read back from disk must satisfy before any of it is believed: it is
    /// this instance's, its hash is a SHA-256 digest, and its phases are named once each.
    pub fn check(&self, instance_id: &str) -> Result<(), String> {
        if self.instance_id != instance_id {
            return Err(format!("it belongs to instance {:?}, not {instance_id:?}", self.instance_id));
        }
        let sha = &self.user_data_sha256;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!(
                "userDataSha256 is not a SHA-256 digest (64 lowercase hex digits; found {} characters)",
                sha.chars().count()
            ));
        }
        if self.runs == 0 {
            return Err("runs is 0 (a journal is written by a run)".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.phases {
            if p.name.is_empty() || !seen.insert(p.name.as_str()) {
                return Err(format!("phase name {:?} is empty or repeated", p.name));
            }
        }
        Ok(())
    }
}

/// What the journal says about this instance before a run starts.
pub enum Prior {
    New,
    /// Interrupted or failed earlier with the same user-data: continue where it stopped.
    Resume(Record),
    Done(Record),
}

pub struct Journal {
    host: Host,
    dir: String,
    pub record: Record,
    failpoint: Option<Failpoint>,
}

/// A path component for the instance directory: the id itself when it is tame, else a hash of it.
pub fn instance_dir_name(instance_id: &str) -> String {
    let tame = !instance_id.is_empty()
        && instance_id.len() <= 128
        && !instance_id.starts_with('.')
        && instance_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if tame { instance_id.to_string() } else { format!("id-{}", &sha256_hex(instance_id.as_bytes())[..32]) }
}

pub fn instance_dir(instance_id: &str) -> String {
    format!("{INSTANCES_DIR}/{}", instance_dir_name(instance_id))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or_else(|_| jiff::Timestamp::now()).to_string()
}

/// Reads the journal of `instance_id` and classifies it against the user-data hash.
/// A different hash on an unfinished instance is refused unless `force`.
pub fn prior(host: &Host, instance_id: &str, user_data_sha256: &str, force: bool) -> Result<Prior> {
    let path = format!("{}/journal.json", instance_dir(instance_id));
    let Some(bytes) = host.read_opt(&path).with_context(|| format!("reading {path}"))? else {
        return Ok(Prior::New);
    };
    let record: Record = serde_json::from_slice(&bytes)
        .with_context(|| format!("{path} is not a kubeboot journal; move it away to start this instance over"))?;
    record
        .check(instance_id)
        .map_err(|problem| anyhow::anyhow!("{path} is corrupt: {problem}; move it away to start this instance over"))?;
    if record.done_at.is_some() {
        return Ok(Prior::Done(record));
    }
    if record.user_data_sha256 != user_data_sha256 && !force {
        return Err(coded(
            Exit::InvalidInput,
            format!(
                "instance {instance_id} was started with different user-data (sha256 {}…, now {}…) and did not \
                 finish; resuming with other user-data could mix two configurations. Restore the original \
                 user-data, or run `kubeboot run --force` to continue with the new one",
                record.user_data_sha256.get(..12).unwrap_or(&record.user_data_sha256),
                user_data_sha256.get(..12).unwrap_or(user_data_sha256)
            ),
        ));
    }
    Ok(Prior::Resume(record))
}

impl Journal {
    /// Starts (or continues) the journal of an instance: creates its private directory,
    /// keeps a 0600 copy of the user-data and records one more run.
    pub fn begin(
        host: &Host,
        prior: Prior,
        instance_id: &str,
        origin: &str,
        user_data: &[u8],
        failpoint: Option<Failpoint>,
    ) -> Result<Journal> {
        let sha = sha256_hex(user_data);
        let record = match prior {
            Prior::New => Record {
                instance_id: instance_id.to_string(),
                user_data_sha256: sha,
                origin: origin.to_string(),
                created_at: now(),
                done_at: None,
                runs: 1,
                phases: vec![],
            },
            Prior::Resume(mut r) => {
                if r.user_data_sha256 != sha {
                    // `--force` with new user-data: every phase runs again against the new config.
                    r.user_data_sha256 = sha;
                    r.phases.clear();
                }
                r.origin = origin.to_string();
                r.runs += 1;
                r
            }
            Prior::Done(_) => anyhow::bail!("instance {instance_id} is already provisioned"),
        };
        let dir = instance_dir(instance_id);
        host.ensure_dir(STATE_DIR, 0o700)?;
        host.ensure_dir(INSTANCES_DIR, 0o700)?;
        host.ensure_dir(&dir, 0o700)?;
        host.write_atomic(format!("{dir}/user-data"), user_data, 0o600)?;
        let j = Journal { host: host.clone(), dir, record, failpoint };
        j.save()?;
        Ok(j)
    }

    pub fn is_done(&self, phase: &str) -> bool {
        self.record.phases.iter().any(|p| p.name == phase && p.state == PhaseState::Done)
    }

    /// Marks the instance provisioned. Written last, after every phase's files were synced.
    pub fn finish(&mut self) -> Result<()> {
        self.record.done_at = Some(now());
        self.save()
    }

    fn save(&self) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(&self.record)?;
        bytes.push(b'\n');
        self.host.write_atomic(format!("{}/journal.json", self.dir), &bytes, 0o600)?;
        Ok(())
    }

    fn entry(&mut self, phase: &str) -> &mut PhaseRecord {
        let i = match self.record.phases.iter().position(|p| p.name == phase) {
            Some(i) => i,
            None => {
                self.record.phases.push(PhaseRecord {
                    name: phase.to_string(),
                    state: PhaseState::Started,
                    started_at: String::new(),
                    finished_at: None,
                    duration_ms: None,
                });
                self.record.phases.len() - 1
            }
        };
        &mut self.record.phases[i]
    }

    fn fail_at(&self, phase: &str, when: When) {
        if let Some(fp) = &self.failpoint {
            fp.hit(phase, when);
        }
    }
}

impl PhaseObserver for Journal {
    fn before(&mut self, phase: &Phase) -> Result<bool> {
        if self.is_done(phase.name) {
            return Ok(false);
        }
        let e = self.entry(phase.name);
        e.state = PhaseState::Started;
        e.started_at = now();
        e.finished_at = None;
        e.duration_ms = None;
        self.save()?;
        self.fail_at(phase.name, When::Before);
        Ok(true)
    }

    fn after(&mut self, phase: &Phase, elapsed: Duration, outcome: &Result<()>) -> Result<()> {
        self.fail_at(phase.name, When::After);
        let e = self.entry(phase.name);
        e.state = if outcome.is_ok() { PhaseState::Done } else { PhaseState::Failed };
        e.finished_at = Some(now());
        e.duration_ms = Some(elapsed.as_millis() as u64);
        self.save()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_instance_ids_become_safe_directory_names() {
        assert_eq!(instance_dir_name("i-0abc123"), "i-0abc123");
        let odd = instance_dir_name("../../etc");
        assert!(odd.starts_with("id-") && odd.len() == 35, "{odd}");
        assert_ne!(instance_dir_name(""), "");
    }

    mod fake {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

        use crate::workflow::{Ctx, Phase};

        pub static RUNS: [AtomicUsize; 3] = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];
        pub static BREAK_TWO: AtomicBool = AtomicBool::new(true);

        fn write(ctx: &mut Ctx, i: usize) -> anyhow::Result<()> {
            RUNS[i].fetch_add(1, Ordering::SeqCst);
            if i == 1 && BREAK_TWO.load(Ordering::SeqCst) {
                anyhow::bail!("two is broken");
            }
            ctx.host.write_atomic(format!("/out/{i}"), b"x", 0o644)?;
            Ok(())
        }
        fn one(ctx: &mut Ctx, _: Option<&str>) -> anyhow::Result<()> {
            write(ctx, 0)
        }
        fn two(ctx: &mut Ctx, _: Option<&str>) -> anyhow::Result<()> {
            write(ctx, 1)
        }
        fn three(ctx: &mut Ctx, _: Option<&str>) -> anyhow::Result<()> {
            write(ctx, 2)
        }
        pub const TABLE: &[Phase] = &[
            Phase { name: "one", subs: &[], about: "", run: one },
            Phase { name: "two", subs: &[], about: "", run: two },
            Phase { name: "three", subs: &[], about: "", run: three },
        ];
    }

    #[test]
    fn a_resumed_run_skips_finished_phases_and_redoes_the_rest() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let id = crate::config::HostIdentity {
            hostname: "n1".into(),
            default_address: Some([10, 0, 0, 1].into()),
            cri_socket: None,
        };
        let node =
            crate::config::Resolved::new(crate::config::defaults(crate::config::Role::ControlPlane), &id).unwrap();
        let mut ctx = crate::workflow::Ctx::new(host.clone(), node);
        let sha = sha256_hex(b"ud");

        let mut j = Journal::begin(&host, prior(&host, "i", &sha, false).unwrap(), "i", "t", b"ud", None).unwrap();
        assert!(crate::workflow::run_phases(&mut ctx, fake::TABLE, &mut j).is_err());
        let states: Vec<_> = j.record.phases.iter().map(|p| (p.name.as_str(), p.state)).collect();
        assert_eq!(states, [("one", PhaseState::Done), ("two", PhaseState::Failed)]);

        fake::BREAK_TWO.store(false, Ordering::SeqCst);
        let Prior::Resume(r) = prior(&host, "i", &sha, false).unwrap() else { panic!("expected a resume") };
        let mut j = Journal::begin(&host, Prior::Resume(r), "i", "t", b"ud", None).unwrap();
        crate::workflow::run_phases(&mut ctx, fake::TABLE, &mut j).unwrap();
        j.finish().unwrap();
        let runs: Vec<usize> = fake::RUNS.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        assert_eq!(runs, [1, 2, 1], "one ran once, two twice, three once");
        assert!(matches!(prior(&host, "i", &sha, false).unwrap(), Prior::Done(_)));
        assert_eq!(j.record.runs, 2);
        assert!(j.record.phases.iter().all(|p| p.state == PhaseState::Done && p.duration_ms.is_some()));
    }

    #[test]
    fn different_user_data_refuses_to_resume_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        let j = Journal::begin(&host, Prior::New, "iid-1", "test", b"one", None).unwrap();
        assert_eq!(j.record.runs, 1);
        let err = prior(&host, "iid-1", &sha256_hex(b"two"), false).err().unwrap();
        assert_eq!(crate::error::exit_code_of(&err), Exit::InvalidInput as u8);
        assert!(err.to_string().contains("--force"), "{err}");
        assert!(matches!(prior(&host, "iid-1", &sha256_hex(b"two"), true).unwrap(), Prior::Resume(_)));
        let Prior::Resume(r) = prior(&host, "iid-1", &sha256_hex(b"one"), false).unwrap() else { panic!() };
        assert_eq!(r.runs, 1);
        let mode = |p: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(host.path(p)).unwrap().permissions().mode() & 0o7777
        };
        assert_eq!(mode("/var/lib/kubeboot/instances/iid-1/user-data"), 0o600);
        assert_eq!(mode("/var/lib/kubeboot/instances/iid-1/journal.json"), 0o600);
        assert_eq!(mode("/var/lib/kubeboot/instances/iid-1"), 0o700);
        assert_eq!(mode("/var/lib/kubeboot"), 0o700);
    }
}
