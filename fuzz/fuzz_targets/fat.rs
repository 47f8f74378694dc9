//! The vfat seed path: detection, fatfs through kubeboot's read-only wrapper, label and the
//! seed files NoCloud and config-drive read.
#![no_main]

use std::io::Cursor;

use kubeboot::source::fat::{Fat, is_fat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = is_fat(data);
    let Ok(fat) = Fat::open(Cursor::new(data.to_vec())) else { return };
    let _ = fat.label();
    for path in ["user-data", "meta-data", "/openstack/latest/user_data", "openstack/latest/meta_data.json"] {
        if let Ok(Some(bytes)) = fat.read(path, 64 * 1024) {
            assert!(bytes.len() <= 64 * 1024);
        }
    }
});
