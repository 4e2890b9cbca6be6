//! Sensors' alarms over MQTT (`gridlink serve --mqtt mqtt://HOST:PORT`).
//!
//! The node subscribes to [`TOPIC`], `gridlink/sensors/+/alarm`: the topic's third level
//! names the sensor, and the payload is the alarm's JSON as over HTTP with the sensor's
//! `"key"` beside it (brokers here have no per-client accounts, so the key rides in the
//! payload). Each message goes to [`Sensors::receive`], the function the HTTP door uses,
//! one at a time and in the order received, so that a sensor's clear never overtakes its
//! raise. Nothing is answered on MQTT: a message that cannot be read, or that the server
//! refuses (a wrong key, an unknown or revoked sensor, past its allowance), is logged and
//! dropped, and counted in `gridlink_mqtt_messages_total{outcome}` beside the applied ones;
//! `gridlink_mqtt_subscribed` is 1 while the subscription stands.
//!
//! The connection is plain TCP (no TLS). When the broker goes away the node connects
//! again, waiting 1 s, then twice as long each time up to 30 s, and subscribes again;
//! on shutdown it says goodbye (DISCONNECT) and stops. Every node given `--mqtt` takes
//! every message: give it to one node, or have sensors send an `alarm_id`, which makes a
//! second delivery a no-op.

use std::time::Duration;

use prometheus::{IntCounterVec, IntGauge, Opts};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS, SubscribeReasonCode};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{AlarmIn, Sensors};
use crate::error_kind::ErrorKind;

/// The topic the node subscribes to: `gridlink/sensors/{sensor id}/alarm`.
pub const TOPIC: &str = "gridlink/sensors/+/alarm";

/// The largest payload read; a larger one is dropped.
pub const MAX_PAYLOAD_BYTES: usize = 4 * 1024;

/// Messages waiting for their turn; past that, new ones are dropped (and counted).
const QUEUE: usize = 1024;

/// The first wait before connecting again, and the longest.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How long a goodbye to the broker, and the messages still queued, may take on shutdown.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What the node counts of its MQTT door (registered in the `/metrics` registry).
#[derive(Clone, Debug)]
pub struct Metrics {
    messages: IntCounterVec,
    subscribed: IntGauge,
}

impl Metrics {
    /// New counters, not yet registered.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let messages = IntCounterVec::new(
            Opts::new(
                "gridlink_mqtt_messages_total",
                "Sensor alarms received over MQTT: applied, or why they were dropped (malformed, \
                 topic, queue-full, or the error kind the server refused them with)",
            ),
            &["outcome"],
        )?;
        let subscribed =
            IntGauge::new("gridlink_mqtt_subscribed", "1 while the node's subscription to the sensors' topic stands")?;
        Ok(Metrics { messages, subscribed })
    }

    /// The collectors, for the registry.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![Box::new(self.messages.clone()), Box::new(self.subscribed.clone())]
    }

    fn count(&self, outcome: &str) {
        self.messages.with_label_values(&[outcome]).inc();
    }
}

/// The MQTT door of a node, ready to start.
#[derive(Debug)]
pub struct Listener {
    host: String,
    port: u16,
    sensors: Sensors,
    metrics: Metrics,
}

impl Listener {
    /// The door to the broker at `url` (`mqtt://host[:port]`, see
    /// [`crate::settings::mqtt_broker`]), handing alarms to `sensors`.
    pub fn new(url: &str, sensors: Sensors, metrics: Metrics) -> Result<Listener, String> {
        let (host, port) = crate::settings::mqtt_broker(url)?;
        Ok(Listener { host, port, sensors, metrics })
    }

    /// Connects and listens until stopped ([`Running::stop`]) or dropped.
    pub fn start(self) -> Running {
        let (stop, stopped) = watch::channel(false);
        Running { stop, task: Some(tokio::spawn(self.run(stopped))) }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let Listener { host, port, sensors, metrics } = self;
        let (queue, waiting) = mpsc::channel::<Publish>(QUEUE);
        let worker = tokio::spawn(work(sensors, metrics.clone(), waiting));
        let id = format!("gridlink-{}", uuid::Uuid::new_v4().simple());
        let mut options = MqttOptions::new(id, host.clone(), port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_clean_session(true);
        // Larger packets are refused by the client before they are read whole.
        options.set_max_packet_size(MAX_PAYLOAD_BYTES + 1024, 64 * 1024);
        let (client, mut events) = AsyncClient::new(options, 16);
        let mut backoff = BACKOFF_MIN;
        tracing::info!(%host, port, topic = TOPIC, "listening for sensors' alarms over MQTT");
        loop {
            let event = tokio::select! {
                _ = stopped.changed() => break,
                event = events.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = BACKOFF_MIN;
                    tracing::info!(%host, port, "connected to the MQTT broker");
                    if let Err(e) = client.try_subscribe(TOPIC, QoS::AtLeastOnce) {
                        tracing::error!(cause = %e, "cannot ask the MQTT broker for the sensors' topic");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack.return_codes.iter().all(|c| matches!(c, SubscribeReasonCode::Success(_))) {
                        metrics.subscribed.set(1);
                        tracing::info!(topic = TOPIC, "subscribed to the sensors' alarms");
                    } else {
                        tracing::error!(topic = TOPIC, "the MQTT broker refused the subscription");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(message))) => {
                    if queue.try_send(message).is_err() {
                        metrics.count("queue-full");
                        tracing::warn!("a sensor's alarm dropped: too many waiting");
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    metrics.subscribed.set(0);
                    tracing::warn!(%host, port, cause = %e, retry_in_s = backoff.as_secs(), "MQTT broker unreachable");
                    tokio::select! {
                        _ = stopped.changed() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        metrics.subscribed.set(0);
        goodbye(&client, &mut events).await;
        // What was received is still applied, for a moment; the rest is the broker's to resend.
        drop(queue);
        let mut worker = std::pin::pin!(worker);
        if tokio::time::timeout(STOP_GRACE, &mut worker).await.is_err() {
            worker.abort();
        }
        tracing::info!("stopped listening for sensors' alarms over MQTT");
    }
}

/// Tells the broker the node is going, if it is connected.
async fn goodbye(client: &AsyncClient, events: &mut EventLoop) {
    if client.try_disconnect().is_err() {
        return;
    }
    let sent = async {
        loop {
            match events.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(STOP_GRACE, sent).await;
}

/// A running MQTT door: aborted when dropped.
#[derive(Debug)]
pub struct Running {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Says goodbye to the broker, applies what was already received (briefly), and stops.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The sensor a topic names: `gridlink/sensors/{id}/alarm`.
pub fn sensor_of(topic: &str) -> Option<&str> {
    match topic.split('/').collect::<Vec<_>>().as_slice() {
        ["gridlink", "sensors", id, "alarm"] if !id.is_empty() => Some(id),
        _ => None,
    }
}

/// An MQTT payload: the sensor's key and its alarm, or why it cannot be read.
pub fn read_payload(payload: &[u8]) -> Result<(String, AlarmIn), String> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(format!("the payload is larger than {MAX_PAYLOAD_BYTES} bytes"));
    }
    let mut value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let Some(fields) = value.as_object_mut() else { return Err("not a JSON object".into()) };
    let key = match fields.remove("key") {
        Some(Value::String(key)) => key,
        Some(_) => return Err("\"key\" is not a string".into()),
        None => return Err("no \"key\": the sensor's key rides in the payload".into()),
    };
    crate::body::check_texts(&value).map_err(|e| e.to_string())?;
    let alarm: AlarmIn = serde_json::from_value(value).map_err(|e| format!("not an alarm: {e}"))?;
    Ok((key, alarm))
}

/// Applies the messages one at a time, in the order received.
async fn work(sensors: Sensors, metrics: Metrics, mut waiting: mpsc::Receiver<Publish>) {
    while let Some(message) = waiting.recv().await {
        let Some(sensor) = sensor_of(&message.topic).map(str::to_owned) else {
            metrics.count("topic");
            tracing::warn!(topic = %message.topic, "a message dropped: its topic names no sensor");
            continue;
        };
        let (key, alarm) = match read_payload(&message.payload) {
            Ok(read) => read,
            Err(why) => {
                metrics.count("malformed");
                tracing::warn!(%sensor, %why, "a sensor's alarm dropped: malformed");
                continue;
            }
        };
        let sensors = sensors.clone();
        let id = sensor.clone();
        match tokio::task::spawn_blocking(move || sensors.receive(&id, Some(&key), alarm)).await {
            Ok(Ok(received)) => {
                metrics.count("applied");
                tracing::debug!(%sensor, opened = received.opened, "a sensor's alarm applied (MQTT)");
            }
            Ok(Err(refused)) => {
                let kind = refused.kind();
                metrics.count(kind.slug());
                if kind == ErrorKind::Internal {
                    tracing::error!(%sensor, cause = %crate::problem::Chain(&refused), "a sensor's alarm failed (MQTT)");
                } else {
                    tracing::warn!(%sensor, %kind, detail = %refused, "a sensor's alarm refused (MQTT)");
                }
            }
            Err(e) => {
                metrics.count(ErrorKind::Internal.slug());
                tracing::error!(%sensor, cause = %e, "a sensor's alarm failed (MQTT)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_topic_names_its_sensor() {
        assert_eq!(sensor_of("gridlink/sensors/abc/alarm"), Some("abc"));
        for other in
            ["gridlink/sensors//alarm", "gridlink/sensors/abc", "gridlink/sensors/a/b/alarm", "x/sensors/a/alarm"]
        {
            assert_eq!(sensor_of(other), None, "{other}");
        }
    }

    #[test]
    fn a_payload_carries_the_key_beside_the_alarm() {
        let (key, alarm) = read_payload(br#"{"key": "k1", "state": "raised", "value": 2.5}"#).unwrap();
        assert_eq!((key.as_str(), alarm.value), ("k1", Some(2.5)));
        for bad in [
            &b"not json"[..],
            br#"["key"]"#,
            br#"{"state": "raised"}"#,
            br#"{"key": 1, "state": "raised"}"#,
            br#"{"key": "k", "state": "burning"}"#,
            br#"{"key": "k", "state": "raised", "extra": 1}"#,
        ] {
            assert!(read_payload(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(read_payload(&vec![b' '; MAX_PAYLOAD_BYTES + 1]).is_err());
    }
}
