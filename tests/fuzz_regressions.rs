//! Inputs the cargo-fuzz targets (fuzz/, `scripts/fuzz.sh`) found crashing, replayed through the
//! same code in the test suite. Each must end in an error or a result, never a panic.

use std::io::Cursor;

use kubeboot::source::fat::Fat;

/// What the `fat` fuzz target does with one input.
fn read_fat(image: &[u8]) {
    let Ok(fat) = Fat::open(Cursor::new(image.to_vec())) else { return };
    let _ = fat.label();
    for path in ["user-data", "meta-data", "/openstack/latest/user_data", "openstack/latest/meta_data.json"] {
        let _ = fat.read(path, 64 * 1024);
    }
}

/// Found by `scripts/fuzz.sh` (target `fat`) within seconds on 2026-12-02: a directory entry
/// whose first cluster is below 2 makes fatfs 0.3.6 compute `cluster - 2` (fs.rs:448), which
/// panics with overflow checks on and wraps to a wild sector without them. fatfs is now built
/// without overflow checks in tests too (as in release, Cargo.toml) and every seed read goes
/// through `source::bounded`, which refuses the wild seek (issue 16 item 2).
#[test]
fn fat_directory_entry_with_cluster_below_two() {
    read_fat(include_bytes!("fuzz-regressions/fat-cluster-underflow.bin"));
}
