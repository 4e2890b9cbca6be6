//! Builds the application from its settings and runs it on a listener it is given, so
//! that tests can bind port 0 and ask which port they got.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, Service};
use actix_web::middleware::Compress;
use actix_web::{App, HttpServer, web};
use geodata::{AreaCode, IndexOptions, Layer, Level};

use crate::attachments::{self, UploadLimits};
use crate::auth::{self, routes::Directory};
use crate::calendar::Calendars;
use crate::calendar::horizon::{CalendarWatch, WARN_WITHIN_DAYS};
use crate::categories::{self, CategoryTree};
use crate::geo::{self, Geo};
use crate::incidents::act::WritePath;
use crate::problem::ApiError;
use crate::push::{self, Pusher};
use crate::settings::Settings;
use crate::store::Database;
use crate::sync::fanout::Fanout;
use crate::sync::hub::Hub;
use crate::sync::{self, Shared};
use crate::{health, inbox, incidents, openapi, problem, routing};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The bundled demo area could not be built.
    #[error(transparent)]
    Demo(#[from] geodata::demo::DemoError),
    /// The category tree could not be loaded.
    #[error("{0}")]
    Categories(#[from] crate::categories::CategoryError),
    /// The category file could not be read.
    #[error("cannot read the category file {0}: {1}")]
    CategoryFile(String, std::io::Error),
    /// The calendars could not be loaded.
    #[error("{0}")]
    Calendars(#[from] crate::calendar::CalendarsError),
    /// The calendars file could not be read.
    #[error("cannot read the calendars file {0}: {1}")]
    CalendarFile(String, std::io::Error),
    /// The demo accounts could not be created.
    #[error(transparent)]
    DemoAccounts(#[from] crate::auth::demo::DemoAccountsError),
    /// The stored area could not be read.
    #[error("cannot read the stored grids: {0}")]
    StoredArea(#[from] geo::store::LayerStoreError),
    /// Storage could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The metrics registry could not be set up.
    #[error("cannot set up metrics: {0}")]
    Metrics(String),
    /// Web Push could not be set up (its key, its HTTP client).
    #[error(transparent)]
    Push(#[from] crate::push::PushError),
    /// The database is the demo's and the address is not a loopback one.
    #[error(
        "this database was filled by `gridlink serve --demo`: its demo accounts (admin, centre, worker-…) have \
         the public password `demo`, so it is not served on {0}, which is not a loopback address. Disable them \
         with `gridlink users purge-demo --database URL` (the same database), or serve it on 127.0.0.1 or ::1"
    )]
    DemoDatabaseNotOnLoopback(std::net::SocketAddr),
    /// The listener could not be used.
    #[error("cannot serve on the listener: {0}")]
    Io(#[from] std::io::Error),
    /// The trusted proxies are not usable.
    #[error(transparent)]
    Proxy(#[from] crate::ratelimit::ProxyError),
    /// The Open311 services' attributes could not be loaded.
    #[error("the Open311 attributes: {0}")]
    Open311(String),
    /// The NATS URL is not usable.
    #[error("nats: {0}")]
    Nats(String),
    /// The MQTT broker's URL is not usable.
    #[error("mqtt: {0}")]
    Mqtt(String),
    /// The keys personal data is sealed with are missing or wrong.
    #[error(transparent)]
    Seal(#[from] crate::seal::store::KeyError),
}

/// The area the server works with, and its stored generation: the layer stored in the
/// database; on a database without one, the bundled demo area (stored, so that it is
/// there next time) when `demo` is set, and no area otherwise.
fn load_area(db: &Database, demo: bool) -> Result<(Layer, i64), StartupError> {
    // The generation before the layer: see `geo::store::generation`.
    let generation = db.read(geo::store::generation)?;
    if let Some(stored) = db.read(|c| Ok(geo::store::load_layer(c)))?? {
        return Ok((stored, generation));
    }
    if !demo {
        tracing::warn!("no grids are stored: import some with `gridlink grids import FILE`");
        return Ok((Layer::default(), generation));
    }
    let layer = geodata::demo::layer()?;
    let generation = db.write(|c| geo::store::save_layer(c, &layer, &mut |_, _| {}))?;
    Ok((layer, generation))
}

/// The units the responses name (the layer's, and the departments at the county's level).
fn directory_entries(layer: &Layer, tree: &CategoryTree) -> Vec<(String, String, u8)> {
    layer
        .units()
        .map(|u| (u.code.to_string(), u.name.clone(), u.level().number()))
        .chain(tree.departments.iter().map(|d| (d.code.clone(), d.name.clone(), Level::County.number())))
        .collect()
}

/// What follows the grid layer when another process stores a new one (`geo::watch`):
/// the unit names of the responses, and the open cases whose grid vanished.
struct LayerFollowers {
    directory: Directory,
    tree: Arc<CategoryTree>,
    path: WritePath,
    clock: crate::clock::Clock,
}

impl geo::watch::Follower for LayerFollowers {
    fn swapped(&self, layer: &Layer) {
        self.directory.replace(directory_entries(layer, &self.tree));
    }

    fn settle(&self, geo: &Geo) -> Result<(), String> {
        let index = geo.index();
        let tally =
            incidents::replace::run(&self.path, &index, geo.generation(), &self.clock).map_err(|e| e.to_string())?;
        if tally != incidents::replace::Tally::default() {
            tracing::info!(?tally, "open cases whose grid vanished brought in line with the grid layer");
        }
        Ok(())
    }

    fn looked(&self) {
        self.clock.passed("grids");
    }
}

/// The layer watch a running server keeps (see [`geo::watch`]).
struct Watch {
    db: Database,
    geo: Geo,
    every: Duration,
    follower: Arc<dyn geo::watch::Follower>,
}

/// Forgets change-log rows past the retention, sessions nobody can use any more, and
/// workers' positions older than `position_ttl_ms`, once an hour (and once at start), off
/// the async workers, until the server ends.
fn spawn_log_pruner(shared: Shared, position_ttl_ms: i64, until: crate::lifetime::Until) {
    std::thread::spawn(move || {
        loop {
            let before = crate::clock::now_ms() - shared.settings.retention_ms();
            match shared.db.write(|c| sync::store::prune_log(c, before)) {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "change log pruned past its retention"),
                Err(e) => tracing::warn!(cause = %e, "change log not pruned"),
            }
            let before = crate::clock::now_ms() - position_ttl_ms;
            match shared.db.write(|c| sync::store::expire_positions(c, before)) {
                Ok(0) => {}
                Ok(expired) => tracing::info!(expired, "workers' positions past their time to live forgotten"),
                Err(e) => tracing::warn!(cause = %e, "workers' positions not expired"),
            }
            match shared.db.write(|c| auth::prune_sessions(c, crate::clock::now_ms())) {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "expired and long-revoked sessions forgotten"),
                Err(e) => tracing::warn!(cause = %e, "sessions not pruned"),
            }
            if !until.sleep(std::time::Duration::from_secs(3600)) {
                break;
            }
        }
    });
}

/// A built application, bound to its listener and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    /// The sync sockets being served, which a stop waits for.
    sockets: Arc<sync::upgrade::Sessions>,
    hub: Arc<Hub>,
    watch: Watch,
    timer: crate::deadlines::timer::Timer,
    sweeper: attachments::sweep::Sweeper,
    undeclared: problem::Undeclared,
    /// The MQTT door of sensors' alarms, when a broker is named.
    mqtt: Option<crate::sensors::mqtt::Listener>,
    /// The link to the other nodes, when NATS is named.
    link: Option<crate::cluster::link::Link>,
    /// Rung when another node says a new grid layer was stored.
    grids_nudge: Arc<tokio::sync::Notify>,
    /// The listener of its own serving /metrics (`metrics_bind`), and its port.
    metrics_server: Option<(Server, u16)>,
    /// Ends the server's own threads when the application is dropped, however it ends.
    _lifetime: crate::lifetime::Lifetime,
}

impl Application {
    /// Loads the area and binds the server to `listener`.
    pub fn build(settings: &Settings, listener: TcpListener) -> Result<Application, StartupError> {
        let tree = match &settings.categories {
            None => CategoryTree::default_tree()?,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| StartupError::CategoryFile(path.display().to_string(), e))?;
                CategoryTree::from_json(&text)?
            }
        };
        tracing::info!(categories = tree.categories().count(), "category tree loaded");
        let calendars = match &settings.calendars {
            None => Calendars::shipped(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| StartupError::CalendarFile(path.display().to_string(), e))?;
                Calendars::from_toml(&text)?
            }
        };
        let summary = calendars.summary();
        let calendars = web::Data::new(calendars);
        // A database that cannot have a key (PostgreSQL, none named) is refused before it is
        // even migrated.
        crate::seal::store::key_file(&settings.database, settings.seal_keys.as_deref())?;
        let db = Database::open(&settings.database, 8)?;
        db.migrate()?;
        // Before anything is read or written: personal data is sealed, never in plain form,
        // so a missing or wrong key stops the start here.
        let keys = crate::seal::store::load(&db, &settings.database, settings.seal_keys.as_deref(), auth::now_ms())?;
        let db = db.with_keys(keys);
        db.write(incidents::store::restamp_lights)?;
        db.write(crate::stats::store::backfill)?;
        // A database from before the trace was chained: its events join the chain once.
        let chained = db.write(crate::audit::chain_unrecorded_events)?;
        if chained > 0 {
            tracing::info!(events = chained, "chained the events of cases written before the trace was chained");
        }
        // Before anything is written or served: a demo's database never goes public, whether
        // or not this run has --demo (which refuses a public address by itself).
        let address = listener.local_addr()?;
        if !address.ip().is_loopback() && db.read(auth::demo::is_marked)? {
            return Err(StartupError::DemoDatabaseNotOnLoopback(address));
        }
        db.write(|c| categories::store_tree(c, &tree))?;
        let (layer, generation) = load_area(&db, settings.demo)?;
        for c in &summary {
            let counties = if c.default { "every other county".to_owned() } else { c.counties.join(",") };
            tracing::info!(calendar = %c.name, years = ?c.years, %counties, "calendar loaded");
            // A typo in a county's code would silently leave it on the default calendar.
            let unknown =
                c.counties.iter().filter(|code| !AreaCode::parse(code).is_ok_and(|a| layer.get(&a).is_some()));
            for code in unknown {
                tracing::warn!(calendar = %c.name, county = %code, "the calendars name a county the grid layer does not have");
            }
        }
        tracing::info!(grids = layer.grids().count(), units = layer.len(), generation, "area loaded");
        if settings.demo {
            let created = auth::demo::ensure(&db, &layer, &tree)?;
            tracing::info!(created, "demo accounts ready (password: demo)");
            let issued = db.write(|c| crate::open311::keys::ensure_demo(c, auth::now_ms()))?;
            tracing::info!(issued, "demo Open311 API key ready (demo-key)");
        }
        let directory = web::Data::new(Directory::new(directory_entries(&layer, &tree)));
        let db = web::Data::new(db);
        let tree = web::Data::new(tree);
        let clock = match settings.test_clock {
            Some(start) => {
                tracing::warn!(start = %crate::clock::rfc3339(start), "running on a movable test clock");
                crate::clock::Clock::starting_at(start)
            }
            None => crate::clock::Clock::real(),
        };
        let test_clock = clock.is_adjustable();
        let clock = web::Data::new(clock);
        let pusher = web::Data::new(Pusher::new(db.get_ref().clone(), &settings.push)?);
        let origin = settings.basemap.as_deref().and_then(crate::settings::basemap_origin);
        let pages = web::Data::new(crate::pages::Pages::embedded());
        // Headers, CORS and the guard of /metrics (`crate::security`). The main listener
        // serves /metrics only with a token and no listener of its own for it.
        let security = &settings.security;
        let public_metrics = security.metrics_token.as_deref().filter(|_| security.metrics_bind.is_none());
        let policy = crate::security::Policy::new(origin.as_deref(), &security.cors_origins, public_metrics);
        let basemap = web::Data::new(geo::map::Basemap(settings.basemap.clone()));
        let presence = web::Data::new(incidents::presence::Presence::default());
        let scoring = web::Data::new(settings.stats.clone());
        // What the internet may ask: see `settings::LimitSettings` and `crate::ratelimit`.
        let limits = &settings.limits;
        let proxies = web::Data::new(crate::ratelimit::TrustedProxies::new(
            settings.proxy.header.as_deref(),
            &settings.proxy.proxies,
        )?);
        let uploads = web::Data::new(UploadLimits::new(
            limits.uploads_per_minute,
            limits.uploads_burst,
            u64::from(limits.upload_mib_per_day) * 1024 * 1024,
        ));
        let reports = web::Data::new(crate::ratelimit::ReportLimiter(crate::ratelimit::KeyedLimiter::every(
            u64::from(limits.reports_per_hour),
            3600,
            u64::from(limits.reports_burst),
        )));
        // Subscribing to news of a report is allowed as often as reporting, on its own count.
        let follows = web::Data::new(crate::ratelimit::FollowLimiter(crate::ratelimit::KeyedLimiter::every(
            u64::from(limits.reports_per_hour),
            3600,
            u64::from(limits.reports_burst),
        )));
        let logins = web::Data::new(auth::throttle::LoginGuard::new(limits));
        let open311 = web::Data::new(
            crate::open311::Open311::new(limits.open311_per_hour, limits.open311_burst)
                .map_err(StartupError::Open311)?,
        );
        let limits = web::Data::new(limits.clone());
        let geo =
            web::Data::new(Geo::new(layer, IndexOptions { snap_tolerance_m: settings.snap_tolerance_m }, generation));
        let calendar_watch = CalendarWatch::new(
            calendars.clone().into_inner(),
            settings.calendars.clone(),
            clock.get_ref().clone(),
            geo.get_ref().clone(),
        );
        for w in calendar_watch.warnings() {
            let counties =
                if w.counties.is_empty() && w.default { "every county".to_owned() } else { w.counties.join(",") };
            tracing::warn!(
                calendar = %w.calendar, %counties, last_day = %w.last_day, days_left = w.days_left, add = %w.add,
                "a calendar in force ends within {WARN_WITHIN_DAYS} days: past it, deadlines count Monday–Friday \
                 and ignore holidays"
            );
        }
        let hub = Arc::new(Hub::new());
        // Where the log stood as the node started: its sessions' frames may claim that
        // far, and in a cluster what came before counts as heard.
        let start = db.read(crate::changes::newest)?;
        hub.saw_committed(start);
        // A worker whose phone holds a socket open but does not acknowledge a new task
        // within five seconds is woken by push all the same.
        let fanout = Fanout::new(hub.clone(), pusher.get_ref().clone(), db.get_ref().clone(), Duration::from_secs(5));
        // Alone, the node's own fan-out is the notifier; in a cluster, the same news goes
        // to the other nodes over NATS (`crate::cluster`).
        let grids_nudge = Arc::new(tokio::sync::Notify::new());
        let cluster_metrics = crate::cluster::link::Metrics::new().map_err(|e| StartupError::Metrics(e.to_string()))?;
        let (notifier, link): (Arc<dyn crate::sync::hub::Notifier>, _) = match &settings.nats {
            None => (Arc::new(fanout), None),
            Some(url) => {
                let servers = crate::cluster::link::servers(url).map_err(StartupError::Nats)?;
                let name = db.write(crate::cluster::store::name)?;
                let (cluster, outgoing) = crate::cluster::Cluster::new(Arc::new(fanout.with_peers()), &hub);
                let link = crate::cluster::link::Link {
                    servers,
                    subjects: crate::cluster::Subjects::of(&name),
                    hub: hub.clone(),
                    db: db.get_ref().clone(),
                    outgoing,
                    status: Arc::new(crate::cluster::Status::default()),
                    metrics: cluster_metrics.clone(),
                    grids: grids_nudge.clone(),
                    start,
                };
                (Arc::new(cluster), Some(link))
            }
        };
        let nats_status = link.as_ref().map(|l| web::Data::from(l.status.clone()));
        let path =
            WritePath::new(db.get_ref().clone(), notifier, tree.clone().into_inner(), calendars.clone().into_inner());
        let acks = Arc::new(crate::sync::acks::Acks::default());
        let lifetime = crate::lifetime::Lifetime::new();
        acks.spawn(db.get_ref().clone(), lifetime.until());
        let shared = web::Data::new(Shared {
            db: db.get_ref().clone(),
            hub: hub.clone(),
            path: path.clone(),
            tree: tree.clone().into_inner(),
            calendars: calendars.clone().into_inner(),
            geo: geo.get_ref().clone(),
            settings: settings.sync.clone(),
            workflow: settings.workflow.clone(),
            clock: clock.get_ref().clone(),
            acks,
        });
        let position_ttl_ms = i64::from(settings.position_ttl_days) * 24 * 60 * 60 * 1000;
        spawn_log_pruner(shared.get_ref().clone(), position_ttl_ms, lifetime.until());
        sync::sweep::spawn(db.get_ref().clone(), hub.clone(), lifetime.until());
        let watch = Watch {
            db: db.get_ref().clone(),
            geo: geo.get_ref().clone(),
            every: Duration::from_millis(settings.sync.grids_poll_ms),
            follower: Arc::new(LayerFollowers {
                directory: directory.get_ref().clone(),
                tree: tree.clone().into_inner(),
                path: path.clone(),
                clock: clock.get_ref().clone(),
            }),
        };
        let timer = crate::deadlines::timer::Timer { path: path.clone(), clock: clock.get_ref().clone() };
        // Sensors' alarms (物联感知): over HTTP, and over MQTT when a broker is named.
        let sensors = web::Data::new(crate::sensors::Sensors::new(
            path.clone(),
            geo.get_ref().clone(),
            clock.get_ref().clone(),
            &settings.limits,
        ));
        let mqtt_metrics = crate::sensors::mqtt::Metrics::new().map_err(|e| StartupError::Metrics(e.to_string()))?;
        let mqtt = match &settings.mqtt {
            Some(url) => Some(
                crate::sensors::mqtt::Listener::new(url, sensors.get_ref().clone(), mqtt_metrics.clone())
                    .map_err(StartupError::Mqtt)?,
            ),
            None => None,
        };
        let sweeper = attachments::sweep::Sweeper { db: db.get_ref().clone(), clock: clock.get_ref().clone() };
        let sessions = hub.clone();
        let hub = web::Data::from(hub);
        let path = web::Data::new(path);
        let port = listener.local_addr()?.port();
        // Request counts and durations by route (`crate::http_metrics`), served at /metrics
        // in Prometheus's format (here only with its token, see above).
        let registry = prometheus::Registry::new();
        let http_metrics =
            crate::http_metrics::HttpMetrics::new(&registry).map_err(|e| StartupError::Metrics(e.to_string()))?;
        let gauge = calendar_watch.gauge().map_err(|e| StartupError::Metrics(e.to_string()))?;
        registry.register(Box::new(gauge)).map_err(|e| StartupError::Metrics(e.to_string()))?;
        let undeclared = problem::Undeclared::new().map_err(|e| StartupError::Metrics(e.to_string()))?;
        registry.register(undeclared.collector()).map_err(|e| StartupError::Metrics(e.to_string()))?;
        for collector in cluster_metrics.collectors() {
            registry.register(collector).map_err(|e| StartupError::Metrics(e.to_string()))?;
        }
        let sync_pages =
            crate::sync::hub::PagesRead::of(sessions.clone()).map_err(|e| StartupError::Metrics(e.to_string()))?;
        registry.register(Box::new(sync_pages)).map_err(|e| StartupError::Metrics(e.to_string()))?;
        for collector in mqtt_metrics.collectors() {
            registry.register(collector).map_err(|e| StartupError::Metrics(e.to_string()))?;
        }
        let calendar_watch = web::Data::new(calendar_watch);
        let metrics_server = match security.metrics_bind {
            Some(at) => Some(metrics_listener(at, registry.clone(), &policy, security.metrics_token.as_deref())?),
            None => None,
        };
        let checked = undeclared.clone();
        let public_registry = public_metrics.map(|_| registry.clone());
        // Built once per worker, twice: for requests, and for the WebSocket upgrades that
        // `sync::upgrade` takes past actix-web's dispatcher.
        let app = move || {
            let (checked, counted) = (checked.clone(), http_metrics.clone());
            App::new()
                // Innermost: the handlers read the query as it was sent (`crate::redact`).
                .wrap_fn(|req, service| service.call(crate::redact::put_back(req)))
                // Then each answer is counted, and each error checked against its route's
                // list (one layer for both: every layer costs every request a future).
                .wrap_fn(move |req, service| {
                    let (checked, counted, started) = (checked.clone(), counted.clone(), std::time::Instant::now());
                    let answer = service.call(req);
                    async move {
                        let res = answer.await?;
                        checked.check(&res);
                        counted.observe(res.request(), res.status().as_u16(), started.elapsed());
                        Ok(res)
                    }
                })
                // Every answer, whoever gave it, leaves with the security headers.
                .wrap(crate::security::Guard::new(policy.clone()))
                .wrap(Compress::default())
                // Each request in a span of its own (`crate::telemetry`).
                .wrap_fn(|req, service| {
                    let span = crate::telemetry::request_span(&req);
                    let answer = span.in_scope(|| service.call(req));
                    tracing::Instrument::instrument(answer, span)
                })
                // Outermost: secrets in the query (the socket's ?token=, ?follow_token= …)
                // leave the URL before anything logs it (`crate::redact`).
                .wrap_fn(|req, service| service.call(crate::redact::take(req)))
                .app_data(shared.clone())
                .app_data(hub.clone())
                .app_data(path.clone())
                .app_data(geo.clone())
                .app_data(tree.clone())
                .app_data(db.clone())
                .app_data(directory.clone())
                .app_data(calendars.clone())
                .app_data(calendar_watch.clone())
                .configure(|config| {
                    if let Some(status) = &nats_status {
                        config.app_data(status.clone());
                    }
                })
                .app_data(clock.clone())
                .app_data(uploads.clone())
                .app_data(proxies.clone())
                .app_data(reports.clone())
                .app_data(follows.clone())
                .app_data(logins.clone())
                .app_data(limits.clone())
                .app_data(scoring.clone())
                .app_data(pusher.clone())
                .app_data(pages.clone())
                .app_data(basemap.clone())
                .app_data(presence.clone())
                .app_data(open311.clone())
                .app_data(sensors.clone())
                .app_data(web::QueryConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
                .app_data(web::PathConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
                .app_data(web::JsonConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()))
                // The most asked first: actix tries routes in order, each dynamic one with a
                // regex match, so a route late in the list pays for every one before it.
                .service(geo::routes::locate)
                .service(crate::pages::centre_page)
                .service(crate::pages::worker_page)
                .service(crate::pages::resident_page)
                .service(crate::pages::phone_page_slash)
                .service(crate::pages::phone_file_route)
                .service(crate::pages::page_asset)
                .service(health::healthz)
                .service(openapi::describe)
                .service(auth::routes::login)
                .service(auth::routes::refresh)
                .service(auth::routes::logout)
                .service(auth::routes::me)
                .configure(auth::admin::configure)
                .service(geo::routes::grids)
                .service(geo::map::info)
                .service(geo::map::tile)
                .service(incidents::on_map::map_cases)
                .service(crate::stats::routes::stats)
                .service(crate::stats::routes::heat)
                .service(categories::routes::categories)
                .service(attachments::routes::upload)
                .service(attachments::routes::fetch)
                .service(incidents::report::file_report)
                .service(incidents::report::follow)
                .service(incidents::report::rate)
                .service(incidents::routes::list)
                .service(incidents::routes::get_incident)
                .service(incidents::contact::read_contact)
                .service(crate::audit::export::case_trace)
                .service(incidents::routes::incident_action)
                .service(incidents::routes::task_action)
                .service(inbox::routes::inbox)
                .service(routing::routes::suggestion)
                .service(routing::positions::positions)
                .service(incidents::presence::here)
                .service(incidents::presence::gone)
                .service(routing::routes::get_roster)
                .service(routing::routes::put_roster)
                .service(crate::sensors::routes::list)
                .service(crate::sensors::routes::register)
                .service(crate::sensors::routes::revoke)
                .service(crate::sensors::routes::alarm)
                .configure(push::routes::configure)
                .configure(crate::open311::configure)
                .service(crate::open311::keys::list_keys)
                .service(crate::open311::keys::add_key)
                .service(crate::open311::keys::revoke_key)
                .service(sync::socket::connect)
                .service(sync::held::held)
                .configure(|cfg| {
                    // /metrics on this listener: only with its token (`crate::security`).
                    if let Some(registry) = &public_registry {
                        let registry = registry.clone();
                        cfg.route(
                            "/metrics",
                            web::get().to(move || {
                                let registry = registry.clone();
                                async move { crate::security::metrics_text(&registry) }
                            }),
                        );
                    }
                })
                .configure(|cfg| {
                    // Only on a server started with a test clock (never by default).
                    if test_clock {
                        cfg.service(crate::clock::read).service(crate::clock::shift);
                    }
                })
                .default_service(web::to(problem::not_found))
        };
        // Stopping is ours (run_until_stopped): phones are told to go before the wait.
        let sockets = Arc::new(sync::upgrade::Sessions::default());
        let server = sync::upgrade::serve(listener, app, SHUTDOWN_GRACE_S, sockets.clone())?;
        Ok(Application {
            port,
            server,
            sockets,
            hub: sessions,
            watch,
            timer,
            sweeper,
            undeclared,
            mqtt,
            link,
            grids_nudge,
            metrics_server,
            _lifetime: lifetime,
        })
    }

    /// A handle that stops the server (tests stop one to start another on its database).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// How many errors it answered of a kind their route does not list (tests fail on one).
    pub fn undeclared_errors(&self) -> problem::Undeclared {
        self.undeclared.clone()
    }

    /// The port the server listens on (useful when it was asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the listener of its own serving /metrics, when `metrics_bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// Serves until the server is stopped (Ctrl-C, SIGTERM): then every phone's socket is
    /// closed with 1001 "going away" (they resume from their cursors elsewhere or later),
    /// and requests under way get [`SHUTDOWN_GRACE_S`] seconds to finish. Meanwhile it
    /// watches the stored grid layer and swaps in a newly imported one ([`geo::watch`]).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            sockets,
            hub,
            watch,
            timer,
            sweeper,
            mqtt,
            metrics_server,
            link,
            grids_nudge,
            _lifetime,
            ..
        } = self;
        let Watch { db, geo, every, follower } = watch;
        let watching = tokio::spawn(geo::watch::run(db, geo, every, follower, grids_nudge));
        let _linked = link.map(|link| AbortOnDrop(tokio::spawn(link.run())));
        // Both end with the server, however it ends.
        let _watching = AbortOnDrop(watching);
        let _timing = AbortOnDrop(tokio::spawn(timer.run()));
        let _sweeping = AbortOnDrop(tokio::spawn(sweeper.run()));
        let mqtt = mqtt.map(crate::sensors::mqtt::Listener::start);
        // The metrics' own listener lives as long as the server, and stops with it.
        let metrics_handle = metrics_server.map(|(metrics, _)| {
            let handle = metrics.handle();
            (
                AbortOnDrop(tokio::spawn(async move {
                    if let Err(e) = metrics.await {
                        tracing::error!(cause = %e, "the metrics listener stopped");
                    }
                })),
                handle,
            )
        });
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        tokio::select! {
            result = &mut server => return result,
            () = stop_signal() => {}
        }
        let stopping = async {
            // No new connections first, so that phones told to go do not come back here.
            handle.pause().await;
            let told = hub.kick_where(|_, _| true, crate::sync::hub::Kick::ShuttingDown);
            tracing::info!(sockets = told, "stopping: phones told to go");
            // They run outside the connections the server waits for: their close frames
            // are out before the workers stop.
            let closing = sockets.all_ended();
            if tokio::time::timeout(Duration::from_secs(SHUTDOWN_GRACE_S), closing).await.is_err() {
                tracing::warn!(open = sockets.live(), "stopping: sockets still open after the grace period");
            }
            if let Some(mqtt) = mqtt {
                mqtt.stop().await;
            }
            handle.stop(true).await;
            if let Some((_, metrics)) = &metrics_handle {
                metrics.stop(true).await;
            }
        };
        // The server's own future carries out the pause and the stop: poll both.
        let ((), result) = tokio::join!(stopping, server);
        result
    }
}

/// The listener of its own that serves only `GET /metrics` from `registry` (with the
/// headers of `policy`, and wanting `token` when one is set); its port.
fn metrics_listener(
    at: std::net::SocketAddr,
    registry: prometheus::Registry,
    policy: &crate::security::Policy,
    token: Option<&str>,
) -> Result<(Server, u16), StartupError> {
    let listener = bind(at)?;
    let port = listener.local_addr()?.port();
    let policy = policy.clone().with_metrics_token(token);
    let server = HttpServer::new(move || {
        let registry = registry.clone();
        App::new()
            .wrap(crate::security::Guard::new(policy.clone()))
            .route(
                "/metrics",
                web::get().to(move || {
                    let registry = registry.clone();
                    async move { crate::security::metrics_text(&registry) }
                }),
            )
            .default_service(web::to(problem::not_found))
    })
    .disable_signals()
    .workers(1)
    .listen(listener)?
    .run();
    tracing::info!(%at, port, "/metrics served on a listener of its own");
    Ok((server, port))
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connections the kernel queues before the server accepts them. The standard library
/// asks for 128, which a reconnect storm of thousands of phones overflows (SYNs dropped,
/// each phone waiting a second or more to retry); Linux caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Binds the listening socket with [`LISTEN_BACKLOG`].
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // A restarted server binds again at once, past the old sockets in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Seconds requests under way may take to finish once the server is told to stop.
pub const SHUTDOWN_GRACE_S: u64 = 5;

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
