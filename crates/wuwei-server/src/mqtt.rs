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
//! and the handler sits a queue bounded in messages and bytes ([`QUEUE_LEN`], [`QUEUE_BYTES`]):
//! a flood waits there while the handler takes it in runs ([`handle_batch`]); only when the
//! queue is full does the client stop reading and the broker hold the messages.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
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
/// Messages read from the broker but not yet handled, at most. The client reads (and, at QoS 1,
/// acknowledges) as fast as the broker sends, so a flood waits here and not at the broker:
/// Mosquitto by default holds only 20 unacknowledged and 1,000 queued messages per client and
/// drops the rest (`max_inflight_messages`, `max_queued_messages`), which lost a fifth of a
/// 2,000-a-second flood when this queue was 256 long.
pub const QUEUE_LEN: usize = 50_000;
/// Payload bytes waiting in the queue, at most: with [`QUEUE_LEN`] the memory bound of a flood
/// (when it is reached the client stops reading and the broker's limits apply again).
pub const QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// Messages the handler takes off the queue at once at most (see [`handle_batch`]).
pub const BATCH_MAX: usize = 128;
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

// ---- runs of messages ----

/// Take a run of messages in order, with the outcomes [`handle_message`] would give them one by
/// one. Camera alarms — what arrives in floods — share one transaction: consecutive ones are
/// authenticated against the device rows as this run leaves them, disposed of by the same
/// rule as one by one (cases opened and audit entries as before), and written together: the
/// alarms several rows per statement, each device's last `seq` and each burst once, one
/// commit — what lets the intake keep up with a flood (see docs/benchmarks.md). Any other message (a press, a
/// heartbeat, anything dropped) commits the alarms before it and is then handled on its own. If
/// the shared transaction fails, it rolls back whole — no `seq` of it is recorded — and its
/// messages are handled again one by one, so one bad write costs only itself.
pub async fn handle_batch(state: &AppState, messages: &[(String, Vec<u8>)]) -> Vec<Outcome> {
    let now = state.now();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; messages.len()];
    let mut known = Known::default();
    let mut run: Option<Run> = None;
    for (i, (topic, payload)) in messages.iter().enumerate() {
        let alarm = match known.camera_alarm(state, topic, payload, now).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = ?e, "reading a device message's device failed; handled on its own");
                None
            }
        };
        let Some(alarm) = alarm else {
            if let Some(r) = run.take() {
                r.commit(state, messages, &mut outcomes, now).await;
            }
            // Handled alone, it may change its device's row: read the devices afresh.
            known.devices.clear();
            outcomes[i] = Some(handle_message(state, topic, payload).await);
            continue;
        };
        if run.is_none() {
            match state.store().begin().await {
                Ok(tx) => {
                    run = Some(Run { tx, batch: alarms::Batch::default(), seqs: BTreeMap::new(), done: Vec::new() })
                }
                Err(e) => {
                    tracing::error!(error = ?e, "cannot begin a transaction for device messages");
                    known.devices.clear();
                    outcomes[i] = Some(handle_message(state, topic, payload).await);
                    continue;
                }
            }
        }
        let Some(r) = run.as_mut() else { continue };
        match r.add(state, &alarm, now).await {
            Ok(outcome) => {
                known.accepted(&alarm);
                r.done.push((i, outcome));
            }
            Err(e) => {
                tracing::warn!(error = ?e, "a run of camera alarms failed; handling them one by one");
                let failed = run.take().map(|r| r.done.into_iter().map(|(j, _)| j).collect::<Vec<_>>());
                known.devices.clear();
                for j in failed.unwrap_or_default().into_iter().chain([i]) {
                    let (t, p) = &messages[j];
                    outcomes[j] = Some(handle_message(state, t, p).await);
                }
            }
        }
    }
    if let Some(r) = run.take() {
        r.commit(state, messages, &mut outcomes, now).await;
    }
    outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Failed)).collect()
}

/// A camera alarm that passed every check: what [`Run::add`] needs.
struct CameraAlarm {
    town_id: Uuid,
    device: DeviceRow,
    camera: wuwei_store::cameras::CameraRow,
    seq: i64,
    /// The device's `last_seq` this message was checked against.
    first_checked_seq: Option<i64>,
    incoming: Incoming,
}

/// The towns, devices and cameras a run has read.
#[derive(Default)]
struct Known {
    towns: HashMap<String, Option<regions::RegionRow>>,
    devices: HashMap<(Uuid, String), Option<DeviceRow>>,
    cameras: HashMap<String, Option<wuwei_store::cameras::CameraRow>>,
}

impl Known {
    /// The message as a camera alarm that passes every check, or `None` for anything else
    /// (which [`handle_message`] then handles, drops included).
    async fn camera_alarm(
        &mut self,
        state: &AppState,
        topic: &str,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> ApiResult<Option<CameraAlarm>> {
        let Ok(inbound) = intake::open(topic, payload) else { return Ok(None) };
        let db = state.store().db();
        let town_code = inbound.topic.town_code.clone();
        let town = match self.towns.get(&town_code) {
            Some(t) => t.clone(),
            None => {
                let t = regions::town_by_short_code(db, &town_code).await?;
                self.towns.insert(town_code, t.clone());
                t
            }
        };
        let Some(town) = town else { return Ok(None) };
        let key = (town.id, inbound.topic.device_id.clone());
        let device = match self.devices.get(&key) {
            Some(d) => d.clone(),
            None => {
                let d = devices::device_by_code(db, town.id, &key.1).await?;
                self.devices.insert(key, d.clone());
                d
            }
        };
        let Some(device) = device else { return Ok(None) };
        let (Ok(secret), Some(DeviceKind::Camera)) = (IntakeSecret::parse_hex(&device.secret), device.kind()) else {
            return Ok(None);
        };
        let last_seq = device.last_seq.and_then(|s| u64::try_from(s).ok());
        let known = KnownDevice {
            kind: DeviceKind::Camera,
            secret: &secret,
            enabled: !device.disabled,
            binding: device.binding(),
            last_seq,
        };
        let Ok(accepted) = inbound.authenticate(Lookup::Found(known), now) else { return Ok(None) };
        let (Ok(seq), IntakeAction::Alarm { alarm_type, confidence, occurred_at, .. }) =
            (i64::try_from(accepted.seq), accepted.action)
        else {
            return Ok(None);
        };
        let camera = match self.cameras.get(&device.code) {
            Some(c) => c.clone(),
            None => {
                let c = wuwei_store::cameras::camera_by_code(db, &device.code).await?;
                self.cameras.insert(device.code.clone(), c.clone());
                c
            }
        };
        let Some(camera) = camera.filter(|c| c.town_id == town.id) else { return Ok(None) };
        Ok(Some(CameraAlarm {
            town_id: town.id,
            first_checked_seq: device.last_seq,
            device,
            camera,
            seq,
            incoming: Incoming {
                alarm_type,
                confidence: confidence.get(),
                occurred_at,
                event_id: None,
                via: "mqtt",
                snapshot: None,
            },
        }))
    }

    /// The run recorded `a.seq` on its device.
    fn accepted(&mut self, a: &CameraAlarm) {
        if let Some(Some(d)) = self.devices.get_mut(&(a.town_id, a.device.code.clone())) {
            d.last_seq = Some(a.seq);
        }
    }
}

/// Camera alarms in one open transaction.
struct Run {
    tx: wuwei_store::Tx,
    batch: alarms::Batch,
    /// Per device: its row, the `last_seq` its first message of the run was checked against,
    /// and the run's last `seq`, written once at the commit ([`devices::accept_run`]).
    seqs: BTreeMap<Uuid, (DeviceRow, Option<i64>, i64)>,
    /// Each message's index and what became of it, told once the run is committed.
    done: Vec<(usize, Outcome)>,
}

impl Run {
    /// Record the alarm in the run's transaction and `a`'s `seq` for the commit. The run's
    /// messages of a device were checked in order against the `seq` the run leaves it at
    /// ([`Known::accepted`]), so a replay inside the run never gets here.
    async fn add(&mut self, state: &AppState, a: &CameraAlarm, now: DateTime<Utc>) -> ApiResult<Outcome> {
        let d = self.batch.dispose(state, &mut self.tx, &a.camera, &a.incoming, now).await?;
        self.seqs
            .entry(a.device.id)
            .and_modify(|(_, _, last)| *last = (*last).max(a.seq))
            .or_insert_with(|| (a.device.clone(), a.first_checked_seq, a.seq));
        Ok(Outcome::Alarm { alarm_id: d.alarm.id, case_id: d.alarm.case_id })
    }

    /// Commit the run and tell its outcomes; if the commit fails, handle its messages again
    /// one by one.
    async fn commit(
        self,
        state: &AppState,
        messages: &[(String, Vec<u8>)],
        outcomes: &mut [Option<Outcome>],
        now: DateTime<Utc>,
    ) {
        let Run { tx, mut batch, seqs, done } = self;
        let committed: ApiResult<()> = async {
            for (device, expected, last) in seqs.values() {
                if !devices::accept_run(&tx, device, *expected, *last, now).await? {
                    // Another server took some of these messages meanwhile: roll back, and
                    // the messages one by one make it plain which were replays.
                    return Err(ApiError::internal().with_detail("a device's seq moved during a run of its alarms"));
                }
            }
            batch.finish(&tx).await?;
            tx.commit(now).await?;
            Ok(())
        }
        .await;
        if let Err(e) = committed {
            tracing::warn!(error = ?e, "a run of camera alarms did not commit; handling them one by one");
            for (i, _) in done {
                let (topic, payload) = &messages[i];
                outcomes[i] = Some(handle_message(state, topic, payload).await);
            }
            return;
        }
        batch.published(state);
        for (i, outcome) in done {
            state.0.metrics.count_device_message("accepted", "alarm");
            outcomes[i] = Some(outcome);
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

/// A message in the queue with its share of [`QUEUE_BYTES`], given back once it is handled.
type Queued = (String, Vec<u8>, OwnedSemaphorePermit);

/// Connect, subscribe, hand messages to the handler through a bounded queue; reconnect with
/// backoff whenever the connection fails. Ends only when the server shuts down.
async fn run(state: AppState, host: String, port: u16) {
    let (queue, mut inbox) = mpsc::channel::<Queued>(QUEUE_LEN);
    let bytes = Arc::new(Semaphore::new(QUEUE_BYTES));
    let worker_state = state.clone();
    let worker = tokio::spawn(async move {
        let mut taken = Vec::with_capacity(BATCH_MAX);
        let mut batch = Vec::with_capacity(BATCH_MAX);
        // Whatever is queued when the handler is free, up to BATCH_MAX: one message when they
        // trickle in, larger runs when a flood has queued up.
        while inbox.recv_many(&mut taken, BATCH_MAX).await > 0 {
            let mut permits = Vec::with_capacity(taken.len());
            for (topic, payload, permit) in taken.drain(..) {
                batch.push((topic, payload));
                permits.push(permit);
            }
            handle_batch(&worker_state, &batch).await;
            batch.clear();
            drop(permits);
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
                // Waits only when the queue is full (in messages or bytes): the broker keeps
                // the rest meanwhile, up to its own limits.
                let size = u32::try_from((p.topic.len() + p.payload.len()).clamp(1, QUEUE_BYTES)).unwrap_or(u32::MAX);
                let Ok(permit) = bytes.clone().acquire_many_owned(size).await else { break };
                if queue.send((p.topic, p.payload.to_vec(), permit)).await.is_err() {
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
