//! Where a push may be sent: the checks that keep a push endpoint from being used to
//! reach inside the server's network (SSRF).
//!
//! An endpoint must be `https://` and its host must be public: an IP literal is checked
//! when the device subscribes and again before every send; a host name is checked when
//! the device subscribes (if it resolves then) and, above all, at every send, by the
//! HTTP client's own resolver ([`PublicResolver`]), which hands the connector only
//! public addresses — so a name that later resolves inside (DNS rebinding) reaches
//! nothing. Push services on the settings' allowlist (`push_allow_hosts`: `host:port` or
//! `host`) are exempt, and may be plain `http://`: tests use it for a loopback push
//! service; production leaves it empty.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::settings::AllowedHost;

/// The longest endpoint taken (push services' URLs are a few hundred bytes).
pub const MAX_ENDPOINT_LEN: usize = 2048;

/// The push services allowed on private addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist(Vec<AllowedHost>);

impl Allowlist {
    /// The allowlist from the settings' entries; entries that do not parse are left out
    /// (the settings were validated before).
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Allowlist {
        Allowlist(entries.iter().filter_map(|e| AllowedHost::parse(e.as_ref())).collect())
    }

    /// Whether `host` (as in a URL, IPv6 with or without brackets) at `port` is allowed.
    pub fn permits(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.0.iter().any(|a| a.host() == host && a.port().is_none_or(|p| p == port))
    }

    /// The host names on the list, whatever their port.
    fn hosts(&self) -> Vec<String> {
        self.0.iter().map(|a| a.host().to_owned()).collect()
    }

    /// Whether the list is empty (as in production).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why an endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL, or too long.
    #[error("the endpoint is not a URL of at most {MAX_ENDPOINT_LEN} characters")]
    Malformed,
    /// Not https.
    #[error("the endpoint must be an https:// URL")]
    NotHttps,
    /// It carries a user name or password.
    #[error("the endpoint must not carry credentials")]
    Credentials,
    /// Its host is (or resolves to) an address that is not public.
    #[error("the endpoint's host {0} is not a public address")]
    NotPublic(String),
}

/// Which of the two HTTP clients a send goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The strict one: https only, public addresses only.
    Public,
    /// The allowlisted push services', which may be private and plain http.
    Allowed,
}

/// An endpoint that passed the checks that need no DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The parsed URL.
    pub url: Url,
    /// Its host, as written in the URL (IPv6 in brackets).
    pub host: String,
    /// Its port (the scheme's default if none is written).
    pub port: u16,
    /// The client to send it with.
    pub route: Route,
}

impl Checked {
    /// The origin a VAPID token must name as its audience: scheme, host and the port
    /// when it is not the scheme's default.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// Checks an endpoint without resolving its host: syntax, scheme, credentials, and that
/// an IP literal is public, unless the host is on the allowlist (which also allows
/// plain `http://`).
pub fn check(endpoint: &str, allow: &Allowlist) -> Result<Checked, EndpointError> {
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(EndpointError::Malformed);
    }
    let url = Url::parse(endpoint).map_err(|_| EndpointError::Malformed)?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or(EndpointError::Malformed)?.to_owned();
    let port = url.port_or_known_default().ok_or(EndpointError::Malformed)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError::Credentials);
    }
    if allow.permits(&host, port) {
        return match url.scheme() {
            "https" | "http" => Ok(Checked { url, host, port, route: Route::Allowed }),
            _ => Err(EndpointError::NotHttps),
        };
    }
    if url.scheme() != "https" {
        return Err(EndpointError::NotHttps);
    }
    // The URL parser has already turned every IPv4 spelling (`0x7f000001`, `2130706433`)
    // into dotted decimal, and IPv6 into its bracketed form.
    let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    if literal.is_some_and(|ip| !is_public(ip)) || is_local_name(&host) {
        return Err(EndpointError::NotPublic(host));
    }
    Ok(Checked { url, host, port, route: Route::Public })
}

/// Names that are local by definition (RFC 6761, RFC 6762), whatever DNS says.
fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost") || host.ends_with(".local") || host.ends_with(".internal")
}

/// Resolves an endpoint's host as a check when the device subscribes: refused if any of
/// its addresses is not public. A name that does not resolve (now) is let through: the
/// send-time resolver checks again.
pub async fn check_resolved(checked: &Checked, within: std::time::Duration) -> Result<(), EndpointError> {
    if checked.route == Route::Allowed || checked.url.domain().is_none() {
        return Ok(());
    }
    let lookup = tokio::net::lookup_host((checked.host.as_str(), checked.port));
    match tokio::time::timeout(within, lookup).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.iter().any(|a| !is_public(a.ip())) {
                return Err(EndpointError::NotPublic(checked.host.clone()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether an address is public: globally routable unicast, not loopback, private,
/// link-local, shared (CGNAT), documentation, benchmarking, multicast, reserved or
/// unspecified. IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged
/// by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let private = a == 0 // "this network"
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !private
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        // NAT64 (64:ff9b::/96).
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits.
        return is_public_v4(embedded(s[1], s[2]));
    }
    // Global unicast is 2000::/3; within it, IETF protocol assignments (2001::/23, which
    // holds Teredo and ORCHID) and documentation (2001:db8::/32) are not reachable hosts.
    let global = (s[0] & 0xe000) == 0x2000;
    let protocol = s[0] == 0x2001 && s[1] < 0x0200;
    let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
    global && !protocol && !documentation
}

/// The HTTP client's resolver: resolves with the system's resolver, then keeps only
/// public addresses — except for the hosts named in `permissive` (the allowlist's, for
/// the allowlisted client only). A name left with no address fails to connect.
#[derive(Debug, Clone, Default)]
pub struct PublicResolver {
    permissive: Arc<Vec<String>>,
}

impl PublicResolver {
    /// A resolver that lets only public addresses through.
    pub fn strict() -> PublicResolver {
        PublicResolver::default()
    }

    /// A resolver that also lets the allowlist's hosts resolve to private addresses.
    pub fn allowing(allow: &Allowlist) -> PublicResolver {
        PublicResolver { permissive: Arc::new(allow.hosts()) }
    }
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let anything = self.permissive.contains(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| anything || is_public(a.ip())).collect();
            if kept.is_empty() {
                let refused = std::io::Error::other(format!("{host} has no public address"));
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "203.0.113.5",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001:db8::1",
            "2001::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private} is not public");
        }
        for public in
            ["1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]
        {
            assert!(is_public(ip(public)), "{public} is public");
        }
    }

    #[test]
    fn allowlist_entries_name_a_host_and_perhaps_a_port() {
        let list = Allowlist::new(&["127.0.0.1:9000", "Push.Test", "[::1]:8443", "::1"]);
        assert!(list.permits("127.0.0.1", 9000));
        assert!(!list.permits("127.0.0.1", 9001));
        assert!(list.permits("push.test", 1));
        assert!(list.permits("[::1]", 8443));
        assert!(list.permits("::1", 1), "a bare address allows every port");
        for bad in ["", "http://x", "x:", "x:0", "x:99999", "[::1", "[nope]:1", "a b"] {
            assert!(AllowedHost::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Allowlist::default().is_empty());
    }

    #[test]
    fn endpoints_must_be_public_https_unless_allowed() {
        let none = Allowlist::default();
        let ok = check("https://fcm.googleapis.com/fcm/send/abc", &none).unwrap();
        assert_eq!((ok.host.as_str(), ok.port, ok.route), ("fcm.googleapis.com", 443, Route::Public));
        assert_eq!(ok.origin(), "https://fcm.googleapis.com");
        assert_eq!(check("https://push.example.org:8443/x", &none).unwrap().origin(), "https://push.example.org:8443");
        assert_eq!(check("http://push.example.org/x", &none), Err(EndpointError::NotHttps));
        assert_eq!(check("ftp://push.example.org/x", &none), Err(EndpointError::NotHttps));
        assert_eq!(check("not a url", &none), Err(EndpointError::Malformed));
        assert_eq!(
            check(&format!("https://a.org/{}", "x".repeat(MAX_ENDPOINT_LEN)), &none),
            Err(EndpointError::Malformed)
        );
        assert_eq!(check("https://u:p@push.example.org/x", &none), Err(EndpointError::Credentials));
        for inside in [
            "https://127.0.0.1/x",
            "https://10.0.0.7:8443/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:192.168.0.1]/x",
            "https://localhost/x",
            "https://push.localhost/x",
            "https://0x7f000001/x",
            "https://2130706433/x",
        ] {
            assert!(matches!(check(inside, &none), Err(EndpointError::NotPublic(_))), "{inside}");
        }
        let allow = Allowlist::new(&["127.0.0.1:9000"]);
        let ok = check("http://127.0.0.1:9000/push/1", &allow).unwrap();
        assert_eq!(ok.route, Route::Allowed);
        assert_eq!(ok.origin(), "http://127.0.0.1:9000");
        assert!(matches!(check("https://127.0.0.1:9001/x", &allow), Err(EndpointError::NotPublic(_))));
        assert!(matches!(check("http://127.0.0.1:9001/x", &allow), Err(EndpointError::NotHttps)));
    }

    #[tokio::test]
    async fn the_resolver_hands_out_only_public_addresses() {
        let name: Name = "localhost".parse().unwrap();
        assert!(PublicResolver::strict().resolve(name).await.is_err(), "localhost is not public");
        let allowed = PublicResolver::allowing(&Allowlist::new(&["localhost:1"]));
        let addrs: Vec<SocketAddr> = allowed.resolve("localhost".parse().unwrap()).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[tokio::test]
    async fn a_name_that_resolves_inside_is_refused_when_subscribing() {
        // Past the name rules (as any name that DNS points inside would be), resolving catches it.
        let url = Url::parse("https://localhost/x").unwrap();
        let checked = Checked { url, host: "localhost".into(), port: 443, route: Route::Public };
        let refused = check_resolved(&checked, std::time::Duration::from_secs(2)).await;
        assert!(matches!(refused, Err(EndpointError::NotPublic(_))));
        let allowed = Checked { route: Route::Allowed, ..checked };
        assert_eq!(check_resolved(&allowed, std::time::Duration::from_secs(2)).await, Ok(()));
    }
}
