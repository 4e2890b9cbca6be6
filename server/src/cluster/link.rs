//! A node's link to NATS: publishes what this node's commits and decisions touched,
//! hands what the other nodes publish to this node's hub, and reads the change log
//! itself while the link is down (see the module above for why nothing is lost).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use tokio::sync::{Notify, mpsc};

use super::heard::Heard;
use super::{FALLBACK_EVERY, LOOK_EVERY, Message, Status, Subjects};
use crate::clock::now_ms;
use crate::store::Database;
use crate::sync::hub::{Hub, Notifier, Touched};

/// How often NATS is pinged: a link that went silent is found lost within two of these.
const PING_EVERY: Duration = Duration::from_secs(5);

/// The NATS servers of `url`: one or more `nats://host[:port]`, separated by commas.
pub fn servers(url: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
    let servers: Result<Vec<_>, String> = url
        .split(',')
        .map(str::trim)
        .map(|one| {
            if !one.starts_with("nats://") {
                return Err(format!("{one:?} is not nats://host[:port]"));
            }
            async_nats::ServerAddr::from_str(one).map_err(|e| format!("{one:?}: {e}"))
        })
        .collect();
    servers.and_then(|s| if s.is_empty() { Err("no NATS server named".to_owned()) } else { Ok(s) })
}

/// What the node counts of its link (registered in the `/metrics` registry).
#[derive(Clone, Debug)]
pub struct Metrics {
    connected: IntGauge,
    messages: IntCounterVec,
    log_reads: IntCounter,
}

impl Metrics {
    /// New counters, not yet registered.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let connected = IntGauge::new(
            "gridlink_nats_connected",
            "1 while the node is connected to NATS; 0 while it reads the change log itself instead",
        )?;
        let messages = IntCounterVec::new(
            Opts::new(
                "gridlink_nats_messages_total",
                "Messages between the nodes of the cluster, by direction and kind",
            ),
            &["direction", "kind"],
        )?;
        let log_reads = IntCounter::new(
            "gridlink_nats_log_reads_total",
            "Reads of the change log made because the link to NATS was down or had just returned",
        )?;
        Ok(Metrics { connected, messages, log_reads })
    }

    /// The collectors, for the registry.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![Box::new(self.connected.clone()), Box::new(self.messages.clone()), Box::new(self.log_reads.clone())]
    }

    fn count(&self, direction: &str, message: &Message) {
        self.messages.with_label_values(&[direction, message.kind()]).inc();
    }
}

/// A node's link, ready to start.
pub struct Link {
    /// The NATS servers.
    pub servers: Vec<async_nats::ServerAddr>,
    /// The cluster's subjects.
    pub subjects: Subjects,
    /// This node's sessions.
    pub hub: Arc<Hub>,
    /// The database, read while the link is down.
    pub db: Database,
    /// What this node has to tell the others (from [`super::Cluster`]).
    pub outgoing: mpsc::UnboundedReceiver<Message>,
    /// Where the link stands.
    pub status: Arc<Status>,
    /// Its counters.
    pub metrics: Metrics,
    /// Woken when another node says a new grid layer was stored.
    pub grids: Arc<Notify>,
    /// The newest change-log number when the node started.
    pub start: i64,
}

impl Link {
    /// Connects (in the background, again and again while NATS is away) and serves the
    /// link until the task is dropped or aborted.
    pub async fn run(self) {
        let Link { servers, subjects, hub, db, mut outgoing, status, metrics, grids, start } = self;
        let (events_to, mut events) = mpsc::unbounded_channel::<bool>();
        let options = async_nats::ConnectOptions::new()
            .name("gridlink")
            // A node's own news has been acted on already (its own fan-out).
            .no_echo()
            .ping_interval(PING_EVERY)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((250 * u64::try_from(attempts).unwrap_or(u64::MAX)).min(5_000))
            })
            .event_callback(move |event| {
                let events_to = events_to.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            let _ = events_to.send(true);
                        }
                        async_nats::Event::Disconnected | async_nats::Event::Closed => {
                            let _ = events_to.send(false);
                        }
                        other => tracing::warn!(event = %other, "NATS"),
                    }
                }
            });
        let mut heard = Heard::starting_at(start);
        let connecting = async {
            let client = options.connect(servers.clone()).await.map_err(|e| e.to_string())?;
            let inbox = client.subscribe(subjects.all()).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((client, inbox))
        };
        let (client, mut inbox) = match connecting.await {
            Ok(linked) => linked,
            Err(e) => {
                tracing::error!(cause = %e, "cannot use NATS; this node reads the change log itself instead");
                status.set_connected(false, now_ms());
                let mut reading = tokio::time::interval(FALLBACK_EVERY);
                loop {
                    reading.tick().await;
                    metrics.log_reads.inc();
                    read_unheard(&db, &hub, &mut heard, false).await;
                }
            }
        };
        tracing::info!(servers = ?servers, subjects = %subjects.all(), "joining the cluster over NATS");
        let mut connected = false;
        // Cut off: every FALLBACK_EVERY, every unheard number; connected: every
        // LOOK_EVERY, those unheard for a whole look.
        let mut looking = tokio::time::interval(FALLBACK_EVERY);
        looking.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut looks = 0_u64;
        let patient_every = (LOOK_EVERY.as_millis() / FALLBACK_EVERY.as_millis()).max(1) as u64;
        loop {
            tokio::select! {
                Some(up) = events.recv() => {
                    if up != connected {
                        connected = up;
                        status.set_connected(up, now_ms());
                        metrics.connected.set(i64::from(up));
                        if up {
                            tracing::info!("connected to NATS");
                        } else {
                            tracing::warn!(every_ms = FALLBACK_EVERY.as_millis(), "lost NATS: reading the change log instead until it returns");
                        }
                    }
                }
                Some(message) = outgoing.recv() => {
                    if let Message::Log { oldest, newest, .. } = &message {
                        heard.heard(*oldest, *newest);
                    }
                    if connected {
                        publish(&client, &subjects, &metrics, &message).await;
                    } else {
                        // The others find it in the log (`heard`), the sweep or their next look.
                        metrics.count("held-back", &message);
                    }
                }
                Some(received) = inbox.next() => match Message::decode(&received.payload) {
                    Ok(message) => {
                        metrics.count("in", &message);
                        match message {
                            Message::Log { subjects, oldest, newest, rows } => {
                                heard.heard(oldest, newest);
                                hub.committed(&Touched { subjects, oldest, newest, rows: rows.into(), ..Touched::default() });
                            }
                            Message::Ended { ended } => {
                                let told = hub.close(&ended);
                                if told > 0 {
                                    tracing::info!(told, ?ended, "sockets of sessions ended on another node closed");
                                }
                            }
                            Message::Grids { generation } => {
                                tracing::info!(generation, "another process stored a new grid layer");
                                grids.notify_one();
                            }
                        }
                    }
                    Err(e) => tracing::warn!(cause = %e, subject = %received.subject, "a message from another node dropped"),
                },
                _ = looking.tick() => {
                    looks += 1;
                    if !connected {
                        metrics.log_reads.inc();
                        read_unheard(&db, &hub, &mut heard, false).await;
                    } else if looks.is_multiple_of(patient_every) && read_unheard(&db, &hub, &mut heard, true).await > 0 {
                        metrics.log_reads.inc();
                    }
                }
                else => break,
            }
        }
    }
}

/// Publishes one message (the client queues it; one lost is found by the others' [`Heard`]).
async fn publish(client: &async_nats::Client, subjects: &Subjects, metrics: &Metrics, message: &Message) {
    match client.publish(subjects.of_message(message), message.encode().into()).await {
        Ok(()) => metrics.count("out", message),
        Err(e) => tracing::warn!(cause = %e, "a message to the other nodes was not sent"),
    }
}

/// Reads who the changes this node has not heard of concern and rings them (see
/// [`Heard::to_read`] for `patient`); how many changes it read.
async fn read_unheard(db: &Database, hub: &Hub, heard: &mut Heard, patient: bool) -> usize {
    let db = db.clone();
    let newest = match tokio::task::spawn_blocking({
        let db = db.clone();
        move || db.read(crate::changes::newest)
    })
    .await
    {
        Ok(Ok(newest)) => newest,
        Ok(Err(e)) => {
            tracing::warn!(cause = %e, "cannot read the change log");
            return 0;
        }
        Err(e) => {
            tracing::warn!(cause = %e, "reading the change log failed");
            return 0;
        }
    };
    let wanted = heard.to_read(newest, patient);
    let (Some(&oldest), Some(&last)) = (wanted.first(), wanted.last()) else { return 0 };
    let count = wanted.len();
    let reading = wanted.clone();
    let read = tokio::task::spawn_blocking(move || db.read(|c| super::store::audience_of(c, &reading))).await;
    match read {
        Ok(Ok(subjects)) => {
            if patient {
                tracing::info!(
                    changes = count,
                    from = oldest,
                    to = last,
                    "changes no message told of, read from the log"
                );
            }
            if !subjects.is_empty() {
                hub.committed(&Touched { subjects, oldest, newest: last, ..Touched::default() });
            }
            for seq in wanted {
                heard.heard(seq, seq);
            }
            count
        }
        Ok(Err(e)) => {
            tracing::warn!(cause = %e, "cannot read the change log");
            0
        }
        Err(e) => {
            tracing::warn!(cause = %e, "reading the change log failed");
            0
        }
    }
}

/// Tells the cluster of the database named by `name` one message from outside a node
/// (`gridlink grids import`), waiting at most `within` for NATS.
pub async fn tell_once(
    servers: Vec<async_nats::ServerAddr>,
    name: &str,
    message: &Message,
    within: Duration,
) -> Result<(), String> {
    let subjects = Subjects::of(name);
    let sending = async {
        let client =
            async_nats::ConnectOptions::new().name("gridlink-cli").connect(servers).await.map_err(|e| e.to_string())?;
        client.publish(subjects.of_message(message), message.encode().into()).await.map_err(|e| e.to_string())?;
        client.flush().await.map_err(|e| e.to_string())
    };
    tokio::time::timeout(within, sending).await.map_err(|_| format!("NATS did not answer within {within:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_urls_are_nats_and_may_be_several() {
        assert_eq!(servers("nats://127.0.0.1:4222").unwrap().len(), 1);
        assert_eq!(servers("nats://a:4222, nats://b").unwrap().len(), 2);
        for bad in ["", "127.0.0.1:4222", "http://h", "nats://a,", "mqtt://h:1883"] {
            assert!(servers(bad).is_err(), "{bad}");
        }
    }
}
