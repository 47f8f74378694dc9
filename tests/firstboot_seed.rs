//! NoCloud and config-drive seeds built with the real tools (xorriso for ISO 9660 with Joliet
//! and/or Rock Ridge, mkfs.vfat + mcopy for FAT) and read by kubeboot without mounting: from the
//! image files, and — as root — from loop devices found by label in /sys/class/block, through
//! the real binary. Every way must give the same user-data and meta-data as the seed directory.

mod firstboot_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use firstboot_common::*;
use kubeboot::host::Host;
use kubeboot::source::{self, Datasource, Env, configdrive, nocloud, volume};

const META: &str = "instance-id: iid-seed-1\nlocal-hostname: cp-1\n";

fn have(tool: &str) -> bool {
    let ok = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: `{tool}` is not installed (scripts/install-test-deps.sh installs it)");
    }
    ok
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out));
}

/// A directory with the seed files, as cloud-localds/genisoimage users lay them out.
fn seed_files(user_data: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("user-data"), user_data).unwrap();
    std::fs::write(d.path().join("meta-data"), META).unwrap();
    d
}

/// An ISO 9660 image of `files/<name>` for each name, with the chosen name extensions.
fn iso(files: &Path, label: &str, rock_ridge: bool, joliet: bool, names: &[&str]) -> PathBuf {
    let on = |b: bool| if b { "on" } else { "off" };
    let out = files.join(format!("seed-rr{}-joliet{}.iso", on(rock_ridge), on(joliet)));
    let mut cmd = Command::new("xorriso");
    cmd.current_dir(files).args(["-report_about", "SORRY", "-outdev"]).arg(&out);
    cmd.args(["-volid", label, "-rockridge", on(rock_ridge), "-joliet", on(joliet)]);
    for n in names {
        cmd.args(["-map", n, &format!("/{n}")]);
    }
    run(&mut cmd);
    out
}

fn vfat(files: &Path) -> PathBuf {
    let img = files.join("seed.img");
    run(Command::new("mkfs.vfat").args(["-C", "-n", "cidata"]).arg(&img).arg("2048"));
    run(Command::new("mcopy").arg("-i").arg(&img).arg(files.join("user-data")).arg(files.join("meta-data")).arg("::"));
    img
}

/// The reference: the same files in /var/lib/cloud/seed/nocloud under a root.
fn from_seed_dir(user_data: &str) -> source::UserData {
    let root = Root::new();
    root.seed(user_data, META);
    nocloud::SeedDir.probe(&Env::detect(&Host::new(root.path()))).unwrap().expect("seed dir")
}

fn assert_same(a: &source::UserData, b: &source::UserData) {
    assert_eq!(a.bytes, b.bytes, "user-data differs between {} and {}", a.origin, b.origin);
    assert_eq!(a.meta, b.meta, "meta-data differs between {} and {}", a.origin, b.origin);
    assert_eq!(a.meta.instance_id.as_deref(), Some("iid-seed-1"));
    assert_eq!(a.meta.local_hostname.as_deref(), Some("cp-1"));
}

#[test]
fn iso9660_seeds_with_joliet_or_rock_ridge_read_like_the_seed_dir() {
    if !have("xorriso") {
        return;
    }
    let ud = control_plane_yaml(&Canaries::new(), None);
    let reference = from_seed_dir(&ud);
    let files = seed_files(&ud);
    for (rock_ridge, joliet) in [(true, true), (false, true), (true, false)] {
        let img = iso(files.path(), "cidata", rock_ridge, joliet, &["user-data", "meta-data"]);
        let mut vol = volume::open_seed(&img).unwrap();
        assert_eq!(vol.fs_type(), "iso9660");
        assert_eq!(vol.label(), "cidata");
        assert_same(&nocloud::from_volume(&mut vol, &img).unwrap(), &reference);
    }
    // Without Joliet or Rock Ridge the names are USER_DATA.;1: the seed is unusable and says why.
    let plain = iso(files.path(), "CIDATA", false, false, &["user-data", "meta-data"]);
    let err = nocloud::from_volume(&mut volume::open_seed(&plain).unwrap(), &plain).err().unwrap();
    assert!(err.to_string().contains("has no user-data file"), "{err:#}");
}

#[test]
fn vfat_seed_reads_like_the_seed_dir() {
    if !have("mkfs.vfat") || !have("mcopy") {
        return;
    }
    let ud = control_plane_yaml(&Canaries::new(), None);
    let files = seed_files(&ud);
    let img = vfat(files.path());
    let mut vol = volume::open_seed(&img).unwrap();
    assert_eq!(vol.fs_type(), "vfat");
    assert!(vol.label().eq_ignore_ascii_case("cidata"), "label {:?}", vol.label());
    assert_same(&nocloud::from_volume(&mut vol, &img).unwrap(), &from_seed_dir(&ud));
}

#[test]
fn openstack_config_drive_iso() {
    if !have("xorriso") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let latest = d.path().join("openstack/latest");
    std::fs::create_dir_all(&latest).unwrap();
    let ud = control_plane_yaml(&Canaries::new(), None);
    std::fs::write(latest.join("user_data"), &ud).unwrap();
    std::fs::write(
        latest.join("meta_data.json"),
        r#"{"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "cp-1"}"#,
    )
    .unwrap();
    let img = iso(d.path(), "config-2", true, true, &["openstack"]);
    let mut vol = volume::open_seed(&img).unwrap();
    assert_eq!(vol.label(), "config-2");
    let got = configdrive::from_volume(&mut vol, &img).unwrap();
    assert_eq!(got.bytes, ud.as_bytes());
    assert_eq!(got.meta.instance_id.as_deref(), Some("83679162-1378-4288-a2d4-70e13ec132aa"));
    assert_eq!(got.meta.local_hostname.as_deref(), Some("cp-1"));
}

/// Detaches the loop device even when the test fails.
struct Loop(String);

impl Loop {
    fn attach(img: &Path) -> Loop {
        let out = Command::new("losetup").args(["-f", "--show", "-r"]).arg(img).output().unwrap();
        assert!(out.status.success(), "losetup: {}", text(&out));
        Loop(String::from_utf8(out.stdout).unwrap().trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.0).status();
    }
}

/// The real binary finds the seed on a block device by its label (superblock, no udev, no
/// mount), runs, and journals exactly the user-data a seed directory would have given.
#[test]
fn kubeboot_run_finds_iso_vfat_and_config_drive_seeds_on_loop_devices_by_label() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: attaching loop devices needs root");
        return;
    }
    if !have("xorriso") || !have("mkfs.vfat") || !have("mcopy") || !have("losetup") {
        return;
    }
    let stray = volume::find_by_label(nocloud::LABELS).unwrap();
    assert!(
        stray.is_empty(),
        "a cidata device is already attached on this machine: {:?}",
        stray.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    let ud = control_plane_yaml(&Canaries::new(), None);
    let files = seed_files(&ud);
    let reference = from_seed_dir(&ud);
    for (img, fs) in [
        (iso(files.path(), "cidata", true, true, &["user-data", "meta-data"]), "iso9660"),
        (vfat(files.path()), "vfat"),
    ] {
        let dev = Loop::attach(&img);
        let root = Root::new();
        let out = root.run(&["--datasource", "nocloud", "--skip-phases", &skip_all_but(&[])]);
        assert!(out.status.success(), "{fs}: {}", text(&out));
        let st = root.status_json();
        assert_eq!(st["source"], format!("nocloud:{} ({fs})", dev.0));
        assert_eq!(st["instanceId"], "iid-seed-1");
        assert_eq!(st["nodeName"], "cp-1");
        let copy = root.read("/var/lib/kubeboot/instances/iid-seed-1/user-data").unwrap();
        assert_eq!(copy, reference.bytes, "{fs}: journaled user-data differs from the seed dir's");
    }

    // An OpenStack config drive on a device, found by its config-2 label.
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("openstack/latest")).unwrap();
    std::fs::write(d.path().join("openstack/latest/user_data"), &ud).unwrap();
    std::fs::write(d.path().join("openstack/latest/meta_data.json"), r#"{"uuid": "os-uuid-1", "hostname": "cp-1"}"#)
        .unwrap();
    let dev = Loop::attach(&iso(d.path(), "config-2", true, false, &["openstack"]));
    let root = Root::new();
    let out = root.run(&["--datasource", "configdrive", "--skip-phases", &skip_all_but(&[])]);
    assert!(out.status.success(), "config drive: {}", text(&out));
    let st = root.status_json();
    assert_eq!(st["source"], format!("configdrive:{} (iso9660)", dev.0));
    assert_eq!(st["instanceId"], "os-uuid-1");
}
