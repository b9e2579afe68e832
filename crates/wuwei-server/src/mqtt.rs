//! Device intake over MQTT: the client that subscribes to `wuwei/+/devices/+/events`, and
//! [`handle_message`], which takes one message through the domain's pipeline
//! (`wuwei_domain::intake::mqtt`) and acts on it. Tests call `handle_message` directly, without
//! a broker.
//!
//! Authentication is per device, by HMAC-SHA256 over `topic + "\n" + body` with the device's
//! own secret (see the `intake` module docs): the broker is not trusted, and its credentials
//! (`mqtt_username`/`mqtt_password`) only keep strangers off it.
//!
//! Nothing stops the intake: a dropped message is counted in `/metrics` and kept in the
//! dead-letter list; a failing store write is logged and the next message is taken; a lost
//! broker is reconnected with exponential backoff (1 s doubling to 60 s). Between the network
//! and the handler sits a bounded queue ([`QUEUE_LEN`]): when the handler falls behind, the
//! client stops reading and the broker holds the messages.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;
use wuwei_domain::intake::device::{DeviceKind, DeviceTopic};
use wuwei_domain::intake::mqtt::{
    self as intake, CallOrigin, DeadLetter, DropReason, Dropped, IntakeAction, KnownDevice, Lookup,
};
use wuwei_domain::intake::secret::IntakeSecret;
use wuwei_store::cases::CasePlace;
use wuwei_store::devices::{self, DeviceRow};
use wuwei_store::{StoreError, households, regions};

use crate::alarms::{self, Incoming};
use crate::calls::{self, CallError, CallSite, Caller, Pressed};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The subscription: every town's devices (a topic naming a town we do not serve is dropped as
/// `wrong_town`, so towns added later need no resubscription).
pub const TOPIC_FILTER: &str = "wuwei/+/devices/+/events";
/// Messages read from the broker but not yet handled.
pub const QUEUE_LEN: usize = 256;
/// The largest MQTT packet the client reads. Payloads above `intake::mqtt::MAX_PAYLOAD_BYTES`
/// but below this are dropped as `oversized` (and dead-lettered); a packet above it makes the
/// client drop the connection and reconnect.
pub const MAX_PACKET_BYTES: usize = 64 * 1024;
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How often the offline sweep looks for devices past their `next_check_at`.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Devices flipped per sweep pass at most; the rest wait for the next pass.
pub const SWEEP_BATCH: u64 = 500;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A press opened a one-click case.
    CaseCreated {
        case_id: Uuid,
    },
    /// A press within the fold window was counted on the household's open call.
    Folded {
        case_id: Uuid,
    },
    Heartbeat,
    /// An authenticated alarm from a sensor: recorded as a sign of life only.
    AlarmNotHandled,
    /// A camera's alarm, recorded and disposed of (a case, a fold, or the review queue).
    Alarm {
        alarm_id: Uuid,
        case_id: Option<Uuid>,
    },
    /// Dropped: counted and dead-lettered.
    Dropped(DropReason),
    /// Our side failed (the database): logged; the device may send again with a new `seq`.
    Failed,
}

/// Take one message through the pipeline and act on it. Never panics and never returns an
/// error: whatever happens is an [`Outcome`].
pub async fn handle_message(state: &AppState, topic: &str, payload: &[u8]) -> Outcome {
    let now = state.now();
    match try_handle(state, topic, payload, now).await {
        Ok(Handled::Done(outcome)) => {
            if let Some(label) = accepted_label(&outcome) {
                state.0.metrics.count_device_message("accepted", label);
            }
            outcome
        }
        Ok(Handled::Drop { town_id, device_code, dropped }) => {
            record_drop(state, town_id, device_code.as_deref(), topic, payload, &dropped, now).await
        }
        Err(e) => {
            tracing::error!(topic = %truncate(topic, 256), error = ?e, "device message not handled");
            Outcome::Failed
        }
    }
}

fn accepted_label(o: &Outcome) -> Option<&'static str> {
    match o {
        Outcome::CaseCreated { .. } | Outcome::Folded { .. } => Some("press"),
        Outcome::Heartbeat => Some("heartbeat"),
        Outcome::AlarmNotHandled | Outcome::Alarm { .. } => Some("alarm"),
        Outcome::Dropped(_) | Outcome::Failed => None,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

enum Handled {
    Done(Outcome),
    Drop { town_id: Option<Uuid>, device_code: Option<String>, dropped: Dropped },
}

async fn try_handle(state: &AppState, topic: &str, payload: &[u8], now: DateTime<Utc>) -> ApiResult<Handled> {
    let inbound = match intake::open(topic, payload) {
        Ok(i) => i,
        Err(dropped) => {
            // Junk on a well-formed topic still belongs to that town's list, so its
            // administrator sees their device sending it.
            let (town_id, device_code) = match DeviceTopic::parse(topic) {
                Ok(t) => (
                    regions::town_by_short_code(state.store().db(), &t.town_code).await?.map(|r| r.id),
                    Some(t.device_id),
                ),
                Err(_) => (None, None),
            };
            return Ok(Handled::Drop { town_id, device_code, dropped });
        }
    };
    let db = state.store().db();
    let device_code = inbound.topic.device_id.clone();
    let Some(town) = regions::town_by_short_code(db, &inbound.topic.town_code).await? else {
        let dropped = inbound
            .authenticate(Lookup::NoSuchTown, now)
            .err()
            .unwrap_or(Dropped::WrongTown { town_code: inbound.topic.town_code.clone() });
        return Ok(Handled::Drop { town_id: None, device_code: Some(device_code), dropped });
    };
    let drop =
        |dropped: Dropped| Handled::Drop { town_id: Some(town.id), device_code: Some(device_code.clone()), dropped };
    let Some(device) = devices::device_by_code(db, town.id, &device_code).await? else {
        let dropped = inbound
            .authenticate(Lookup::NoSuchDevice, now)
            .err()
            .unwrap_or(Dropped::UnknownDevice { device_id: device_code.clone() });
        return Ok(drop(dropped));
    };
    let (Ok(secret), Some(kind)) = (IntakeSecret::parse_hex(&device.secret), device.kind()) else {
        tracing::error!(device = %device.id, "stored device secret or kind is unreadable");
        return Err(ApiError::internal());
    };
    let known = KnownDevice {
        kind,
        secret: &secret,
        enabled: !device.disabled,
        binding: device.binding(),
        last_seq: device.last_seq.and_then(|s| u64::try_from(s).ok()),
    };
    let accepted = match inbound.authenticate(Lookup::Found(known), now) {
        Ok(a) => a,
        Err(dropped) => return Ok(drop(dropped)),
    };
    let Ok(seq) = i64::try_from(accepted.seq) else {
        return Ok(drop(Dropped::Malformed { field: "seq", problem: "above 2^63 - 1".into() }));
    };
    let replay = || Dropped::Replay { seq: accepted.seq, last_seq: known.last_seq.unwrap_or(accepted.seq) };
    match accepted.action {
        IntakeAction::Heartbeat(h) => {
            let tx = state.store().begin_unaudited().await?;
            if !devices::accept_event(&tx, &device, seq, Some(&h), now).await? {
                return Ok(drop(replay()));
            }
            tx.commit(now).await?;
            Ok(Handled::Done(Outcome::Heartbeat))
        }
        IntakeAction::Alarm { alarm_type, confidence, occurred_at, .. } => {
            // A camera device's id is its camera's code (in the same town); other devices'
            // alarms (sensors) are signs of life only.
            let camera = match kind {
                DeviceKind::Camera => {
                    match wuwei_store::cameras::camera_by_code(db, &device.code).await?.filter(|c| c.town_id == town.id)
                    {
                        Some(c) => Some(c),
                        None => return Ok(drop(Dropped::Unbound)),
                    }
                }
                _ => None,
            };
            let tx = state.store().begin_unaudited().await?;
            if !devices::accept_event(&tx, &device, seq, None, now).await? {
                return Ok(drop(replay()));
            }
            tx.commit(now).await?;
            let Some(cam) = camera else {
                tracing::info!(device = %device.code, alarm = %alarm_type.as_str(), "sensor alarm received (a sign of life)");
                return Ok(Handled::Done(Outcome::AlarmNotHandled));
            };
            // The seq is recorded first: a failure below loses this alarm (logged), never
            // accepts a replay of it.
            let received = alarms::receive(
                state,
                &cam,
                Incoming {
                    alarm_type,
                    confidence: confidence.get(),
                    occurred_at,
                    event_id: None,
                    via: "mqtt",
                    snapshot: None,
                },
                now,
            )
            .await?;
            Ok(Handled::Done(Outcome::Alarm { alarm_id: received.alarm.id, case_id: received.alarm.case_id }))
        }
        IntakeAction::OneClickCall { origin } => {
            let Some(site) = call_site(state, &device, origin).await? else {
                return Ok(drop(Dropped::Unbound));
            };
            // A racing first press of the same household on PostgreSQL fails on the call row's
            // key; the second attempt then folds into the first's case.
            let mut attempt = 0;
            loop {
                attempt += 1;
                match calls::press(state, &town, &site, Caller::Device { device: &device, seq }, now).await {
                    Ok(Pressed::Created(row)) => return Ok(Handled::Done(Outcome::CaseCreated { case_id: row.id })),
                    Ok(Pressed::Folded { case, .. }) => return Ok(Handled::Done(Outcome::Folded { case_id: case.id })),
                    Ok(Pressed::SeqTaken) => return Ok(drop(replay())),
                    Err(CallError::Api(e)) => return Err(e),
                    Err(CallError::Store(StoreError::Duplicate(_))) if attempt < 2 => continue,
                    Err(CallError::Store(e)) => return Err(e.into()),
                }
            }
        }
    }
}

/// Count a drop, keep it in the dead-letter list, log it (at debug: junk can arrive in floods).
async fn record_drop(
    state: &AppState,
    town_id: Option<Uuid>,
    device_code: Option<&str>,
    topic: &str,
    payload: &[u8],
    dropped: &Dropped,
    now: DateTime<Utc>,
) -> Outcome {
    let reason = dropped.reason();
    state.0.metrics.count_device_message("dropped", reason.as_str());
    tracing::debug!(topic = %truncate(topic, 256), %reason, detail = %dropped, "device message dropped");
    let letter = DeadLetter::new(topic, payload, dropped, now);
    let kept = async {
        let tx = state.store().begin_unaudited().await?;
        devices::insert_dead_letter(&tx, town_id, device_code, &letter).await?;
        tx.commit(now).await
    }
    .await;
    if let Err(e) = kept {
        tracing::warn!(error = %e, %reason, "cannot keep a dead letter");
    }
    Outcome::Dropped(reason)
}

/// Where a press from `device` is for: its household, or the place it is bound to.
async fn call_site(state: &AppState, device: &DeviceRow, origin: CallOrigin) -> ApiResult<Option<CallSite>> {
    match origin {
        CallOrigin::Household(hid) => Ok(households::household(state.store().db(), hid)
            .await?
            .filter(|h| h.town_id == device.town_id)
            .map(|h| CallSite::of_household(&h))),
        CallOrigin::Place(id) => Ok(Some(CallSite {
            origin_id: id,
            household_id: None,
            place: CasePlace {
                area_id: device.area_id,
                admin_village_id: device.admin_village_id,
                natural_village_id: device.natural_village_id,
                grid_id: device.grid_id,
            },
            lat: device.lat,
            lon: device.lon,
            address: device.address.clone(),
            who: None,
            phone: None,
        })),
    }
}

// ---- the offline sweep ----

/// Flag offline the devices silent for three heartbeat intervals; returns how many flipped.
pub async fn sweep_offline(state: &AppState) -> ApiResult<usize> {
    let now = state.now();
    let tx = state.store().begin_unaudited().await?;
    let flipped = devices::sweep_offline(&tx, now, SWEEP_BATCH).await?;
    tx.commit(now).await?;
    for d in &flipped {
        tracing::info!(device = %d.code, town = %d.town_id, "device offline: three heartbeats missed");
    }
    Ok(flipped.len())
}

// ---- the client ----

/// Start the device tasks of a server: the offline sweep (with `background_jobs`) and, when
/// `mqtt_url` is set, the MQTT client. The caller aborts them at shutdown.
pub fn spawn(state: &AppState) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if state.config().background_jobs {
        let s = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = sweep_offline(&s).await {
                    tracing::warn!(error = ?e, "device offline sweep failed; will retry");
                }
            }
        }));
    }
    if let Some(url) = state.config().mqtt_url.clone().filter(|u| !u.trim().is_empty()) {
        match broker_address(&url) {
            Some((host, port)) => tasks.push(tokio::spawn(run(state.clone(), host, port))),
            None => tracing::error!(url = %url, "mqtt_url is not mqtt://HOST:PORT; running without MQTT"),
        }
    }
    tasks
}

/// `mqtt://host[:port]` or `tcp://host[:port]` (default port 1883). TLS is not offered:
/// messages are signed end to end, and a TLS-terminating proxy can sit in front of the broker.
pub fn broker_address(url: &str) -> Option<(String, u16)> {
    let rest = url.trim().strip_prefix("mqtt://").or_else(|| url.trim().strip_prefix("tcp://"))?;
    let hostport = rest.trim_end_matches('/');
    if hostport.is_empty() || hostport.contains(['/', '@', '?', '#']) {
        return None;
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Some((host.trim_matches(['[', ']']).to_string(), port.parse().ok()?)),
        Some(_) => None,
        None => Some((hostport.to_string(), 1883)),
    }
}

/// Connect, subscribe, hand messages to the handler through a bounded queue; reconnect with
/// backoff whenever the connection fails. Ends only when the server shuts down.
async fn run(state: AppState, host: String, port: u16) {
    let (queue, mut inbox) = mpsc::channel::<(String, Vec<u8>)>(QUEUE_LEN);
    let worker_state = state.clone();
    let worker = tokio::spawn(async move {
        while let Some((topic, payload)) = inbox.recv().await {
            handle_message(&worker_state, &topic, &payload).await;
        }
    });
    let client_id = format!("wuwei-{}", truncate(&state.0.instance_id, 40));
    let mut options = MqttOptions::new(client_id, host.clone(), port);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_session(true);
    options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    if let Some(user) = &state.config().mqtt_username {
        let password = state.config().mqtt_password.as_ref().map(|p| p.expose().clone()).unwrap_or_default();
        options.set_credentials(user.clone(), password);
    }
    let (client, mut events) = AsyncClient::new(options, 16);
    let mut shutdown = state.0.shutdown.subscribe();
    let mut backoff = BACKOFF_MIN;
    tracing::info!(%host, port, "MQTT intake starting");
    loop {
        let event = tokio::select! {
            _ = shutdown.changed() => break,
            e = events.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = BACKOFF_MIN;
                // A clean session forgets subscriptions: subscribe on every connection.
                match client.try_subscribe(TOPIC_FILTER, QoS::AtLeastOnce) {
                    Ok(()) => tracing::info!(%host, port, topic = TOPIC_FILTER, "MQTT intake connected"),
                    Err(e) => tracing::error!(error = %e, "MQTT subscribe failed"),
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                // Waits when the handler is behind: the broker keeps the rest meanwhile.
                if queue.send((p.topic, p.payload.to_vec())).await.is_err() {
                    tracing::error!("MQTT handler stopped; intake ends");
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = backoff.as_secs(), "MQTT connection lost; reconnecting");
                tokio::select! {
                    _ = shutdown.changed() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    drop(queue);
    let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses() {
        assert_eq!(broker_address("mqtt://127.0.0.1:1883"), Some(("127.0.0.1".into(), 1883)));
        assert_eq!(broker_address("tcp://broker"), Some(("broker".into(), 1883)));
        assert_eq!(broker_address("mqtt://[::1]:1884/"), Some(("::1".into(), 1884)));
        assert_eq!(broker_address("http://x:1"), None);
        assert_eq!(broker_address("mqtt://u:p@x:1"), None);
        assert_eq!(broker_address("mqtt://x:port"), None);
        assert_eq!(broker_address("mqtt://"), None);
    }
}
