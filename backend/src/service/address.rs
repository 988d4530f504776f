//! The parts of a network address the lab takes from clients (the registry's `host:port`, a
//! model's `http(s)://host[:port]`), checked as their schemas state them.

/// A host name or IPv4 address: letters, digits, `.` and `-`, not empty.
pub fn host(host: &str) -> bool {
    !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// A TCP port written in digits only, 1 to 65535 (Rust's parser alone also takes `+80`).
pub fn port(port: &str) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && port.chars().all(|c| c.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|n| n > 0)
}

/// `host:port` (at most 253 characters of host), as the schemas' pattern
/// `^[A-Za-z0-9.-]{1,253}:(1..65535)$` states it.
pub fn host_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port_text)| host.len() <= 253 && self::host(host) && port(port_text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_and_ports_as_the_schemas_say() {
        assert!(super::host("localhost") && super::host("10.0.0.2") && super::host("a-b.example"));
        assert!(!super::host("") && !super::host("ü") && !super::host("a b"));
        assert!(super::port("1") && super::port("65535"));
        for bad in ["", "0", "65536", "+80", "8a", "000080"] {
            assert!(!super::port(bad), "{bad}");
        }
        assert!(super::host_port("localhost:3001") && super::host_port("10.0.0.2:80"));
        for bad in ["localhost", ":80", "a:0", "a b:80", "a:80:81", "http://a:80"] {
            assert!(!super::host_port(bad), "{bad}");
        }
    }
}
