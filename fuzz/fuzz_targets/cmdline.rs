//! The kernel command line: parameter splitting and quoting, `ds=nocloud;...`, DMI templating
//! and the URL test that decides between a seed URL and a path.
#![no_main]

use kubeboot::source::Dmi;
use kubeboot::source::cmdline::{Cmdline, expand, is_url};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let c = Cmdline::parse(line);
    let dmi = Dmi { product_uuid: "${uuid}".into(), mac: "52:54:00:12:34:56".into(), ..Dmi::default() };
    for key in ["kubeboot.config", "kubeboot.datasource", "ds"] {
        if let Some(v) = c.get(key) {
            let _ = is_url(&expand(v, &dmi));
        }
    }
    if let Some((seed, meta)) = c.nocloud() {
        let _ = is_url(&expand(&seed, &dmi));
        let _ = (meta.instance_id, meta.local_hostname);
    }
});
