//! Rate limiting: a token bucket, a keyed set of buckets with bounded memory, and the
//! client address the public routes are limited by.
//!
//! One [`KeyedLimiter`] serves every per-address or per-login limit (anonymous reports,
//! uploads and their daily bytes, failed logins); sync sockets keep a plain
//! [`TokenBucket`] per connection. The client's address is the peer's, unless a trusted
//! proxy (configured by address) says otherwise in the configured header
//! ([`TrustedProxies`]): without that configuration a forwarded header is ignored, so a
//! client cannot claim another address to slip past its limit. IPv6 clients are limited
//! per /64 ([`client_key`]), the block one subscriber usually holds.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use actix_web::http::header::{HeaderMap, HeaderName};
use actix_web::{FromRequest, HttpRequest, web};

use crate::problem::ApiError;

/// A bucket of tokens refilled over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket refilled at `rate` a second, holding at most `burst` (at least 1).
    pub fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        let burst = burst.max(1.0);
        TokenBucket { rate: rate.max(0.0), burst, tokens: burst, at: now }
    }

    fn level(&self, now: Instant) -> f64 {
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * self.rate).min(self.burst)
    }

    /// Seconds until `cost` tokens are there (at least 1); a cost above the burst never
    /// fits, and is told to wait for a full bucket.
    fn wait(&self, cost: f64, level: f64) -> u64 {
        let missing = cost.min(self.burst) - level;
        if self.rate > 0.0 { (missing / self.rate).ceil().max(1.0) as u64 } else { 60 }
    }

    /// Takes a token; `Err(seconds)` to wait for the next when there is none.
    pub fn take(&mut self, now: Instant) -> Result<(), u64> {
        self.take_n(1.0, now)
    }

    /// Takes `cost` tokens at once (bytes of a quota, say); `Err(seconds)` to wait when
    /// there are fewer, and then nothing is taken.
    pub fn take_n(&mut self, cost: f64, now: Instant) -> Result<(), u64> {
        let level = self.level(now);
        self.tokens = level;
        self.at = now;
        if level >= cost {
            self.tokens -= cost;
            Ok(())
        } else {
            Err(self.wait(cost, level))
        }
    }

    /// Whether `cost` tokens are there, taking none; `Err(seconds)` to wait otherwise.
    pub fn check(&self, cost: f64, now: Instant) -> Result<(), u64> {
        let level = self.level(now);
        if level >= cost { Ok(()) } else { Err(self.wait(cost, level)) }
    }

    /// Whether the bucket would be full at `now` (nothing taken lately: safe to forget).
    pub fn is_full(&self, now: Instant) -> bool {
        self.level(now) >= self.burst
    }
}

/// One bucket per key (an address, a login), with bounded memory: past `capacity` keys,
/// full buckets are forgotten (they hold nothing a new bucket would not), and if that is
/// not enough — a scan from very many addresses at once — the least recently used
/// quarter goes too, so that a flood of new keys costs the map no more than `capacity`.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: f64,
    burst: f64,
    capacity: usize,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

/// Keys a [`KeyedLimiter`] remembers unless told otherwise (about 100 bytes each).
pub const DEFAULT_CAPACITY: usize = 100_000;

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// Buckets refilled at `rate` tokens a second up to `burst`, for at most `capacity` keys.
    pub fn new(rate: f64, burst: f64, capacity: usize) -> KeyedLimiter<K> {
        KeyedLimiter { rate, burst: burst.max(1.0), capacity: capacity.max(4), buckets: Mutex::new(HashMap::new()) }
    }

    /// `burst` at once, then `count` every `per_seconds` seconds, per key.
    pub fn every(count: u64, per_seconds: u64, burst: u64) -> KeyedLimiter<K> {
        Self::new(count as f64 / per_seconds.max(1) as f64, burst as f64, DEFAULT_CAPACITY)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, TokenBucket>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `cost` tokens from `key`'s bucket; `Err(seconds)` to wait when there are
    /// fewer (and then nothing is taken).
    pub fn take(&self, key: &K, cost: f64, now: Instant) -> Result<(), u64> {
        let mut buckets = self.lock();
        if let Some(bucket) = buckets.get_mut(key) {
            return bucket.take_n(cost, now);
        }
        if buckets.len() >= self.capacity {
            self.make_room(&mut buckets, now);
        }
        let mut bucket = TokenBucket::new(self.rate, self.burst, now);
        let taken = bucket.take_n(cost, now);
        buckets.insert(key.clone(), bucket);
        taken
    }

    /// Whether `key` has `cost` tokens, taking none; `Err(seconds)` to wait otherwise.
    pub fn check(&self, key: &K, cost: f64, now: Instant) -> Result<(), u64> {
        match self.lock().get(key) {
            Some(bucket) => bucket.check(cost, now),
            None => TokenBucket::new(self.rate, self.burst, now).check(cost, now),
        }
    }

    /// Forgets `key`'s bucket: it starts full again.
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn make_room(&self, buckets: &mut HashMap<K, TokenBucket>, now: Instant) {
        buckets.retain(|_, bucket| !bucket.is_full(now));
        let keep = self.capacity / 4 * 3;
        if buckets.len() <= keep {
            return;
        }
        // Still crowded: forget the buckets used longest ago, down to three quarters,
        // so that the next scans of the map are a quarter of the capacity apart.
        let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
        let cut = ages.len() - keep;
        let (_, oldest_kept, _) = ages.select_nth_unstable(cut);
        let oldest_kept = *oldest_kept;
        buckets.retain(|_, bucket| bucket.at >= oldest_kept);
        tracing::warn!(kept = buckets.len(), "a rate limiter was full of active keys: the least recent forgotten");
    }
}

/// The key a client is limited by: its IPv4 address, or the /64 of its IPv6 address
/// (an IPv4 address mapped into IPv6 counts as the IPv4 one).
pub fn client_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

/// An address or a network (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Reads `ADDR` or `ADDR/PREFIX`.
    pub fn parse(s: &str) -> Option<Network> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr.parse::<IpAddr>().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Network { addr, prefix })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let mask = |bits: u32, width: u32| if bits == 0 { 0 } else { u128::MAX << (width - bits) };
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = mask(u32::from(self.prefix), 32);
                (u128::from(u32::from(net)) & m) == (u128::from(u32::from(ip)) & m)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = mask(u32::from(self.prefix), 128);
                (u128::from(net) & m) == (u128::from(ip) & m)
            }
            _ => false,
        }
    }
}

/// Whose word on the client's address is taken: the header a reverse proxy sets
/// (`X-Forwarded-For`, `X-Real-IP`) and the proxies allowed to set it. Empty (the
/// default): the peer's address, always.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    header: Option<HeaderName>,
    proxies: Vec<Network>,
}

/// Why the trusted-proxy settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// Not a header name.
    #[error("trusted_proxy_header: {0:?} is not a header name")]
    BadHeader(String),
    /// Not an address or network.
    #[error("trusted_proxies: {0:?} is not an address or a network (ADDR/PREFIX)")]
    BadProxy(String),
    /// One given without the other.
    #[error("trusted_proxy_header and trusted_proxies go together: name the header and the proxies that set it")]
    Half,
}

impl TrustedProxies {
    /// The header `header` as set by the proxies at `proxies` (addresses or networks).
    pub fn new(header: Option<&str>, proxies: &[String]) -> Result<TrustedProxies, ProxyError> {
        let header = match header.map(str::trim).filter(|h| !h.is_empty()) {
            None => None,
            Some(h) => Some(HeaderName::try_from(h).map_err(|_| ProxyError::BadHeader(h.to_owned()))?),
        };
        let proxies = proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Network::parse(p).ok_or_else(|| ProxyError::BadProxy(p.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if header.is_some() == proxies.is_empty() {
            return Err(ProxyError::Half);
        }
        Ok(TrustedProxies { header, proxies })
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|n| n.contains(ip))
    }

    /// The client's address for a request from `peer` with these headers: the peer
    /// itself unless it is a trusted proxy; then, reading the header's list from the
    /// right (each proxy appends the address it heard from), the first address that is
    /// not a trusted proxy. What lies left of it was written by the client and is not
    /// believed.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let Some(header) = &self.header else { return peer };
        if !self.trusted(peer) {
            return peer;
        }
        let mut client = peer;
        let values: Vec<&str> = headers.get_all(header).filter_map(|v| v.to_str().ok()).collect();
        for entry in values.iter().rev().flat_map(|v| v.rsplit(',')) {
            let Some(ip) = parse_entry(entry) else {
                // Unreadable: whatever the proxies vouched for so far stands.
                return client;
            };
            client = ip;
            if !self.trusted(ip) {
                return ip;
            }
        }
        client
    }
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')).and_then(|e| e.parse::<IpAddr>().ok()))
}

/// The client's address of a request, by the server's [`TrustedProxies`] (the peer's
/// when none are configured); `None` when actix knows no peer (never over TCP).
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    Some(match req.app_data::<web::Data<TrustedProxies>>() {
        Some(proxies) => proxies.client(peer, req.headers()),
        None => peer,
    })
}

/// The limit on anonymous reports, per client address ([`client_key`]).
#[derive(Debug)]
pub struct ReportLimiter(pub KeyedLimiter<IpAddr>);

/// A caller allowed to file a report now: staff (a valid bearer token) always, anyone
/// else within their address's allowance of anonymous reports; 429 `rate-limited` with
/// `Retry-After` past it. Taken by `POST /api/v1/reports` before its body is read. It
/// carries the staff member it found, so that the token is looked up once per report.
#[derive(Debug, Clone)]
pub struct ReportAllowance {
    /// The caller, when their bearer token is valid; `None` for anyone else.
    pub staff: Option<crate::auth::User>,
}

impl FromRequest for ReportAllowance {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<ReportAllowance, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let limiter = req.app_data::<web::Data<ReportLimiter>>().cloned();
        let db = req.app_data::<web::Data<crate::store::Database>>().cloned();
        let token = crate::auth::routes::bearer(req);
        let client = client_addr(req);
        Box::pin(async move {
            if let (Some(token), Some(db)) = (token, db) {
                let now = crate::auth::now_ms();
                let staff = web::block(move || db.read(|c| crate::auth::session_user(c, &token, now))).await??;
                if let Some((user, _)) = staff {
                    return Ok(ReportAllowance { staff: Some(user) });
                }
            }
            if let (Some(limiter), Some(client)) = (limiter, client) {
                limiter.0.take(&client_key(client), 1.0, Instant::now()).map_err(ApiError::RateLimited)?;
            }
            Ok(ReportAllowance { staff: None })
        })
    }
}

/// The limit on residents' subscriptions to news of their reports, per client address
/// ([`client_key`]): kept apart from the reports' own, at the same rate, so that
/// subscribing never costs a report and nobody subscribes endpoints (each looked up in
/// DNS) faster than anyone may report.
#[derive(Debug)]
pub struct FollowLimiter(pub KeyedLimiter<IpAddr>);

/// A caller within their address's allowance of report subscriptions; 429
/// `rate-limited` with `Retry-After` past it. Taken by `PUT /api/v1/reports/{id}/push`
/// before its body is read.
#[derive(Debug, Clone, Copy)]
pub struct FollowAllowance;

impl FromRequest for FollowAllowance {
    type Error = ApiError;
    type Future = std::future::Ready<Result<FollowAllowance, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let limiter = req.app_data::<web::Data<FollowLimiter>>();
        let taken = match (limiter, client_addr(req)) {
            (Some(limiter), Some(client)) => limiter.0.take(&client_key(client), 1.0, Instant::now()),
            _ => Ok(()),
        };
        std::future::ready(taken.map(|()| FollowAllowance).map_err(ApiError::RateLimited))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_bucket_refills_over_time_and_tells_how_long_to_wait() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(0.5, 2.0, t0);
        assert_eq!(bucket.take(t0), Ok(()));
        assert_eq!(bucket.take(t0), Ok(()));
        assert_eq!(bucket.take(t0), Err(2), "one token every two seconds");
        assert_eq!(bucket.take(t0 + Duration::from_secs(2)), Ok(()));
        assert_eq!(bucket.check(1.0, t0 + Duration::from_secs(2)), Err(2), "checking takes nothing");
        assert!(bucket.take_n(3.0, t0 + Duration::from_secs(10)).is_err(), "more than the burst never fits");
        assert!(bucket.is_full(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn each_key_has_its_own_bucket_and_costs_may_be_large() {
        let limiter: KeyedLimiter<IpAddr> = KeyedLimiter::new(100.0, 1000.0, 10);
        let t0 = Instant::now();
        assert_eq!(limiter.take(&ip("10.0.0.1"), 900.0, t0), Ok(()));
        assert_eq!(limiter.take(&ip("10.0.0.1"), 200.0, t0), Err(1));
        assert_eq!(limiter.check(&ip("10.0.0.1"), 100.0, t0), Ok(()), "the refused cost was not taken");
        assert_eq!(limiter.take(&ip("10.0.0.2"), 1000.0, t0), Ok(()), "another key");
        limiter.forget(&ip("10.0.0.1"));
        assert_eq!(limiter.take(&ip("10.0.0.1"), 1000.0, t0), Ok(()), "forgotten: full again");
    }

    #[test]
    fn memory_is_bounded_by_forgetting_full_then_least_recent_buckets() {
        let limiter: KeyedLimiter<u32> = KeyedLimiter::new(1.0, 2.0, 100);
        let t0 = Instant::now();
        // A scan of keys that each spend a token: none is full again within the scan.
        for n in 0..10_000u32 {
            let at = t0 + Duration::from_millis(u64::from(n));
            assert!(limiter.take(&n, 1.0, at).is_ok());
            assert!(limiter.len() <= 100, "{} keys after {n}", limiter.len());
        }
        // The newest keys are still remembered (their spent token counts) …
        let late = t0 + Duration::from_millis(10_000);
        assert_eq!(limiter.take(&9_999, 1.0, late), Ok(()));
        assert_eq!(limiter.take(&9_999, 1.0, late), Err(1));
        // … and once full again, buckets are forgotten first.
        let much_later = late + Duration::from_secs(10);
        for n in 0..30 {
            assert!(limiter.take(&(1_000_000 + n), 1.0, much_later).is_ok());
        }
        assert!(limiter.len() <= 30, "{} keys: the refilled ones were not forgotten", limiter.len());
    }

    #[test]
    fn ipv6_clients_are_limited_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), client_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(client_key(ip("2001:db8:1:2::1")), client_key(ip("2001:db8:1:3::1")));
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(client_key(ip("192.0.2.7")), client_key(ip("192.0.2.8")));
    }

    #[test]
    fn networks_contain_their_addresses() {
        let net = Network::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")) && !net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "a mapped IPv4 address is that address");
        assert!(Network::parse("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(!Network::parse("192.0.2.7").unwrap().contains(ip("192.0.2.8")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("203.0.113.1")));
        assert_eq!(Network::parse("10.0.0.0/33"), None);
        assert_eq!(Network::parse("proxy.local"), None);
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::try_from(*name).unwrap(), value.parse().unwrap());
        }
        map
    }

    #[test]
    fn without_configuration_forwarded_headers_are_ignored() {
        let none = TrustedProxies::default();
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(none.client(ip("198.51.100.4"), &spoofed), ip("198.51.100.4"));
    }

    #[test]
    fn a_trusted_proxy_is_believed_and_only_from_the_right() {
        let proxies = TrustedProxies::new(Some("X-Forwarded-For"), &["10.0.0.0/8".into(), "::1".into()]).unwrap();
        let proxy = ip("10.0.0.2");
        assert_eq!(proxies.client(proxy, &headers(&[("x-forwarded-for", "203.0.113.9")])), ip("203.0.113.9"));
        // A client's own X-Forwarded-For is kept by the proxy, which appends the real one.
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(proxies.client(proxy, &spoofed), ip("203.0.113.9"));
        // Proxies behind proxies are skipped; several header lines read as one list.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9"), ("x-forwarded-for", "10.0.0.7")]);
        assert_eq!(proxies.client(proxy, &chain), ip("203.0.113.9"));
        assert_eq!(proxies.client(proxy, &headers(&[("x-forwarded-for", "[2001:db8::5]:4711")])), ip("2001:db8::5"));
        // A peer that is not a trusted proxy is itself the client.
        assert_eq!(proxies.client(ip("198.51.100.4"), &spoofed), ip("198.51.100.4"));
        // No header, or an unreadable one: the proxy's own address stands.
        assert_eq!(proxies.client(proxy, &HeaderMap::new()), proxy);
        assert_eq!(proxies.client(proxy, &headers(&[("x-forwarded-for", "unknown")])), proxy);
    }

    #[test]
    fn proxy_settings_are_checked() {
        assert!(TrustedProxies::new(None, &[]).is_ok());
        assert_eq!(TrustedProxies::new(Some("X-Forwarded-For"), &[]).unwrap_err(), ProxyError::Half);
        assert_eq!(TrustedProxies::new(None, &["10.0.0.1".into()]).unwrap_err(), ProxyError::Half);
        assert!(matches!(TrustedProxies::new(Some("bad header"), &["10.0.0.1".into()]), Err(ProxyError::BadHeader(_))));
        assert!(matches!(TrustedProxies::new(Some("X-Real-IP"), &["lb".into()]), Err(ProxyError::BadProxy(_))));
    }
}
