//! Typed settings for `gridlink serve`, from flags and `GRIDLINK_*` environment variables.
//!
//! Settings sit below the features that read them: the types of push's and sync's
//! settings ([`PushSettings`] with its [`AllowedHost`] entries, [`SyncSettings`]) live
//! here, and this module uses nothing from `crate::push` or `crate::sync`.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// The address `gridlink serve` listens on unless told otherwise.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Whether to load the bundled demo area.
    pub demo: bool,
    /// How far outside every grid (in metres) a point may lie and still be placed.
    pub snap_tolerance_m: f64,
    /// A category tree to use instead of the one that ships.
    pub categories: Option<PathBuf>,
    /// A calendars file (TOML): counties' own calendars beside the national one that ships.
    pub calendars: Option<PathBuf>,
    /// Where to store: `sqlite://PATH` or `postgres://…`.
    pub database: String,
    /// How Web Push is sent.
    pub push: PushSettings,
    /// How the phones' socket behaves (from the settings file only).
    pub sync: SyncSettings,
    /// For end-to-end tests only: the server's clock for cases starts at this instant (Unix
    /// ms) and `POST /api/v1/test/clock` moves it ahead. Never set by default; refused on
    /// anything but a loopback address.
    pub test_clock: Option<i64>,
    /// Whose word on a client's address is taken (none by default: the peer's address).
    pub proxy: ProxySettings,
    /// What one address, login or user may ask of the server (from the settings file only).
    pub limits: LimitSettings,
    /// A raster basemap under the pages' maps, as a tile URL template
    /// (`https://tiles.example.cn/{z}/{x}/{y}.png`); none by default: the maps draw only
    /// the server's own geometry and load nothing from elsewhere.
    pub basemap: Option<String>,
    /// How the figures are scored and ranked (`[stats]` in the settings file only).
    pub stats: crate::stats::figures::ScoreSettings,
    /// How the loop runs where a city may choose (`[workflow]` in the settings file only).
    pub workflow: WorkflowSettings,
    /// An MQTT broker whose `gridlink/sensors/+/alarm` topic brings sensors' alarms
    /// (`mqtt://host[:port]`, plain TCP); none by default.
    pub mqtt: Option<String>,
    /// NATS, joining the nodes that share one PostgreSQL (`nats://host[:port]`, several
    /// comma-separated); none by default: the node works alone (`crate::cluster`).
    pub nats: Option<String>,
    /// Which other origins may call the API, and who may read `/metrics` where.
    pub security: SecuritySettings,
    /// The key file personal data is sealed with (`crate::seal`): `<key id> <base64>` lines,
    /// the last one sealing. None: for SQLite, `<database>.keys` beside it (made for a new
    /// database); PostgreSQL must be told.
    pub seal_keys: Option<PathBuf>,
    /// How many days a worker's position is kept at most (it goes at once when they go
    /// off duty); from the settings file only.
    pub position_ttl_days: u32,
}

/// Which other origins' pages may call the API, and who may read `/metrics` where
/// (`crate::security`). By default: no other origin, and no `/metrics` at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecuritySettings {
    /// Origins (`https://host[:port]`) whose pages may call the API and Open311 (CORS).
    pub cors_origins: Vec<String>,
    /// The bearer token `/metrics` wants; with it (and no `metrics_bind`) the main
    /// listener serves `/metrics` to whoever sends it.
    pub metrics_token: Option<String>,
    /// A listener of its own serving only `/metrics` (with the token too, if one is set);
    /// the main listener then never serves it.
    pub metrics_bind: Option<SocketAddr>,
}

/// The shortest metrics token taken: long enough that it cannot be guessed.
pub const MIN_METRICS_TOKEN_CHARS: usize = 16;

/// How the loop runs where a city may choose, from the `[workflow]` table of the
/// settings file; any key left out keeps its default.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkflowSettings {
    /// The share (0–1) of a worker's findings handled alone in one step (自行处置) that
    /// the server samples for a check (核查) by the community's staff; the rest it closes
    /// at once. Drawn at random per finding by the server, never from what the phone sent.
    pub self_handled_sample: f64,
}

/// The share of self-handled findings checked unless a city says otherwise: one in ten.
pub const DEFAULT_SELF_HANDLED_SAMPLE: f64 = 0.1;

impl Default for WorkflowSettings {
    fn default() -> WorkflowSettings {
        WorkflowSettings { self_handled_sample: DEFAULT_SELF_HANDLED_SAMPLE }
    }
}

/// Which reverse proxies may tell a client's address, and in which header. Both empty
/// by default: the peer's address is the client's and forwarding headers are ignored,
/// so that nobody can claim another address to get past a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// The header the proxies set, e.g. `X-Forwarded-For` or `X-Real-IP`.
    pub header: Option<String>,
    /// The proxies' addresses or networks (`10.0.0.5`, `10.0.0.0/8`, `fd00::/8`).
    pub proxies: Vec<String>,
}

/// What one address, login or user may ask of the server: the limits the internet
/// cannot break. The defaults suit a county: a resident reports a few cases a day, but
/// an office, a school or a mobile network shares one address among many, so the
/// allowances are generous and still bounded. Read from the `[limits]` table of the
/// settings file; any key left out keeps its default.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Anonymous reports one address may file at once …
    pub reports_burst: u32,
    /// … and then per hour.
    pub reports_per_hour: u32,
    /// Uploads one address may make at once …
    pub uploads_burst: u32,
    /// … and then per minute.
    pub uploads_per_minute: u32,
    /// Bytes one address may upload in a day, in MiB (at least one largest photo, 10).
    pub upload_mib_per_day: u32,
    /// Failed logins of one login name before it is throttled …
    pub login_failures: u32,
    /// … and of one address (an office shares one) …
    pub login_failures_per_address: u32,
    /// … each regained over this many seconds.
    pub login_failure_window_s: u32,
    /// Password checks that may wait for a checking thread; past that, 503 `busy`.
    pub password_checks_waiting: u32,
    /// Devices one user may keep; a new one past that retires the one heard from
    /// longest ago (a replaced phone), unless every one is connected.
    pub devices_per_user: u32,
    /// Open311 requests one API key may file at once …
    pub open311_burst: u32,
    /// … and then per hour (429 past it; each key counts on its own).
    pub open311_per_hour: u32,
    /// Alarms one sensor may send at once …
    pub sensor_alarms_burst: u32,
    /// … and then per minute.
    pub sensor_alarms_per_minute: u32,
}

impl LimitSettings {
    /// Every limit is at least 1, and a day's uploads hold at least one largest photo.
    pub fn check(&self) -> Result<(), String> {
        let l = self;
        let counts = [
            ("reports_burst", l.reports_burst),
            ("reports_per_hour", l.reports_per_hour),
            ("uploads_burst", l.uploads_burst),
            ("uploads_per_minute", l.uploads_per_minute),
            ("login_failures", l.login_failures),
            ("login_failures_per_address", l.login_failures_per_address),
            ("login_failure_window_s", l.login_failure_window_s),
            ("password_checks_waiting", l.password_checks_waiting),
            ("devices_per_user", l.devices_per_user),
            ("open311_burst", l.open311_burst),
            ("open311_per_hour", l.open311_per_hour),
            ("sensor_alarms_burst", l.sensor_alarms_burst),
            ("sensor_alarms_per_minute", l.sensor_alarms_per_minute),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        let largest_mib = crate::attachments::MAX_BYTES.div_ceil(1024 * 1024);
        if (l.upload_mib_per_day as usize) < largest_mib {
            return Err(format!("upload_mib_per_day must be at least {largest_mib} (one largest photo)"));
        }
        Ok(())
    }
}

impl Default for LimitSettings {
    fn default() -> LimitSettings {
        LimitSettings {
            reports_burst: 30,
            reports_per_hour: 60,
            uploads_burst: 60,
            uploads_per_minute: 60,
            upload_mib_per_day: 256,
            login_failures: 10,
            login_failures_per_address: 30,
            login_failure_window_s: 900,
            password_checks_waiting: 32,
            devices_per_user: 10,
            open311_burst: 60,
            open311_per_hour: 600,
            sensor_alarms_burst: 30,
            sensor_alarms_per_minute: 60,
        }
    }
}

/// How Web Push is sent (see `crate::push`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    /// Push services that may be on a private or loopback address, as `host:port` or
    /// `host` (any port); they may also use plain `http://`. Empty in production; tests
    /// put their loopback push service here.
    pub allow_hosts: Vec<String>,
    /// Who runs this server, for push services (the VAPID `sub` claim): `mailto:` or
    /// `https:`.
    pub subject: String,
    /// How long one send to a push service may take, in milliseconds.
    pub timeout_ms: u64,
}

/// One entry of the push allowlist (`push_allow_hosts`): a host (lower case, IPv6
/// without brackets), and the one port allowed, or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// Reads `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; `None` if
    /// it is none of those.
    pub fn parse(entry: &str) -> Option<AllowedHost> {
        let entry = entry.trim();
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            host.parse::<Ipv6Addr>().ok()?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?.parse::<u16>().ok()?)),
            }
        } else if entry.parse::<Ipv6Addr>().is_ok() {
            (entry, None)
        } else {
            match entry.split_once(':') {
                Some((host, port)) => (host, Some(port.parse::<u16>().ok()?)),
                None => (entry, None),
            }
        };
        let ok = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
            && port != Some(0);
        ok.then(|| AllowedHost { host: host.to_ascii_lowercase(), port })
    }

    /// The host, lower case, an IPv6 address without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The one port allowed, or `None` for any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

/// The VAPID subject unless told otherwise: push services want a real contact here.
pub const DEFAULT_PUSH_SUBJECT: &str = "mailto:webpush@gridlink.invalid";

/// How long a send to a push service may take unless told otherwise, in milliseconds.
pub const DEFAULT_PUSH_TIMEOUT_MS: u64 = 10_000;

impl Default for PushSettings {
    fn default() -> PushSettings {
        PushSettings {
            allow_hosts: Vec::new(),
            subject: DEFAULT_PUSH_SUBJECT.to_owned(),
            timeout_ms: DEFAULT_PUSH_TIMEOUT_MS,
        }
    }
}

/// How the socket behaves, and how often the node looks for a newly stored grid layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSettings {
    /// A client pings at least this often; silent for twice as long, it is dropped.
    pub heartbeat_s: u32,
    /// How long the change log keeps its rows (a cursor older than that resets).
    pub retention_days: u32,
    /// Frames sent and not acknowledged before the server stops sending more.
    pub max_unacked_frames: usize,
    /// Changes per frame while catching up.
    pub page: i64,
    /// How long a send may wait for a slow client before the connection is closed.
    pub send_timeout_ms: u64,
    /// Frames a client may send per second, on average (bursts of ten times that).
    pub frames_per_second: u32,
    /// How often the node looks whether another process stored a new grid layer, in
    /// milliseconds (`crate::geo::watch`): the node swaps it in within about this long.
    pub grids_poll_ms: u64,
}

impl Default for SyncSettings {
    fn default() -> SyncSettings {
        SyncSettings {
            heartbeat_s: 30,
            retention_days: 30,
            max_unacked_frames: 16,
            page: 200,
            send_timeout_ms: 10_000,
            frames_per_second: 20,
            grids_poll_ms: 2_000,
        }
    }
}

impl SyncSettings {
    /// The retention in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        i64::from(self.retention_days) * 24 * 60 * 60 * 1000
    }
}

/// How many days a worker's position is kept unless a city says otherwise.
pub const DEFAULT_POSITION_TTL_DAYS: u32 = 7;

/// The database `gridlink serve` stores into unless told otherwise.
pub const DEFAULT_DATABASE: &str = "sqlite://gridlink.db";

/// Settings from a TOML file: each may be left out, and flags or `GRIDLINK_*`
/// variables given for the same setting win.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Where to listen.
    pub bind: Option<SocketAddr>,
    /// Where to store.
    pub database: Option<String>,
    /// Whether to load the demo area.
    pub demo: Option<bool>,
    /// The snapping tolerance in metres.
    pub snap_tolerance_m: Option<f64>,
    /// A category tree file.
    pub categories: Option<PathBuf>,
    /// A calendars file.
    pub calendars: Option<PathBuf>,
    /// Push services allowed on private addresses (`host:port` or `host`).
    pub push_allow_hosts: Option<Vec<String>>,
    /// The VAPID subject (`mailto:` or `https:`).
    pub push_subject: Option<String>,
    /// How long one push send may take, in milliseconds.
    pub push_timeout_ms: Option<u64>,
    /// How often a phone must ping, in seconds (silent for twice as long, it is dropped).
    pub sync_heartbeat_s: Option<u32>,
    /// How many days the change log keeps its rows (an older cursor starts from a snapshot).
    pub sync_retention_days: Option<u32>,
    /// How often to look for a grid layer stored by another process, in milliseconds.
    pub grids_poll_ms: Option<u64>,
    /// For end-to-end tests only: start a movable clock at this instant (RFC 3339).
    pub test_clock: Option<String>,
    /// The header trusted proxies set with the client's address.
    pub trusted_proxy_header: Option<String>,
    /// The proxies allowed to set it (addresses or networks).
    pub trusted_proxies: Option<Vec<String>>,
    /// The limits (`[limits]`).
    pub limits: Option<LimitSettings>,
    /// A basemap tile URL template.
    pub basemap: Option<String>,
    /// The composite score's weights and the smallest sample ranked (`[stats]`).
    pub stats: Option<crate::stats::figures::ScoreSettings>,
    /// How the loop runs where a city may choose (`[workflow]`).
    pub workflow: Option<WorkflowSettings>,
    /// An MQTT broker bringing sensors' alarms (`mqtt://host[:port]`).
    pub mqtt: Option<String>,
    /// NATS, joining the nodes sharing one PostgreSQL (`nats://host[:port]`).
    pub nats: Option<String>,
    /// Origins whose pages may call the API (CORS).
    pub cors_origins: Option<Vec<String>>,
    /// The bearer token `/metrics` wants.
    pub metrics_token: Option<String>,
    /// A listener of its own for `/metrics`.
    pub metrics_bind: Option<SocketAddr>,
    /// The key file personal data is sealed with.
    pub seal_keys: Option<PathBuf>,
    /// How many days a worker's position is kept at most.
    pub position_ttl_days: Option<u32>,
}

/// Why a settings file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// It could not be read.
    #[error("cannot read the settings file {0}: {1}")]
    Read(String, std::io::Error),
    /// It is not TOML of the expected form.
    #[error("the settings file {0} is not valid: {1}")]
    Parse(String, toml::de::Error),
}

impl FileSettings {
    /// Reads a settings file.
    pub fn read(path: &std::path::Path) -> Result<FileSettings, FileError> {
        let text = std::fs::read_to_string(path).map_err(|e| FileError::Read(path.display().to_string(), e))?;
        toml::from_str(&text).map_err(|e| FileError::Parse(path.display().to_string(), e))
    }

    /// These settings, under what was given on the command line or in the environment:
    /// `given(id)` says whether the setting `id` was.
    pub fn under(self, flags: Settings, given: impl Fn(&str) -> bool) -> Settings {
        Settings {
            bind: if given("bind") { flags.bind } else { self.bind.unwrap_or(flags.bind) },
            database: if given("database") { flags.database } else { self.database.unwrap_or(flags.database) },
            demo: if given("demo") { flags.demo } else { self.demo.unwrap_or(flags.demo) },
            snap_tolerance_m: if given("snap_tolerance_m") {
                flags.snap_tolerance_m
            } else {
                self.snap_tolerance_m.unwrap_or(flags.snap_tolerance_m)
            },
            categories: if given("categories") { flags.categories } else { self.categories.or(flags.categories) },
            calendars: if given("calendars") { flags.calendars } else { self.calendars.or(flags.calendars) },
            push: PushSettings {
                allow_hosts: if given("push_allow_hosts") {
                    flags.push.allow_hosts
                } else {
                    self.push_allow_hosts.unwrap_or(flags.push.allow_hosts)
                },
                subject: if given("push_subject") {
                    flags.push.subject
                } else {
                    self.push_subject.unwrap_or(flags.push.subject)
                },
                timeout_ms: if given("push_timeout_ms") {
                    flags.push.timeout_ms
                } else {
                    self.push_timeout_ms.unwrap_or(flags.push.timeout_ms)
                },
            },
            sync: SyncSettings {
                heartbeat_s: self.sync_heartbeat_s.unwrap_or(flags.sync.heartbeat_s),
                retention_days: self.sync_retention_days.unwrap_or(flags.sync.retention_days),
                grids_poll_ms: self.grids_poll_ms.unwrap_or(flags.sync.grids_poll_ms),
                ..flags.sync
            },
            test_clock: if given("test_clock") {
                flags.test_clock
            } else {
                self.test_clock.as_deref().and_then(crate::clock::parse_rfc3339).or(flags.test_clock)
            },
            proxy: ProxySettings {
                header: if given("trusted_proxy_header") {
                    flags.proxy.header
                } else {
                    self.trusted_proxy_header.or(flags.proxy.header)
                },
                proxies: if given("trusted_proxies") {
                    flags.proxy.proxies
                } else {
                    self.trusted_proxies.unwrap_or(flags.proxy.proxies)
                },
            },
            limits: self.limits.unwrap_or(flags.limits),
            basemap: if given("basemap") { flags.basemap } else { self.basemap.or(flags.basemap) },
            stats: self.stats.unwrap_or(flags.stats),
            workflow: self.workflow.unwrap_or(flags.workflow),
            mqtt: if given("mqtt") { flags.mqtt } else { self.mqtt.or(flags.mqtt) },
            nats: if given("nats") { flags.nats } else { self.nats.or(flags.nats) },
            security: SecuritySettings {
                cors_origins: if given("cors_origins") {
                    flags.security.cors_origins
                } else {
                    self.cors_origins.unwrap_or(flags.security.cors_origins)
                },
                metrics_token: if given("metrics_token") {
                    flags.security.metrics_token
                } else {
                    self.metrics_token.or(flags.security.metrics_token)
                },
                metrics_bind: if given("metrics_bind") {
                    flags.security.metrics_bind
                } else {
                    self.metrics_bind.or(flags.security.metrics_bind)
                },
            },
            seal_keys: if given("seal_keys") { flags.seal_keys } else { self.seal_keys.or(flags.seal_keys) },
            position_ttl_days: self.position_ttl_days.unwrap_or(flags.position_ttl_days),
        }
    }
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The demo's passwords are public: it may only listen on a loopback address.
    #[error(
        "--demo only listens on a loopback address (127.0.0.1, ::1), not {0}: the demo accounts' passwords are public"
    )]
    DemoNotOnLoopback(SocketAddr),
    /// The snapping tolerance must be a sensible distance.
    #[error("the snapping tolerance must be between 0 and 1000 metres, not {0}")]
    BadTolerance(f64),
    /// An entry of the push allowlist is not `host` or `host:port`.
    #[error("push_allow_hosts: {0:?} is not `host` or `host:port`")]
    BadPushAllowHost(String),
    /// The VAPID subject is not a contact URI.
    #[error("push_subject must start with mailto: or https:, not {0:?}")]
    BadPushSubject(String),
    /// The socket's heartbeat (1–600 s) or the log's retention (1–3650 days) is out of range.
    #[error("sync_heartbeat_s must be 1–600 and sync_retention_days 1–3650, not {0} and {1}")]
    BadSync(u32, u32),
    /// The push timeout must be sensible.
    #[error("push_timeout_ms must be between 100 and 120000, not {0}")]
    BadPushTimeout(u64),
    /// The movable test clock, like the demo, only listens on a loopback address.
    #[error("a test clock only listens on a loopback address (127.0.0.1, ::1), not {0}: anyone could move its time")]
    TestClockNotOnLoopback(SocketAddr),
    /// The grid layer must be looked for neither in a busy loop nor hardly ever.
    #[error("grids_poll_ms must be between 100 and 600000, not {0}")]
    BadGridsPoll(u64),
    /// The trusted proxies are not usable.
    #[error(transparent)]
    Proxy(#[from] crate::ratelimit::ProxyError),
    /// A limit is zero, or the daily upload allowance is below one largest photo.
    #[error("limits: {0}")]
    BadLimit(String),
    /// The composite score's weights or minimum sample are not usable.
    #[error("{0}")]
    BadStats(String),
    /// The share of self-handled findings sampled for a check is not a share.
    #[error("[workflow] self_handled_sample must be a number from 0 to 1, not {0}")]
    BadSelfHandledSample(f64),
    /// The basemap is not a tile URL template.
    #[error("basemap must be an http(s) URL with {{z}}, {{x}} and {{y}} in it, not {0:?}")]
    BadBasemap(String),
    /// The NATS URL is not `nats://host[:port]`.
    #[error("nats: {0}")]
    BadNats(String),
    /// Several nodes share one database only on PostgreSQL.
    #[error("nats: several nodes share one PostgreSQL; an SQLite database serves one node alone")]
    NatsOnSqlite,
    /// The MQTT broker's URL is not `mqtt://host[:port]`.
    #[error("mqtt: {0}")]
    BadMqtt(String),
    /// Positions would be kept for no time, or for years.
    #[error("position_ttl_days must be from 1 to 3650, not {0}")]
    BadPositionTtl(u32),
    /// A CORS origin is not `http(s)://host[:port]`.
    #[error("cors_origins: {0:?} is not an origin (http(s)://host[:port], no path, no wildcard)")]
    BadCorsOrigin(String),
    /// The metrics token is too short to keep anyone out, or holds what a header cannot.
    #[error("metrics_token must be at least {MIN_METRICS_TOKEN_CHARS} visible ASCII characters")]
    BadMetricsToken,
    /// The metrics' own listener is the main one.
    #[error("metrics_bind must differ from bind ({0})")]
    MetricsBindIsBind(SocketAddr),
}

/// The host and port of an MQTT broker's URL: `mqtt://host[:port]` (or `tcp://`; port
/// 1883 when none is given). TLS (`mqtts://`) is not built.
pub fn mqtt_broker(url: &str) -> Result<(String, u16), String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("{url:?} is not mqtt://host[:port]"));
    };
    if !matches!(scheme, "mqtt" | "tcp") {
        return Err(format!("{url:?}: only plain mqtt://host[:port] is served (no TLS, no websockets)"));
    }
    let address = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => {
            (host, port.parse::<u16>().map_err(|_| format!("{url:?}: {port:?} is not a port"))?)
        }
        _ => (address, 1883),
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ok = !host.is_empty()
        && port != 0
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if ok { Ok((host.to_owned(), port)) } else { Err(format!("{url:?} is not mqtt://host[:port]")) }
}

/// The origin (`https://host[:port]`) of a basemap template, if it is one: an http(s)
/// URL with a host and the `{z}`, `{x}` and `{y}` placeholders.
pub fn basemap_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty() && !h.contains('{'))?;
    let placeholders = ["{z}", "{x}", "{y}"].iter().all(|p| rest.contains(p));
    let clean = !template.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | ','));
    (matches!(scheme, "http" | "https") && placeholders && clean).then(|| format!("{scheme}://{host}"))
}

impl Settings {
    /// Checks the combination of settings before anything starts.
    pub fn validate(self) -> Result<Settings, SettingsError> {
        if self.demo && !self.bind.ip().is_loopback() {
            return Err(SettingsError::DemoNotOnLoopback(self.bind));
        }
        if self.test_clock.is_some() && !self.bind.ip().is_loopback() {
            return Err(SettingsError::TestClockNotOnLoopback(self.bind));
        }
        if !(0.0..=1000.0).contains(&self.snap_tolerance_m) {
            return Err(SettingsError::BadTolerance(self.snap_tolerance_m));
        }
        if let Some(bad) = self.push.allow_hosts.iter().find(|h| AllowedHost::parse(h).is_none()) {
            return Err(SettingsError::BadPushAllowHost(bad.clone()));
        }
        let subject = self.push.subject.as_str();
        if !(subject.starts_with("mailto:") || subject.starts_with("https:")) || subject.len() < 8 {
            return Err(SettingsError::BadPushSubject(self.push.subject.clone()));
        }
        if !(1..=600).contains(&self.sync.heartbeat_s) || !(1..=3650).contains(&self.sync.retention_days) {
            return Err(SettingsError::BadSync(self.sync.heartbeat_s, self.sync.retention_days));
        }
        if !(100..=120_000).contains(&self.push.timeout_ms) {
            return Err(SettingsError::BadPushTimeout(self.push.timeout_ms));
        }
        if !(100..=600_000).contains(&self.sync.grids_poll_ms) {
            return Err(SettingsError::BadGridsPoll(self.sync.grids_poll_ms));
        }
        crate::ratelimit::TrustedProxies::new(self.proxy.header.as_deref(), &self.proxy.proxies)?;
        self.limits.check().map_err(SettingsError::BadLimit)?;
        self.stats.check().map_err(SettingsError::BadStats)?;
        let sample = self.workflow.self_handled_sample;
        if !(0.0..=1.0).contains(&sample) {
            return Err(SettingsError::BadSelfHandledSample(sample));
        }
        if let Some(bad) = self.basemap.as_ref().filter(|b| basemap_origin(b).is_none()) {
            return Err(SettingsError::BadBasemap(bad.clone()));
        }
        if let Some(url) = &self.mqtt {
            mqtt_broker(url).map_err(SettingsError::BadMqtt)?;
        }
        if let Some(url) = &self.nats {
            crate::cluster::link::servers(url).map_err(SettingsError::BadNats)?;
            if self.database.starts_with("sqlite:") {
                return Err(SettingsError::NatsOnSqlite);
            }
        }
        if !(1..=3650).contains(&self.position_ttl_days) {
            return Err(SettingsError::BadPositionTtl(self.position_ttl_days));
        }
        let security = &self.security;
        if let Some(bad) = security.cors_origins.iter().find(|o| !crate::security::is_origin(o.trim_end_matches('/'))) {
            return Err(SettingsError::BadCorsOrigin(bad.clone()));
        }
        let token_ok = |t: &String| t.len() >= MIN_METRICS_TOKEN_CHARS && t.bytes().all(|b| b.is_ascii_graphic());
        if security.metrics_token.as_ref().is_some_and(|t| !token_ok(t)) {
            return Err(SettingsError::BadMetricsToken);
        }
        if security.metrics_bind.is_some_and(|m| m == self.bind && m.port() != 0) {
            return Err(SettingsError::MetricsBindIsBind(self.bind));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(bind: &str, demo: bool) -> Settings {
        Settings {
            bind: bind.parse().unwrap(),
            demo,
            snap_tolerance_m: 50.0,
            categories: None,
            calendars: None,
            database: DEFAULT_DATABASE.into(),
            push: PushSettings::default(),
            sync: Default::default(),
            test_clock: None,
            proxy: Default::default(),
            limits: Default::default(),
            basemap: None,
            stats: Default::default(),
            workflow: Default::default(),
            mqtt: None,
            nats: None,
            security: Default::default(),
            seal_keys: None,
            position_ttl_days: DEFAULT_POSITION_TTL_DAYS,
        }
    }

    #[test]
    fn cors_origins_and_the_metrics_token_and_bind_come_from_the_file_and_are_checked() {
        let text = "cors_origins = [\"https://app.example\"]\nmetrics_token = \"0123456789abcdef\"\n\
                    metrics_bind = \"127.0.0.1:9100\"\n";
        let file: FileSettings = toml::from_str(text).unwrap();
        let merged = file.under(settings("127.0.0.1:8080", false), |_| false).validate().unwrap();
        assert_eq!(merged.security.cors_origins, ["https://app.example"]);
        assert_eq!(merged.security.metrics_token.as_deref(), Some("0123456789abcdef"));
        assert_eq!(merged.security.metrics_bind, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(settings("127.0.0.1:0", false).security, SecuritySettings::default(), "nothing by default");
        let with = |security: SecuritySettings| Settings { security, ..settings("127.0.0.1:8080", false) };
        for bad in ["*", "app.example", "https://app.example/path", "null"] {
            let s = with(SecuritySettings { cors_origins: vec![bad.into()], ..Default::default() });
            assert!(matches!(s.validate(), Err(SettingsError::BadCorsOrigin(_))), "{bad}");
        }
        for bad in ["short", "sixteen chars ok"] {
            let s = with(SecuritySettings { metrics_token: Some(bad.into()), ..Default::default() });
            assert!(matches!(s.validate(), Err(SettingsError::BadMetricsToken)), "{bad}");
        }
        let s = with(SecuritySettings { metrics_bind: Some("127.0.0.1:8080".parse().unwrap()), ..Default::default() });
        assert!(matches!(s.validate(), Err(SettingsError::MetricsBindIsBind(_))));
    }

    #[test]
    fn an_mqtt_broker_is_plain_mqtt_from_a_flag_or_the_file() {
        assert_eq!(mqtt_broker("mqtt://127.0.0.1:1883"), Ok(("127.0.0.1".into(), 1883)));
        assert_eq!(mqtt_broker("mqtt://broker.local"), Ok(("broker.local".into(), 1883)));
        assert_eq!(mqtt_broker("tcp://[::1]:1884/"), Ok(("::1".into(), 1884)));
        for bad in ["mqtts://h:8883", "ws://h", "h:1883", "mqtt://", "mqtt://h:0", "mqtt://h:x", "mqtt://a b"] {
            assert!(mqtt_broker(bad).is_err(), "{bad}");
            let s = Settings { mqtt: Some(bad.into()), ..settings("127.0.0.1:0", false) };
            assert!(matches!(s.validate(), Err(SettingsError::BadMqtt(_))), "{bad}");
        }
        let file: FileSettings = toml::from_str("mqtt = \"mqtt://10.1.2.3:1883\"\n").unwrap();
        let merged = file.under(settings("127.0.0.1:0", false), |_| false).validate().unwrap();
        assert_eq!(merged.mqtt.as_deref(), Some("mqtt://10.1.2.3:1883"));
        let flag = Settings { mqtt: Some("mqtt://127.0.0.1".into()), ..settings("127.0.0.1:0", false) };
        let file: FileSettings = toml::from_str("mqtt = \"mqtt://10.1.2.3:1883\"\n").unwrap();
        assert_eq!(file.under(flag, |id| id == "mqtt").mqtt.as_deref(), Some("mqtt://127.0.0.1"), "the flag wins");
    }

    #[test]
    fn the_share_of_self_handled_findings_checked_is_a_share_from_the_file() {
        assert_eq!(settings("127.0.0.1:0", false).validate().unwrap().workflow.self_handled_sample, 0.1);
        let file: FileSettings = toml::from_str("[workflow]\nself_handled_sample = 0.25\n").unwrap();
        let merged = file.under(settings("127.0.0.1:0", false), |_| false).validate().unwrap();
        assert_eq!(merged.workflow.self_handled_sample, 0.25);
        for ok in [0.0, 1.0] {
            let s =
                Settings { workflow: WorkflowSettings { self_handled_sample: ok }, ..settings("127.0.0.1:0", false) };
            assert!(s.validate().is_ok(), "{ok}");
        }
        for bad in [-0.1, 1.5, f64::NAN] {
            let s =
                Settings { workflow: WorkflowSettings { self_handled_sample: bad }, ..settings("127.0.0.1:0", false) };
            assert!(matches!(s.validate(), Err(SettingsError::BadSelfHandledSample(_))), "{bad}");
        }
        assert!(
            toml::from_str::<FileSettings>("[workflow]\nself_handled_samples = 0.2\n").is_err(),
            "typos are refused"
        );
    }

    #[test]
    fn a_basemap_is_a_tile_template_of_one_origin() {
        let with = |b: &str| Settings { basemap: Some(b.into()), ..settings("127.0.0.1:0", false) }.validate();
        assert!(with("https://t.example.cn/{z}/{x}/{y}.png").is_ok());
        assert_eq!(basemap_origin("http://10.0.0.5:8081/tiles/{z}/{x}/{y}"), Some("http://10.0.0.5:8081".into()));
        for bad in [
            "ftp://h/{z}/{x}/{y}",
            "https://h/tiles.png",
            "https:///{z}/{x}/{y}",
            "https://h/{z}/{x}/{y}; script-src *",
        ] {
            assert!(matches!(with(bad), Err(SettingsError::BadBasemap(_))), "{bad}");
        }
    }

    #[test]
    fn the_demo_refuses_anything_but_loopback() {
        assert!(settings("127.0.0.1:8080", true).validate().is_ok());
        assert!(settings("[::1]:0", true).validate().is_ok());
        assert!(matches!(settings("0.0.0.0:8080", true).validate(), Err(SettingsError::DemoNotOnLoopback(_))));
        assert!(matches!(settings("192.168.1.5:8080", true).validate(), Err(SettingsError::DemoNotOnLoopback(_))));
    }

    #[test]
    fn a_test_clock_is_off_by_default_and_refused_on_a_public_address() {
        assert_eq!(settings("127.0.0.1:8080", false).test_clock, None);
        let with_clock = |bind| Settings { test_clock: Some(0), ..settings(bind, false) };
        assert!(with_clock("127.0.0.1:8080").validate().is_ok());
        assert!(matches!(with_clock("0.0.0.0:8080").validate(), Err(SettingsError::TestClockNotOnLoopback(_))));
    }

    #[test]
    fn without_the_demo_any_address_will_do() {
        assert!(settings("0.0.0.0:8080", false).validate().is_ok());
    }

    #[test]
    fn a_file_fills_in_what_flags_and_environment_did_not_give() {
        let file: FileSettings = toml::from_str(
            "bind = \"127.0.0.1:9000\"\ndatabase = \"sqlite:///srv/g.db\"\ndemo = true\nsnap_tolerance_m = 20.0\n",
        )
        .unwrap();
        let flags = Settings { database: "postgres://db/g".into(), ..settings("127.0.0.1:8080", false) };
        let merged = file.under(flags, |id| id == "database");
        assert_eq!(merged.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(merged.database, "postgres://db/g", "the flag wins");
        assert!(merged.demo);
        assert_eq!(merged.snap_tolerance_m, 20.0);
        assert!(toml::from_str::<FileSettings>("bnid = \"127.0.0.1:1\"").is_err(), "typos are refused");
    }

    #[test]
    fn push_settings_come_from_the_file_and_are_checked() {
        let file: FileSettings = toml::from_str(
            "push_allow_hosts = [\"127.0.0.1:8443\", \"push.test\"]\npush_subject = \"mailto:ops@example.org\"\n",
        )
        .unwrap();
        let merged = file.under(settings("127.0.0.1:0", false), |_| false).validate().unwrap();
        assert_eq!(merged.push.allow_hosts, ["127.0.0.1:8443", "push.test"]);
        assert_eq!(merged.push.subject, "mailto:ops@example.org");
        assert_eq!(merged.push.timeout_ms, DEFAULT_PUSH_TIMEOUT_MS);
        let bad = |push: PushSettings| Settings { push, ..settings("127.0.0.1:0", false) }.validate();
        let allow = |h: &str| PushSettings { allow_hosts: vec![h.into()], ..PushSettings::default() };
        assert!(matches!(bad(allow("http://x")), Err(SettingsError::BadPushAllowHost(_))));
        assert!(matches!(bad(allow("x:notaport")), Err(SettingsError::BadPushAllowHost(_))));
        assert!(bad(allow("[::1]:9000")).is_ok());
        let subject = PushSettings { subject: "me".into(), ..PushSettings::default() };
        assert!(matches!(bad(subject), Err(SettingsError::BadPushSubject(_))));
        let timeout = PushSettings { timeout_ms: 0, ..PushSettings::default() };
        assert!(matches!(bad(timeout), Err(SettingsError::BadPushTimeout(_))));
    }

    #[test]
    fn the_grid_layer_poll_comes_from_the_file_and_is_bounded() {
        assert_eq!(settings("127.0.0.1:0", false).sync.grids_poll_ms, 2_000);
        let file: FileSettings = toml::from_str("grids_poll_ms = 500\n").unwrap();
        let merged = file.under(settings("127.0.0.1:0", false), |_| false).validate().unwrap();
        assert_eq!(merged.sync.grids_poll_ms, 500);
        for bad in [0, 99, 600_001] {
            let mut s = settings("127.0.0.1:0", false);
            s.sync.grids_poll_ms = bad;
            assert!(matches!(s.validate(), Err(SettingsError::BadGridsPoll(_))), "{bad}");
        }
    }

    #[test]
    fn proxies_and_limits_come_from_the_file_and_are_checked() {
        let file: FileSettings = toml::from_str(
            "trusted_proxy_header = \"X-Forwarded-For\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
             [limits]\nreports_per_hour = 5\n",
        )
        .unwrap();
        let merged = file.under(settings("127.0.0.1:0", false), |_| false).validate().unwrap();
        assert_eq!(merged.proxy.header.as_deref(), Some("X-Forwarded-For"));
        assert_eq!(merged.proxy.proxies, ["10.0.0.0/8"]);
        assert_eq!(merged.limits.reports_per_hour, 5);
        assert_eq!(merged.limits.reports_burst, LimitSettings::default().reports_burst, "the rest keep defaults");
        let header_only = Settings {
            proxy: ProxySettings { header: Some("X-Real-IP".into()), proxies: vec![] },
            ..settings("127.0.0.1:0", false)
        };
        assert!(matches!(header_only.validate(), Err(SettingsError::Proxy(_))));
        let zero = Settings {
            limits: LimitSettings { login_failures: 0, ..LimitSettings::default() },
            ..settings("127.0.0.1:0", false)
        };
        assert!(matches!(zero.validate(), Err(SettingsError::BadLimit(_))));
        let tiny = Settings {
            limits: LimitSettings { upload_mib_per_day: 1, ..LimitSettings::default() },
            ..settings("127.0.0.1:0", false)
        };
        assert!(matches!(tiny.validate(), Err(SettingsError::BadLimit(_))));
        assert!(toml::from_str::<FileSettings>("[limits]\nreport_per_hour = 1\n").is_err(), "typos are refused");
    }

    #[test]
    fn a_city_sets_the_scores_weights_and_a_weight_on_no_rate_is_refused() {
        let file: FileSettings =
            toml::from_str("[stats]\nmin_sample = 5\n[stats.weights]\nclosure_rate = 1.0\nrework_rate = 0.5\n")
                .unwrap();
        let merged = file.under(settings("127.0.0.1:0", false), |_| false).validate().unwrap();
        assert_eq!(merged.stats.min_sample, 5);
        assert_eq!(merged.stats.weights.len(), 2);
        let default = settings("127.0.0.1:0", false).validate().unwrap();
        assert_eq!(default.stats.min_sample, 10);
        let file: FileSettings = toml::from_str("[stats.weights]\nreported = 1.0\n").unwrap();
        let refused = file.under(settings("127.0.0.1:0", false), |_| false).validate();
        assert!(matches!(refused, Err(SettingsError::BadStats(_))));
        assert!(toml::from_str::<FileSettings>("[stats]\nmin_samples = 5\n").is_err(), "typos are refused");
    }

    #[test]
    fn the_key_file_and_the_positions_time_to_live_come_from_the_file_or_a_flag() {
        let file: FileSettings = toml::from_str("seal_keys = \"/etc/gridlink/keys\"\nposition_ttl_days = 2\n").unwrap();
        let merged = file.under(settings("127.0.0.1:0", false), |_| false).validate().unwrap();
        assert_eq!(merged.seal_keys.as_deref(), Some(std::path::Path::new("/etc/gridlink/keys")));
        assert_eq!(merged.position_ttl_days, 2);
        let flag = Settings { seal_keys: Some("/run/keys".into()), ..settings("127.0.0.1:0", false) };
        let file: FileSettings = toml::from_str("seal_keys = \"/etc/gridlink/keys\"\n").unwrap();
        assert_eq!(
            file.under(flag, |id| id == "seal_keys").seal_keys.as_deref(),
            Some(std::path::Path::new("/run/keys"))
        );
        assert_eq!(settings("127.0.0.1:0", false).position_ttl_days, 7);
        for bad in [0, 3651] {
            let s = Settings { position_ttl_days: bad, ..settings("127.0.0.1:0", false) };
            assert!(matches!(s.validate(), Err(SettingsError::BadPositionTtl(_))), "{bad}");
        }
    }

    #[test]
    fn the_tolerance_is_bounded() {
        let s = Settings { snap_tolerance_m: -1.0, ..settings("127.0.0.1:0", true) };
        assert!(matches!(s.validate(), Err(SettingsError::BadTolerance(_))));
    }
}
