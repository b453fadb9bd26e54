//! Which inspector hosts are safe to reach without asking: loopback ones only, since the
//! inspector gives whoever connects remote code execution.

use std::net::IpAddr;

/// True for `localhost`, `127.0.0.0/8` and `::1` (with or without brackets).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "0.0.0.0",
            "example.com",
            "::",
            "192.168.1.1",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
