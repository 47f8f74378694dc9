//! kubeboot is a static glibc binary, and glibc's resolver loads NSS modules with dlopen,
//! which crashes a static binary (rust-notes §0). Some crates we depend on still *contain*
//! a getaddrinfo fallback (reqwest's and hyper-util's GaiResolver, std's `lookup_host`).
//! Defining the two entry points here keeps glibc's resolver object — and with it the whole
//! NSS machinery — out of the link: a lookup through libc fails cleanly with EAI_FAIL instead
//! of crashing. kubeboot resolves names with hickory; `tests/static_binary.rs` checks the link.

use std::ffi::{c_char, c_int, c_void};

/// glibc's `EAI_FAIL`: "a non-recoverable failure in name resolution".
const EAI_FAIL: c_int = -4;

/// # Safety
/// Called only by libc-style callers with glibc's `getaddrinfo` contract; writes `*res` if non-null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    _node: *const c_char,
    _service: *const c_char,
    _hints: *const c_void,
    res: *mut *mut c_void,
) -> c_int {
    if !res.is_null() {
        // SAFETY: the caller passes a valid out-pointer (getaddrinfo's contract).
        unsafe { *res = std::ptr::null_mut() };
    }
    EAI_FAIL
}

/// # Safety
/// Never receives a list (getaddrinfo above never succeeds); present so glibc's object is not linked for it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn freeaddrinfo(_res: *mut c_void) {}

#[cfg(test)]
mod tests {
    /// A host-name lookup through std (libc) fails with an error instead of entering NSS.
    #[test]
    #[allow(clippy::disallowed_methods)]
    fn libc_name_lookup_fails_cleanly() {
        use std::net::ToSocketAddrs;
        let err = "localhost:80".to_socket_addrs().unwrap_err();
        assert!(!err.to_string().is_empty());
        // IP literals never needed the resolver and still work.
        assert_eq!("127.0.0.1:80".to_socket_addrs().unwrap().count(), 1);
    }
}
