//! The ISO 9660 seed reader (cidata / config-2 on a CD-ROM): open, label, and every path the
//! NoCloud and config-drive sources read. The input is the volume from sector 16 on (the
//! system area before it is never read), so seeds stay small.
#![no_main]

use std::io::Cursor;

use kubeboot::source::iso9660::Iso;
use libfuzzer_sys::fuzz_target;

const SYSTEM_AREA: usize = 16 * 2048;

fuzz_target!(|data: &[u8]| {
    let mut image = vec![0u8; SYSTEM_AREA];
    image.extend_from_slice(data);
    let _ = kubeboot::source::iso9660::is_iso9660(&image);
    let Ok(mut iso) = Iso::open(Cursor::new(image)) else { return };
    let _ = iso.label();
    for path in ["user-data", "meta-data", "/openstack/latest/user_data", "openstack/latest/meta_data.json", "a/b/c/d"]
    {
        if let Ok(Some(bytes)) = iso.read(path, 64 * 1024) {
            assert!(bytes.len() <= 64 * 1024);
        }
    }
});
