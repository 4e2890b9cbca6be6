//! Web Push: waking a worker's phones when work arrives and no socket of theirs is open.
//!
//! A phone subscribes with its browser's or OS's push service and hands the
//! subscription to us (`PUT /api/v1/push/subscription`: the service's endpoint URL and
//! the device's P-256 key and auth secret); [`routes`] keeps one per (user, device) in
//! [`store`]. [`Pusher::wake`] then sends each of a user's devices a small wake-up,
//! encrypted for the device (aes128gcm, RFC 8291/8188) and signed with the server's
//! VAPID key (RFC 8292, [`vapid`]; made on first start, kept in the database, shared by
//! every node). The payload is only `{"type":"wake"}` ([`policy::WAKE_PAYLOAD`]): the
//! phone opens its socket and syncs, so nothing about the work passes through push
//! services. Wake-ups are `Urgency: high`, live an hour (`TTL`), and carry the worker's
//! `Topic`, so a phone that is off gets only the newest.
//!
//! Sending never blocks the caller: `wake` spawns a task and returns. The task sends to
//! all the user's devices at once, each with a time-out ([`crate::settings::PushSettings`],
//! 10 s by default; the `web-push` crate's own clients have none, so we build requests
//! with its `request_builder` and send them with our own client). The service's answer
//! decides what happens to the subscription ([`policy::verdict`]): 404/410 delete it;
//! 429 and 5xx (and time-outs, network errors, other refusals) count a failure and hold
//! that subscription back — as `Retry-After` says, or doubling from 15 s up to an hour —
//! in the database, so every node honours it. A second wake for a user whose wake is
//! still being sent is merged into it.
//!
//! Residents, who have no account, may subscribe the browser that filed a report to news
//! of it ([`reports`]: `PUT /api/v1/reports/{id}/push` with the follow token). When the
//! case is registered, closed, reopened or merged, the write path names it among what the
//! commit touched, and after the commit [`Pusher::tell`] sends each of its subscriptions
//! `{"type":"report","id","status"}` ([`policy::news_payload`]) the same way: signed,
//! encrypted, timed out, backed off, deleted when gone; `Urgency: normal`, kept a day,
//! one `Topic` per case.
//!
//! Endpoints are checked so that they cannot be used to reach inside ([`endpoint`]):
//! https only, public addresses only, at subscription and again at every send by the
//! HTTP client's resolver; `push_allow_hosts` exempts named hosts (tests' loopback push
//! service, which may then speak plain http). The endpoint is a capability: logs name its
//! host, never the URL.

pub mod endpoint;
pub mod policy;
pub mod reports;
pub mod routes;
pub mod schema;
pub mod store;
pub mod vapid;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::task::JoinSet;
use web_push::{ContentEncoding, SubscriptionInfo, Urgency, WebPushMessageBuilder};

pub use endpoint::Allowlist;
use endpoint::{PublicResolver, Route};
use policy::Verdict;
use store::{ReportSubscription, Subscription};
pub use vapid::Vapid;

use crate::clock::now_ms;
use crate::settings::PushSettings;
use crate::store::Database;

/// Why the pusher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The VAPID key could not be loaded or made.
    #[error(transparent)]
    Vapid(#[from] vapid::VapidError),
    /// An HTTP client could not be built (TLS setup).
    #[error("cannot build the push HTTP client: {0}")]
    Client(String),
}

/// What one wake did, device by device, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WakeReport {
    /// Sends the push service accepted.
    pub delivered: u32,
    /// Subscriptions the push service said are gone, now deleted.
    pub gone: u32,
    /// Sends that failed (429, 5xx, time-out, network error, refusal): backing off.
    pub failed: u32,
    /// Subscriptions skipped because they are backing off from earlier failures.
    pub skipped: u32,
    /// Whether this wake was merged into one already being sent to the same user.
    pub merged: bool,
}

/// A wake under way. Drop it to let it run on its own; [`Waking::report`] waits for it.
#[derive(Debug)]
pub struct Waking(Option<tokio::task::JoinHandle<WakeReport>>);

impl Waking {
    /// Waits until every send of this wake is done (each is bounded by the time-out) and
    /// says how it went.
    pub async fn report(self) -> WakeReport {
        match self.0 {
            None => WakeReport { merged: true, ..WakeReport::default() },
            Some(handle) => handle.await.unwrap_or_default(),
        }
    }
}

/// Sends wake-ups. Cheap to clone (share it as `web::Data<Pusher>`); needs a tokio
/// runtime to [`wake`](Pusher::wake).
#[derive(Clone)]
pub struct Pusher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher").field("vapid", &self.inner.vapid).field("allow", &self.inner.allow).finish()
    }
}

struct Inner {
    db: Database,
    vapid: Vapid,
    subject: String,
    allow: Allowlist,
    /// https only, public addresses only.
    public: reqwest::Client,
    /// For the allowlisted push services.
    allowed: reqwest::Client,
    timeout: Duration,
    /// Users whose wake is being sent.
    in_flight: Mutex<HashSet<String>>,
}

/// Whose subscription a send goes through, and so where its outcome is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    /// A worker's device (`push_subscriptions`).
    Device {
        /// The worker.
        user_id: String,
        /// Their device.
        device_id: String,
    },
    /// A resident following a report (`report_subscriptions`).
    Report {
        /// The case they follow.
        incident_id: String,
    },
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Device { device_id, .. } => write!(f, "device {device_id}"),
            Holder::Report { incident_id } => write!(f, "report {incident_id}"),
        }
    }
}

/// One push to send: through which subscription, and what it says.
#[derive(Debug, Clone)]
struct Outgoing {
    holder: Holder,
    endpoint: String,
    p256dh: String,
    auth: String,
    failures: i32,
    next_attempt_at_ms: i64,
    payload: Vec<u8>,
    ttl_s: u32,
    urgency: Urgency,
    topic: String,
}

impl Outgoing {
    /// A wake-up for a worker's device.
    fn wake(sub: Subscription) -> Outgoing {
        Outgoing {
            topic: policy::topic(&sub.user_id),
            holder: Holder::Device { user_id: sub.user_id, device_id: sub.device_id },
            endpoint: sub.endpoint,
            p256dh: sub.p256dh,
            auth: sub.auth,
            failures: sub.failures,
            next_attempt_at_ms: sub.next_attempt_at_ms,
            payload: policy::WAKE_PAYLOAD.to_vec(),
            ttl_s: policy::WAKE_TTL_S,
            urgency: Urgency::High,
        }
    }

    /// News of a report for a resident following it: the case they subscribed to, and
    /// where the case it ended in stands now.
    fn news(sub: ReportSubscription, status: &str) -> Outgoing {
        Outgoing {
            topic: policy::topic(&sub.incident_id),
            payload: policy::news_payload(&sub.incident_id, status),
            holder: Holder::Report { incident_id: sub.incident_id },
            endpoint: sub.endpoint,
            p256dh: sub.p256dh,
            auth: sub.auth,
            failures: sub.failures,
            next_attempt_at_ms: sub.next_attempt_at_ms,
            ttl_s: policy::NEWS_TTL_S,
            urgency: Urgency::Normal,
        }
    }
}

/// One device's send, as it turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Delivered,
    Gone,
    Failed,
}

fn client(timeout: Duration, resolver: PublicResolver, https_only: bool) -> Result<reqwest::Client, PushError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(https_only)
        .dns_resolver(resolver)
        .user_agent(concat!("gridlink/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| PushError::Client(e.to_string()))
}

impl Pusher {
    /// A pusher storing into `db`, with the deployment's VAPID key (made and stored now
    /// if the database has none). Blocks on the database: call it at start-up.
    pub fn new(db: Database, settings: &PushSettings) -> Result<Pusher, PushError> {
        let vapid = Vapid::load_or_create(&db)?;
        let allow = Allowlist::new(&settings.allow_hosts);
        let timeout = Duration::from_millis(settings.timeout_ms);
        let public = client(timeout, PublicResolver::strict(), true)?;
        let allowed = client(timeout, PublicResolver::allowing(&allow), false)?;
        if !allow.is_empty() {
            tracing::warn!(hosts = ?settings.allow_hosts, "push services allowed on private addresses (push_allow_hosts)");
        }
        Ok(Pusher {
            inner: Arc::new(Inner {
                db,
                vapid,
                subject: settings.subject.clone(),
                allow,
                public,
                allowed,
                timeout,
                in_flight: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// The VAPID public key phones subscribe with (base64url, uncompressed point).
    pub fn public_key(&self) -> &str {
        self.inner.vapid.public_key()
    }

    /// The push services allowed on private addresses.
    pub fn allowlist(&self) -> &Allowlist {
        &self.inner.allow
    }

    /// Sends every device of `user_id` a wake-up, in a task of its own: returns at once.
    /// Await [`Waking::report`] to learn how it went, or drop it.
    pub async fn wake(&self, user_id: &str) -> Waking {
        {
            let mut in_flight = self.inner.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            if !in_flight.insert(user_id.to_owned()) {
                tracing::debug!(user = user_id, "a wake is already being sent: merged");
                return Waking(None);
            }
        }
        let inner = Arc::clone(&self.inner);
        let user = user_id.to_owned();
        Waking(Some(tokio::spawn(async move {
            let report = inner.wake(&user).await;
            inner.in_flight.lock().unwrap_or_else(PoisonError::into_inner).remove(&user);
            report
        })))
    }

    /// Sends every resident following the cases of `news` where the case stands now, in
    /// a task of its own: returns at once. Await [`Waking::report`] to learn how it went.
    pub fn tell(&self, news: reports::ReportNews) -> Waking {
        let inner = Arc::clone(&self.inner);
        Waking(Some(tokio::spawn(async move { inner.tell(&news).await })))
    }
}

impl Inner {
    async fn wake(self: &Arc<Self>, user_id: &str) -> WakeReport {
        let db = self.db.clone();
        let user = user_id.to_owned();
        let subscriptions = tokio::task::spawn_blocking(move || db.read(|c| store::subscriptions_of(c, &user))).await;
        let subscriptions = match subscriptions {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::error!(user = user_id, error = %e, "cannot read push subscriptions");
                return WakeReport::default();
            }
            Err(e) => {
                tracing::error!(user = user_id, error = %e, "cannot read push subscriptions");
                return WakeReport::default();
            }
        };
        let report = self.send_all(subscriptions.into_iter().map(Outgoing::wake).collect()).await;
        tracing::info!(
            user = user_id,
            delivered = report.delivered,
            gone = report.gone,
            failed = report.failed,
            skipped = report.skipped,
            "wake sent"
        );
        report
    }

    /// Sends news of a report to everyone following its cases.
    async fn tell(self: &Arc<Self>, news: &reports::ReportNews) -> WakeReport {
        let db = self.db.clone();
        let cases = news.cases.clone();
        let found = tokio::task::spawn_blocking(move || db.read(|c| store::report_subscriptions_of(c, &cases))).await;
        let subscriptions = match found {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::error!(case = %news.cases[0], error = %e, "cannot read report subscriptions");
                return WakeReport::default();
            }
            Err(e) => {
                tracing::error!(case = %news.cases[0], error = %e, "cannot read report subscriptions");
                return WakeReport::default();
            }
        };
        if subscriptions.is_empty() {
            return WakeReport::default();
        }
        let status = news.status.as_str();
        let report = self.send_all(subscriptions.into_iter().map(|sub| Outgoing::news(sub, status)).collect()).await;
        tracing::info!(
            case = %news.cases[0],
            status,
            delivered = report.delivered,
            gone = report.gone,
            failed = report.failed,
            skipped = report.skipped,
            "report news sent"
        );
        report
    }

    /// Sends each push side by side, skipping those backing off; how it went, summed.
    async fn send_all(self: &Arc<Self>, outgoing: Vec<Outgoing>) -> WakeReport {
        let mut report = WakeReport::default();
        let now = now_ms();
        let mut sends = JoinSet::new();
        for out in outgoing {
            if out.next_attempt_at_ms > now {
                report.skipped += 1;
                continue;
            }
            let inner = Arc::clone(self);
            sends.spawn(async move { inner.send(out).await });
        }
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Sent::Delivered) => report.delivered += 1,
                Ok(Sent::Gone) => report.gone += 1,
                Ok(Sent::Failed) | Err(_) => report.failed += 1,
            }
        }
        report
    }

    /// Sends one push and records what the push service said.
    async fn send(&self, sub: Outgoing) -> Sent {
        let to = &sub.holder;
        let checked = match endpoint::check(&sub.endpoint, &self.allow) {
            Ok(checked) => checked,
            Err(e) => {
                // Stored before the rules (or the allowlist) changed.
                tracing::warn!(%to, error = %e, "push endpoint refused");
                return self.record_failure(&sub, None).await;
            }
        };
        let host = checked.host.clone();
        let request = match self.build(&sub, &checked) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(%to, %host, error = %e, "cannot build the push message");
                return self.record_failure(&sub, None).await;
            }
        };
        let client = match checked.route {
            Route::Public => &self.public,
            Route::Allowed => &self.allowed,
        };
        // The client's own time-out bounds the request; this one bounds everything else too.
        let answer = tokio::time::timeout(self.timeout + Duration::from_millis(500), client.execute(request)).await;
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                // Never the URL: the endpoint is a capability.
                let error = if e.is_timeout() { "timed out".to_owned() } else { e.without_url().to_string() };
                tracing::warn!(%to, %host, %error, "push send failed");
                return self.record_failure(&sub, None).await;
            }
            Err(_) => {
                tracing::warn!(%to, %host, "push send timed out");
                return self.record_failure(&sub, None).await;
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| policy::parse_retry_after(v, time::OffsetDateTime::now_utc()));
        match policy::verdict(status) {
            Verdict::Delivered => {
                tracing::debug!(%to, %host, status, "push delivered");
                if sub.failures != 0 || sub.next_attempt_at_ms != 0 {
                    let (holder, endpoint) = (sub.holder.clone(), sub.endpoint.clone());
                    self.blocking(move |db| {
                        db.write(|c| match &holder {
                            Holder::Device { user_id, device_id } => {
                                store::record_success(c, user_id, device_id, &endpoint)
                            }
                            Holder::Report { incident_id } => store::record_report_success(c, incident_id, &endpoint),
                        })
                    })
                    .await;
                }
                Sent::Delivered
            }
            Verdict::Gone => {
                tracing::info!(%to, %host, status, "push subscription gone: deleted");
                let (holder, endpoint) = (sub.holder.clone(), sub.endpoint.clone());
                self.blocking(move |db| {
                    db.write(|c| match &holder {
                        Holder::Device { user_id, device_id } => store::delete_gone(c, user_id, device_id, &endpoint),
                        Holder::Report { incident_id } => store::delete_report_subscription(c, incident_id, &endpoint),
                    })
                })
                .await;
                Sent::Gone
            }
            Verdict::Busy => {
                tracing::info!(%to, %host, status, ?retry_after, "push service busy: backing off");
                self.record_failure(&sub, retry_after).await
            }
            Verdict::Refused => {
                tracing::warn!(%to, %host, status, "push refused: backing off");
                self.record_failure(&sub, None).await
            }
        }
    }

    /// The encrypted, signed request for one push.
    fn build(&self, sub: &Outgoing, checked: &endpoint::Checked) -> Result<reqwest::Request, String> {
        let info = SubscriptionInfo::new(sub.endpoint.as_str(), sub.p256dh.as_str(), sub.auth.as_str());
        let mut signature = self.vapid.signer().add_sub_info(&info);
        signature.add_claim("sub", self.subject.as_str());
        signature.add_claim("aud", checked.origin());
        let signature = signature.build().map_err(|e| e.to_string())?;
        let mut message = WebPushMessageBuilder::new(&info);
        message.set_payload(ContentEncoding::Aes128Gcm, &sub.payload);
        message.set_ttl(sub.ttl_s);
        message.set_urgency(sub.urgency);
        message.set_topic(sub.topic.clone());
        message.set_vapid_signature(signature);
        let built = web_push::request_builder::build_request::<Vec<u8>>(message.build().map_err(|e| e.to_string())?);
        let mut request = reqwest::Request::new(reqwest::Method::POST, checked.url.clone());
        for (name, value) in built.headers() {
            // reqwest sets the length from the body itself.
            if name.as_str().eq_ignore_ascii_case("content-length") {
                continue;
            }
            let name = reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()).map_err(|e| e.to_string())?;
            let value = reqwest::header::HeaderValue::from_bytes(value.as_bytes()).map_err(|e| e.to_string())?;
            request.headers_mut().append(name, value);
        }
        *request.body_mut() = Some(built.into_body().into());
        Ok(request)
    }

    async fn record_failure(&self, sub: &Outgoing, retry_after: Option<Duration>) -> Sent {
        let (holder, endpoint) = (sub.holder.clone(), sub.endpoint.clone());
        let now = now_ms();
        let next = move |n| policy::next_attempt_ms(now, n, retry_after);
        let recorded = self
            .blocking(move |db| {
                db.write(|c| match &holder {
                    Holder::Device { user_id, device_id } => {
                        store::record_failure(c, user_id, device_id, &endpoint, next)
                    }
                    Holder::Report { incident_id } => store::record_report_failure(c, incident_id, &endpoint, next),
                })
            })
            .await;
        if let Some(Some((failures, at))) = recorded {
            let to = &sub.holder;
            tracing::debug!(%to, failures, next_attempt = %crate::clock::rfc3339(at), "push backing off");
        }
        Sent::Failed
    }

    /// Runs a database call off the async workers; logs and swallows its failure (the
    /// send itself is done: a lost bookkeeping write only means one more try later).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Option<T> {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot record a push outcome");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record a push outcome");
                None
            }
        }
    }
}

/// Why a subscription's keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// `p256dh` is not base64url of a 65-byte uncompressed P-256 point.
    #[error("keys.p256dh must be a P-256 public key: 65 bytes, uncompressed (0x04 …), in base64url")]
    P256dh,
    /// `auth` is not base64url of 16 bytes.
    #[error("keys.auth must be 16 bytes in base64url")]
    Auth,
}

/// Decodes base64url, with or without padding.
fn base64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Checks a subscription's keys: lengths and form, then a trial encryption (which
/// refuses a point that is not on the curve).
pub fn check_keys(p256dh: &str, auth: &str) -> Result<(), KeyError> {
    let point = base64url(p256dh).ok_or(KeyError::P256dh)?;
    if point.len() != 65 || point[0] != 4 {
        return Err(KeyError::P256dh);
    }
    if base64url(auth).map(|a| a.len()) != Some(16) {
        return Err(KeyError::Auth);
    }
    // As stored: without padding, which the encryption's decoder does not take.
    let info = SubscriptionInfo::new("https://push.invalid/", p256dh.trim_end_matches('='), auth.trim_end_matches('='));
    let mut trial = WebPushMessageBuilder::new(&info);
    trial.set_payload(ContentEncoding::Aes128Gcm, policy::WAKE_PAYLOAD);
    trial.build().map(|_| ()).map_err(|_| KeyError::P256dh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_a_point_on_the_curve_and_a_16_byte_secret() {
        // A real subscription's keys (from the web-push crate's own tests).
        let p256dh = "BGa4N1PI79lboMR_YrwCiCsgp35DRvedt7opHcf0yM3iOBTSoQYqQLwWxAfRKE6tsDnReWmhsImkhDF_DBdkNSU";
        let auth = "EvcWjEgzr4rbvhfi3yds0A";
        assert_eq!(check_keys(p256dh, auth), Ok(()));
        assert_eq!(check_keys(p256dh, "EvcWjEgzr4rbvhfi3yds0A=="), Ok(()), "padding is forgiven");
        assert_eq!(check_keys(p256dh, "EvcWjEgzr4rbvhfi3yds"), Err(KeyError::Auth));
        assert_eq!(check_keys(p256dh, "not base64!"), Err(KeyError::Auth));
        assert_eq!(check_keys("BGa4N1PI", auth), Err(KeyError::P256dh));
        let mut off_curve = URL_SAFE_NO_PAD.decode(p256dh).unwrap();
        off_curve[64] ^= 1;
        assert_eq!(check_keys(&URL_SAFE_NO_PAD.encode(&off_curve), auth), Err(KeyError::P256dh));
        let mut compressed_tag = URL_SAFE_NO_PAD.decode(p256dh).unwrap();
        compressed_tag[0] = 2;
        assert_eq!(check_keys(&URL_SAFE_NO_PAD.encode(&compressed_tag), auth), Err(KeyError::P256dh));
    }
}
