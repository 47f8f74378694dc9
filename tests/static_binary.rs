//! The binary is fully static and can never enter glibc's NSS (which dlopens libnss_* and
//! crashes a static binary): none of libc's lookup entry points (getpw*, getgr*, initgroups,
//! gethostby*, getservby*, getnameinfo) is linked, and `getaddrinfo` is kubeboot's own
//! always-failing replacement (src/host/nss_guard.rs), not glibc's resolver.
//! The debug binary is checked (the release binary is stripped); code reachable in release
//! is reachable in debug too, so a clean debug binary means a clean release binary.

use std::process::Command;

const NSS_ENTRY_POINTS: &[&str] = &[
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getpwent",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrent",
    "getgrouplist",
    "initgroups",
    "gethostbyname",
    "gethostbyname_r",
    "gethostbyname2",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "getservbyname",
    "getservbyname_r",
    "getservbyport",
    "getservbyport_r",
    "getnameinfo",
    "getprotobyname",
    "getprotobyname_r",
];

#[test]
fn binary_is_statically_linked() {
    let out = Command::new("file").arg(env!("CARGO_BIN_EXE_kubeboot")).output().expect("`file` is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("static-pie linked") || text.contains("statically linked"), "{text}");
}

#[test]
fn binary_links_no_nss_lookup_and_only_kubeboots_getaddrinfo() {
    let out = Command::new("nm").arg(env!("CARGO_BIN_EXE_kubeboot")).output().expect("`nm` (binutils) is installed");
    assert!(out.status.success(), "nm failed: {}", String::from_utf8_lossy(&out.stderr));
    let symbols = String::from_utf8_lossy(&out.stdout);
    assert!(symbols.lines().count() > 1000, "nm returned too few symbols; is the binary stripped?");
    let entries: Vec<(&str, &str)> = symbols
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().rev();
            let name = f.next()?;
            Some((f.next()?, name))
        })
        .collect();
    let found: Vec<&str> = entries.iter().filter(|(_, n)| NSS_ENTRY_POINTS.contains(n)).map(|(_, n)| *n).collect();
    assert!(
        found.is_empty(),
        "NSS lookups linked in: {found:?} (see rust-notes §0: hickory DNS, no libc user lookups)"
    );
    let gai: Vec<&str> = entries.iter().filter(|(_, n)| *n == "getaddrinfo").map(|(t, _)| *t).collect();
    assert!(
        gai.is_empty() || gai == ["T"],
        "getaddrinfo must be absent or kubeboot's global override, never glibc's resolver (found types {gai:?})"
    );
}
