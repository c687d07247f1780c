//! The address the limits count against: the TCP peer, or — only when the
//! peer is one of the operator's trusted proxies — the first untrusted hop of
//! `X-Forwarded-For`, read from the right. The header is never trusted from
//! anyone else, or any client could pick its own address.

use std::net::IpAddr;

use ipnet::IpNet;

pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else { return peer };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn header_only_counts_behind_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_ip(ip("1.2.3.4"), Some("9.9.9.9"), &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(ip("10.0.0.1"), Some("9.9.9.9"), &trusted), ip("9.9.9.9"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), Some("6.6.6.6, 9.9.9.9, 10.0.0.2"), &trusted),
            ip("9.9.9.9")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), Some("garbage"), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), Some("9.9.9.9"), &[]), ip("10.0.0.1"));
    }
}
