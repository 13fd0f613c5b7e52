//! Where a hook may be sent: the URL resolved once and checked.
//!
//! The hook URL comes from configuration, but the name in it is resolved at
//! send time, so a name that pointed outside yesterday may point at a
//! database port on this host today. Every address the name resolves to is
//! checked, and the one that passed is the one the sender connects to: the
//! HTTP client is never allowed to resolve the name a second time.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Carries the address that passed the check so the sender connects there
/// and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    /// The host as written in the URL (IPv6 literals keep their brackets).
    pub host: String,
    pub addr: SocketAddr,
}

/// Typed so the sender can tell a passing DNS failure from a configuration
/// the operator has to change.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("hook URL {url:?} does not parse: {source}")]
    Unparsable {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("hook URL {url:?} has scheme {scheme:?}; only http and https are sent")]
    Scheme { url: String, scheme: String },
    #[error("hook URL {url:?} has no host")]
    NoHost { url: String },
    #[error("{host} does not resolve ({source}); nothing was sent")]
    Unresolved {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("{host} resolves to no address; nothing was sent")]
    NoAddress { host: String },
    #[error("{host} resolves to {addr}, a {reason} address; set allow_private = true to allow it")]
    Refused {
        host: String,
        addr: IpAddr,
        reason: &'static str,
    },
}

impl Refusal {
    /// Whether asking again later cannot help. A name that does not resolve
    /// may be a passing DNS failure; a bad URL or a refused address stays so
    /// until the operator changes the configuration.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Unresolved { .. } | Self::NoAddress { .. })
    }
}

/// Hooks are meant for services outside this host and its networks; an
/// address inside them would let a configured URL reach what the network
/// does not expose. The reason word goes into the refusal message.
pub fn is_refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_refusal(v4),
        IpAddr::V6(v6) => v6_refusal(v6),
    }
}

fn v4_refusal(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if a == 0 {
        // 0.0.0.0/8 "this network": connecting to it reaches this host.
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn v6_refusal(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Mapped (::ffff:a.b.c.d), compatible (::a.b.c.d) and NAT64
    // (64:ff9b::a.b.c.d) addresses reach the IPv4 address inside them.
    if let Some(v4) = ip.to_ipv4() {
        return v4_refusal(v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., c, d] = segments;
        let [c1, c2] = c.to_be_bytes();
        let [d1, d2] = d.to_be_bytes();
        return v4_refusal(Ipv4Addr::new(c1, c2, d1, d2));
    }
    let first = segments[0];
    if first & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// Parses `url`, resolves its host once and checks every address it
/// resolves to. One refused address refuses the URL, so a name cannot slip
/// a private address in beside a public one.
pub async fn resolve_checked(url: &str, allow_private: bool) -> Result<Target, Refusal> {
    let parsed = Url::parse(url).map_err(|source| Refusal::Unparsable {
        url: url.to_owned(),
        source,
    })?;
    let default_port = match parsed.scheme() {
        "http" => 80,
        "https" => 443,
        other => {
            return Err(Refusal::Scheme {
                url: url.to_owned(),
                scheme: other.to_owned(),
            });
        }
    };
    let port = parsed.port().unwrap_or(default_port);
    let (host, addrs) = match parsed.host() {
        None => {
            return Err(Refusal::NoHost {
                url: url.to_owned(),
            });
        }
        Some(Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Ipv6(ip)) => (format!("[{ip}]"), vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Domain(name)) => {
            let addrs = tokio::net::lookup_host((name, port))
                .await
                .map_err(|source| Refusal::Unresolved {
                    host: name.to_owned(),
                    source,
                })?
                .collect();
            (name.to_owned(), addrs)
        }
    };
    if !allow_private {
        for addr in &addrs {
            if let Some(reason) = is_refused(addr.ip()) {
                return Err(Refusal::Refused {
                    host,
                    addr: addr.ip(),
                    reason,
                });
            }
        }
    }
    let Some(&addr) = addrs.first() else {
        return Err(Refusal::NoAddress { host });
    };
    Ok(Target {
        url: parsed,
        host,
        addr,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn refused_addresses_have_their_reason() {
        let table: &[(&str, Option<&str>)] = &[
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("10.0.0.1", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private")),
            ("100.64.0.1", Some("shared")),
            ("100.127.255.255", Some("shared")),
            ("100.128.0.1", None),
            ("169.254.169.254", Some("link-local")),
            ("224.0.0.1", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
            ("192.0.2.1", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::ffff:10.0.0.1", Some("private")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:8.8.8.8", None),
            ("::10.0.0.1", Some("private")),
            ("64:ff9b::a9fe:a9fe", Some("link-local")),
            ("64:ff9b::808:808", None),
            ("fc00::1", Some("unique-local")),
            ("fd12:3456::1", Some("unique-local")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("site-local")),
            ("ff02::1", Some("multicast")),
            ("2001:4860:4860::8888", None),
            ("2001:db8::1", None),
        ];
        for &(text, want) in table {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(is_refused(ip), want, "{text}");
        }
    }

    #[tokio::test]
    async fn literal_addresses_are_checked_without_lookup() {
        let refusal = resolve_checked("http://[::ffff:192.168.0.7]:8080/x", false)
            .await
            .unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::Refused {
                reason: "private",
                ..
            }
        ));
        assert_eq!(
            refusal.to_string(),
            "[::ffff:192.168.0.7] resolves to ::ffff:192.168.0.7, a private address; \
             set allow_private = true to allow it"
        );
        let target = resolve_checked("https://10.1.2.3/hook", true)
            .await
            .unwrap();
        assert_eq!(target.addr, "10.1.2.3:443".parse().unwrap());
        assert_eq!(target.host, "10.1.2.3");
    }

    #[tokio::test]
    async fn localhost_resolves_and_is_refused() {
        let refusal = resolve_checked("http://localhost:9/", false)
            .await
            .unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::Refused {
                reason: "loopback",
                ..
            }
        ));
        assert!(refusal.is_permanent());
        let target = resolve_checked("http://localhost:9/", true).await.unwrap();
        assert!(target.addr.ip().is_loopback());
        assert_eq!(target.addr.port(), 9);
    }

    #[tokio::test]
    async fn bad_urls_are_permanent() {
        for url in ["not a url", "ftp://x/", "http:///", "data:text/plain,hi"] {
            let refusal = resolve_checked(url, true).await.unwrap_err();
            assert!(refusal.is_permanent(), "{url}: {refusal}");
        }
    }
}
