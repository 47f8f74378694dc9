//! The binary is fully static and can never call into glibc's NSS (which segfaults in a
//! static glibc binary when it dlopens libnss_*): no getaddrinfo, getpw*, getgr* symbols.
//! The debug binary is checked (the release binary is stripped); code reachable in release
//! is reachable in debug too, so a clean debug binary means a clean release binary.

use std::process::Command;

const NSS_SYMBOLS: &[&str] = &[
    "getaddrinfo",
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrouplist",
    "initgroups",
    "gethostbyname",
    "gethostbyname_r",
    "gethostbyname2_r",
];

#[test]
fn binary_is_statically_linked() {
    let out = Command::new("file").arg(env!("CARGO_BIN_EXE_kubeboot")).output().expect("`file` is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("static-pie linked") || text.contains("statically linked"), "{text}");
}

#[test]
fn binary_references_no_nss_symbols() {
    let out = Command::new("nm").arg(env!("CARGO_BIN_EXE_kubeboot")).output().expect("`nm` (binutils) is installed");
    assert!(out.status.success(), "nm failed: {}", String::from_utf8_lossy(&out.stderr));
    let symbols = String::from_utf8_lossy(&out.stdout);
    assert!(symbols.lines().count() > 1000, "nm returned too few symbols; is the binary stripped?");
    let found: Vec<&str> =
        symbols.lines().filter_map(|l| l.split_whitespace().last()).filter(|name| NSS_SYMBOLS.contains(name)).collect();
    assert!(
        found.is_empty(),
        "NSS-dependent symbols linked in: {found:?} (see rust-notes §0: use hickory DNS, no libc user lookups)"
    );
}
