//! Messages from devices over MQTT: the signed envelope, the event inside it, and every reason
//! a message is dropped. The broker is not trusted, so nothing a message says is believed before
//! its signature is checked against the secret of the device its topic names.
//!
//! The pipeline, in order (each step's failure is a [`Dropped`] naming its [`DropReason`]):
//!
//! 1. [`open`]: the payload's size (`oversized`), the topic (`bad_topic`), the envelope's shape
//!    (`malformed`). Nothing is looked up yet, so junk costs no database work.
//! 2. The server looks up the topic's town and device and hands the result to
//!    [`Inbound::authenticate`] as a [`Lookup`]: `wrong_town`, `unknown_device`, `disabled`.
//! 3. The signature over topic and body with that device's secret (`bad_signature`).
//! 4. The event inside the body, parsed strictly (`malformed`), and whether this kind of device
//!    sends it (`unexpected_event`).
//! 5. Freshness: `seq` above the last accepted one (`replay`), `ts` within five minutes of now
//!    (`stale`); a press needs a household or place to call for (`unbound`).
//!
//! What is accepted becomes an [`IntakeAction`]; the store then records `seq` as the device's
//! last accepted one and `now` as its last-seen time (see `device::status_at`).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::alarm::{AlarmType, Confidence};
use super::device::{Binding, DeviceKind, DeviceTopic, EventType, TopicError};
use super::secret::{IntakeSecret, Tag, parse_hex32};

/// The largest payload we read. A press or a heartbeat is ~150 bytes and an alarm not much more;
/// snapshots do not travel over MQTT (they come with the webhook).
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// A message's `ts` may be this far from the server's clock either way: the device's clock may
/// be off a little, and anything older is a replay of a recording or a backlog not worth acting on.
pub const MAX_SKEW_SECS: i64 = 300;

named_enum!(
    /// Why a device message was dropped: the label of the drop counter in `/metrics` and of the
    /// dead-letter list.
    DropReason {
        Oversized => "oversized",
        BadTopic => "bad_topic",
        Malformed => "malformed",
        WrongTown => "wrong_town",
        UnknownDevice => "unknown_device",
        Disabled => "disabled",
        BadSignature => "bad_signature",
        Replay => "replay",
        Stale => "stale",
        UnexpectedEvent => "unexpected_event",
        Unbound => "unbound",
    }
);

/// A dropped message, with what the dead-letter list shows about it. Nothing here is answered
/// to anyone (MQTT has no reply): the message is counted, kept in the dead-letter list, and the
/// intake goes on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Dropped {
    #[error("payload of {len_bytes} bytes, more than {max_bytes}")]
    Oversized { len_bytes: usize, max_bytes: usize },
    #[error(transparent)]
    BadTopic(#[from] TopicError),
    /// Not the envelope, or not an event: `field` says where, `problem` what.
    #[error("malformed {field}: {problem}")]
    Malformed { field: &'static str, problem: String },
    /// The topic names a town this server does not serve.
    #[error("town {town_code} is not served here")]
    WrongTown { town_code: String },
    #[error("no device {device_id} in this town")]
    UnknownDevice { device_id: String },
    /// Registered, but switched off by an administrator (lost, stolen, replaced).
    #[error("device is disabled")]
    Disabled,
    /// Not signed with the device's secret: forged, corrupted, or signed over other bytes.
    #[error("signature does not match")]
    BadSignature,
    #[error("seq {seq} is not above the last accepted {last_seq}")]
    Replay { seq: u64, last_seq: u64 },
    #[error("ts is {skew_secs} s from the server's clock, more than {MAX_SKEW_SECS}")]
    Stale { skew_secs: i64 },
    #[error("a {kind} does not send {event}")]
    UnexpectedEvent { kind: DeviceKind, event: EventType },
    /// A press from a button bound to no household or place: nobody to call for.
    #[error("the device is not bound to a household or place")]
    Unbound,
}

impl Dropped {
    pub fn reason(&self) -> DropReason {
        match self {
            Dropped::Oversized { .. } => DropReason::Oversized,
            Dropped::BadTopic(_) => DropReason::BadTopic,
            Dropped::Malformed { .. } => DropReason::Malformed,
            Dropped::WrongTown { .. } => DropReason::WrongTown,
            Dropped::UnknownDevice { .. } => DropReason::UnknownDevice,
            Dropped::Disabled => DropReason::Disabled,
            Dropped::BadSignature => DropReason::BadSignature,
            Dropped::Replay { .. } => DropReason::Replay,
            Dropped::Stale { .. } => DropReason::Stale,
            Dropped::UnexpectedEvent { .. } => DropReason::UnexpectedEvent,
            Dropped::Unbound => DropReason::Unbound,
        }
    }
}

fn malformed(field: &'static str, problem: impl Into<String>) -> Dropped {
    Dropped::Malformed { field, problem: problem.into() }
}

// ---- the envelope ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    body: &'a RawValue,
    sig: &'a str,
}

/// A message whose shape is right but which nobody has vouched for yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound<'a> {
    pub topic: DeviceTopic,
    /// The exact text of the `body` value, as signed.
    body: &'a str,
    tag: Tag,
}

/// Step 1: size, topic and envelope. Cheap, and before any lookup.
pub fn open<'a>(topic: &str, payload: &'a [u8]) -> Result<Inbound<'a>, Dropped> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(Dropped::Oversized { len_bytes: payload.len(), max_bytes: MAX_PAYLOAD_BYTES });
    }
    let topic = DeviceTopic::parse(topic)?;
    let envelope: Envelope<'a> = serde_json::from_slice(payload).map_err(|e| malformed("payload", e.to_string()))?;
    let tag = parse_hex32(envelope.sig).ok_or_else(|| malformed("sig", "not 64 lowercase hex characters"))?;
    Ok(Inbound { topic, body: envelope.body.get(), tag })
}

/// The bytes a device signs: its topic, a newline, and the body's text. The topic is in it so
/// that a message cannot be moved to another device's topic, which matters if two devices were
/// ever given the same secret (a factory default left in place).
fn signed_parts<'b>(topic: &'b str, body: &'b str) -> [&'b [u8]; 3] {
    [topic.as_bytes(), b"\n", body.as_bytes()]
}

/// The payload a device publishes for the event `body` (a JSON object as text): the reference
/// signer, for tests, the demo's simulated buttons and the bench.
pub fn seal(secret: &IntakeSecret, topic: &DeviceTopic, body: &str) -> Option<String> {
    let topic = topic.to_string();
    let tag = secret.sign(&signed_parts(&topic, body))?;
    Some(format!("{{\"body\":{body},\"sig\":\"{}\"}}", hex::encode(tag)))
}

// ---- the event ----

/// What a device reported, once authenticated and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedEvent {
    /// When the device says it happened.
    pub ts: DateTime<Utc>,
    /// The device's counter: strictly increasing across everything it sends, kept across
    /// reboots (in flash, or a clock-derived value such as Unix milliseconds).
    pub seq: u64,
    pub event: DeviceEvent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DeviceEvent {
    Press,
    Heartbeat(Heartbeat),
    Alarm { alarm_type: AlarmType, confidence: Confidence },
}

impl DeviceEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            DeviceEvent::Press => EventType::Press,
            DeviceEvent::Heartbeat(_) => EventType::Heartbeat,
            DeviceEvent::Alarm { .. } => EventType::Alarm,
        }
    }
}

/// What a heartbeat may say about the device besides being alive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heartbeat {
    pub battery_pct: Option<u8>,
    pub rssi_dbm: Option<i16>,
    pub firmware: Option<String>,
}

pub const FIRMWARE_MAX: usize = 32;

/// Every field any event may carry; which ones a type allows is checked after.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(rename = "type")]
    event_type: String,
    ts: String,
    seq: u64,
    alarm_type: Option<String>,
    confidence: Option<f64>,
    battery_pct: Option<u8>,
    rssi_dbm: Option<i16>,
    firmware: Option<String>,
}

/// The event inside a body, strictly: the known fields of its type and nothing else.
///
/// ```json
/// {"type": "press", "ts": "2026-06-10T08:00:00Z", "seq": 17}
/// {"type": "heartbeat", "ts": "...", "seq": 18, "battery_pct": 80, "rssi_dbm": -71, "firmware": "1.4.2"}
/// {"type": "alarm", "ts": "...", "seq": 19, "alarm_type": "fire_smoke", "confidence": 0.92}
/// ```
pub fn parse_event(body: &str) -> Result<SignedEvent, Dropped> {
    let raw: RawEvent = serde_json::from_str(body).map_err(|e| malformed("body", e.to_string()))?;
    let event_type = EventType::parse(&raw.event_type)
        .ok_or_else(|| malformed("type", format!("unknown type {:?}", raw.event_type)))?;
    let ts = (raw.ts.len() <= 40)
        .then(|| DateTime::parse_from_rfc3339(&raw.ts).ok())
        .flatten()
        .ok_or_else(|| malformed("ts", "not an RFC 3339 time"))?
        .with_timezone(&Utc);
    let alarm_fields = raw.alarm_type.is_some() || raw.confidence.is_some();
    let heartbeat_fields = raw.battery_pct.is_some() || raw.rssi_dbm.is_some() || raw.firmware.is_some();
    let event = match event_type {
        EventType::Press => {
            if alarm_fields || heartbeat_fields {
                return Err(malformed("body", "a press carries only type, ts and seq"));
            }
            DeviceEvent::Press
        }
        EventType::Heartbeat => {
            if alarm_fields {
                return Err(malformed("body", "a heartbeat carries no alarm fields"));
            }
            if raw.battery_pct.is_some_and(|b| b > 100) {
                return Err(malformed("battery_pct", "above 100"));
            }
            if raw.rssi_dbm.is_some_and(|r| !(-150..=0).contains(&r)) {
                return Err(malformed("rssi_dbm", "outside -150..=0"));
            }
            if raw
                .firmware
                .as_ref()
                .is_some_and(|f| f.is_empty() || f.len() > FIRMWARE_MAX || !f.bytes().all(|b| b.is_ascii_graphic()))
            {
                return Err(malformed("firmware", "1-32 printable ASCII characters"));
            }
            DeviceEvent::Heartbeat(Heartbeat {
                battery_pct: raw.battery_pct,
                rssi_dbm: raw.rssi_dbm,
                firmware: raw.firmware,
            })
        }
        EventType::Alarm => {
            if heartbeat_fields {
                return Err(malformed("body", "an alarm carries no heartbeat fields"));
            }
            let name = raw.alarm_type.ok_or_else(|| malformed("alarm_type", "required"))?;
            let alarm_type =
                AlarmType::parse(&name).ok_or_else(|| malformed("alarm_type", format!("unknown {name:?}")))?;
            let confidence = raw.confidence.ok_or_else(|| malformed("confidence", "required"))?;
            let confidence =
                Confidence::parse("confidence", confidence).map_err(|_| malformed("confidence", "not from 0 to 1"))?;
            DeviceEvent::Alarm { alarm_type, confidence }
        }
    };
    Ok(SignedEvent { ts, seq: raw.seq, event })
}

// ---- authentication and what follows ----

/// What the register says about the device a topic names.
#[derive(Debug, Clone, Copy)]
pub struct KnownDevice<'a> {
    pub kind: DeviceKind,
    pub secret: &'a IntakeSecret,
    pub enabled: bool,
    pub binding: Binding,
    /// The highest `seq` accepted from it so far; `None` before its first message.
    pub last_seq: Option<u64>,
}

/// The server's lookup of a topic's town and device.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    NoSuchTown,
    NoSuchDevice,
    Found(KnownDevice<'a>),
}

/// Where a one-click call comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOrigin {
    Household(Uuid),
    Place(Uuid),
}

/// What an accepted message asks the server to do.
#[derive(Debug, Clone, PartialEq)]
pub enum IntakeAction {
    /// A press: the household's (or place's) one-click call; see `one_click::dispose_press`.
    OneClickCall { origin: CallOrigin },
    /// Nothing but "alive" (and what the heartbeat says about battery and signal).
    Heartbeat(Heartbeat),
    /// An alarm from a sensor or a camera; see `alarm::dispose`. The camera register is found
    /// by the device (a camera device's id is its camera code).
    Alarm { alarm_type: AlarmType, confidence: Confidence, occurred_at: DateTime<Utc>, binding: Binding },
}

/// An accepted message: the store records `seq` as the device's last (conditionally, `WHERE
/// last_seq IS NULL OR last_seq < seq`, so that two racing copies cannot both pass) and then acts.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub device_id: String,
    pub ts: DateTime<Utc>,
    pub seq: u64,
    pub action: IntakeAction,
}

impl Inbound<'_> {
    /// Steps 2–5: is this message from the device its topic names, fresh, and something that
    /// device does?
    pub fn authenticate(&self, lookup: Lookup<'_>, now: DateTime<Utc>) -> Result<Accepted, Dropped> {
        let device = match lookup {
            Lookup::NoSuchTown => return Err(Dropped::WrongTown { town_code: self.topic.town_code.clone() }),
            Lookup::NoSuchDevice => return Err(Dropped::UnknownDevice { device_id: self.topic.device_id.clone() }),
            Lookup::Found(d) => d,
        };
        if !device.enabled {
            return Err(Dropped::Disabled);
        }
        let topic = self.topic.to_string();
        if !device.secret.verify(&signed_parts(&topic, self.body), &self.tag) {
            return Err(Dropped::BadSignature);
        }
        let signed = parse_event(self.body)?;
        let event_type = signed.event.event_type();
        if !device.kind.sends(event_type) {
            return Err(Dropped::UnexpectedEvent { kind: device.kind, event: event_type });
        }
        if let Some(last_seq) = device.last_seq
            && signed.seq <= last_seq
        {
            return Err(Dropped::Replay { seq: signed.seq, last_seq });
        }
        let skew_secs = (now - signed.ts).num_seconds();
        if skew_secs.abs() > MAX_SKEW_SECS {
            return Err(Dropped::Stale { skew_secs });
        }
        let action = match signed.event {
            DeviceEvent::Press => match device.binding {
                Binding::Household(id) => IntakeAction::OneClickCall { origin: CallOrigin::Household(id) },
                Binding::Place(id) => IntakeAction::OneClickCall { origin: CallOrigin::Place(id) },
                Binding::Unbound => return Err(Dropped::Unbound),
            },
            DeviceEvent::Heartbeat(h) => IntakeAction::Heartbeat(h),
            DeviceEvent::Alarm { alarm_type, confidence } => {
                IntakeAction::Alarm { alarm_type, confidence, occurred_at: signed.ts, binding: device.binding }
            }
        };
        Ok(Accepted { device_id: self.topic.device_id.clone(), ts: signed.ts, seq: signed.seq, action })
    }
}

// ---- the dead-letter list ----

/// How much of a dropped payload the dead-letter list keeps: enough to see what was wrong, not
/// enough for a flood of junk to fill the database.
pub const DEAD_LETTER_PAYLOAD_MAX_BYTES: usize = 1024;
pub const DEAD_LETTER_TOPIC_MAX_BYTES: usize = 256;
pub const DEAD_LETTER_DETAIL_MAX_BYTES: usize = 512;

/// An entry of the dead-letter list an administrator reads. The store keeps a bounded number per
/// town (the newest), so a flood of junk cannot grow it without limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub received_at: DateTime<Utc>,
    pub topic: String,
    pub reason: DropReason,
    pub detail: String,
    /// The start of the payload as text (invalid UTF-8 shown as U+FFFD).
    pub payload_excerpt: String,
    pub payload_len_bytes: usize,
}

fn excerpt(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

impl DeadLetter {
    pub fn new(topic: &str, payload: &[u8], dropped: &Dropped, received_at: DateTime<Utc>) -> DeadLetter {
        DeadLetter {
            received_at,
            topic: excerpt(topic.as_bytes(), DEAD_LETTER_TOPIC_MAX_BYTES),
            reason: dropped.reason(),
            detail: excerpt(dropped.to_string().as_bytes(), DEAD_LETTER_DETAIL_MAX_BYTES),
            payload_excerpt: excerpt(payload, DEAD_LETTER_PAYLOAD_MAX_BYTES),
            payload_len_bytes: payload.len(),
        }
    }
}

/// The whole pipeline for one message, for callers that have the lookup at hand (tests, the
/// bench): `open`, then `authenticate`.
pub fn receive<'s>(
    topic: &str,
    payload: &[u8],
    lookup: impl FnOnce(&DeviceTopic) -> Lookup<'s>,
    now: DateTime<Utc>,
) -> Result<Accepted, Dropped> {
    let inbound = open(topic, payload)?;
    let found = lookup(&inbound.topic);
    inbound.authenticate(found, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 10, 8, 0, 0).unwrap()
    }

    fn secret() -> IntakeSecret {
        IntakeSecret::from_random([0x42; 32])
    }

    const TOPIC: &str = "wuwei/DW/devices/btn-0001/events";
    const HOUSEHOLD: Uuid = Uuid::from_u128(77);

    fn topic() -> DeviceTopic {
        DeviceTopic::parse(TOPIC).unwrap()
    }

    fn button(secret: &IntakeSecret, last_seq: Option<u64>) -> KnownDevice<'_> {
        KnownDevice {
            kind: DeviceKind::CallButton,
            secret,
            enabled: true,
            binding: Binding::Household(HOUSEHOLD),
            last_seq,
        }
    }

    fn press(seq: u64) -> String {
        format!(r#"{{"type":"press","ts":"2026-06-10T08:00:00Z","seq":{seq}}}"#)
    }

    fn run(payload: &str, device: KnownDevice<'_>) -> Result<Accepted, Dropped> {
        receive(TOPIC, payload.as_bytes(), |_| Lookup::Found(device), now())
    }

    #[test]
    fn a_signed_press_is_a_one_click_call() {
        let s = secret();
        let payload = seal(&s, &topic(), &press(5)).unwrap();
        let a = run(&payload, button(&s, Some(4))).unwrap();
        assert_eq!(a.seq, 5);
        assert_eq!(a.device_id, "btn-0001");
        assert_eq!(a.action, IntakeAction::OneClickCall { origin: CallOrigin::Household(HOUSEHOLD) });
    }

    /// The example of the module docs of `intake`, computed independently with Python's `hmac`
    /// module, so that a device vendor can check their signer against it.
    #[test]
    fn the_documented_example_verifies() {
        let s = IntakeSecret::parse_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f").unwrap();
        let body = r#"{"type":"press","ts":"2026-06-10T08:00:00Z","seq":17}"#;
        let sig = "1d6f32926d5f09dcf1562c6dadf2bc9d8974e9c84d8075d80ef60ee463f668d6";
        let payload = seal(&s, &topic(), body).unwrap();
        assert_eq!(payload, format!(r#"{{"body":{body},"sig":"{sig}"}}"#));
        // Whitespace around the body is not part of it; whitespace inside it is.
        let spaced = format!("{{ \"sig\" : \"{sig}\" , \"body\" : {body} }}");
        assert!(run(&spaced, button(&s, None)).is_ok());
        let inner = payload.replace(r#""seq":17"#, r#""seq": 17"#);
        assert_eq!(run(&inner, button(&s, None)).unwrap_err(), Dropped::BadSignature);
    }

    #[test]
    fn every_drop_has_its_reason() {
        let s = secret();
        let good = seal(&s, &topic(), &press(5)).unwrap();
        let reason = |r: Result<Accepted, Dropped>| r.unwrap_err().reason();

        let big = format!("{{\"body\":{{}},\"sig\":\"{}\"}}", " ".repeat(MAX_PAYLOAD_BYTES));
        assert_eq!(reason(run(&big, button(&s, None))), DropReason::Oversized);
        assert_eq!(
            reason(receive("wuwei/DW/devices/+/events", good.as_bytes(), |_| Lookup::NoSuchTown, now())),
            DropReason::BadTopic
        );
        assert_eq!(reason(run("{\"body\":{}}", button(&s, None))), DropReason::Malformed);
        assert_eq!(reason(run(&press(5), button(&s, None))), DropReason::Malformed);
        assert_eq!(reason(run("\u{feff}{}", button(&s, None))), DropReason::Malformed);
        assert_eq!(reason(receive(TOPIC, good.as_bytes(), |_| Lookup::NoSuchTown, now())), DropReason::WrongTown);
        assert_eq!(reason(receive(TOPIC, good.as_bytes(), |_| Lookup::NoSuchDevice, now())), DropReason::UnknownDevice);
        assert_eq!(reason(run(&good, KnownDevice { enabled: false, ..button(&s, None) })), DropReason::Disabled);
        let other = IntakeSecret::from_random([1; 32]);
        assert_eq!(reason(run(&good, button(&other, None))), DropReason::BadSignature);
        assert_eq!(reason(run(&good, button(&s, Some(5)))), DropReason::Replay);
        let old = seal(&s, &topic(), r#"{"type":"press","ts":"2026-06-10T07:54:59Z","seq":6}"#).unwrap();
        assert_eq!(run(&old, button(&s, None)).unwrap_err(), Dropped::Stale { skew_secs: 301 });
        let ahead = seal(&s, &topic(), r#"{"type":"press","ts":"2026-06-10T16:05:01+08:00","seq":6}"#).unwrap();
        assert_eq!(run(&ahead, button(&s, None)).unwrap_err(), Dropped::Stale { skew_secs: -301 });
        let skewed = seal(&s, &topic(), r#"{"type":"press","ts":"2026-06-10T16:04:00+08:00","seq":6}"#).unwrap();
        assert!(run(&skewed, button(&s, None)).is_ok());
        let alarm = seal(
            &s,
            &topic(),
            r#"{"type":"alarm","ts":"2026-06-10T08:00:00Z","seq":6,"alarm_type":"fire_smoke","confidence":0.5}"#,
        )
        .unwrap();
        assert_eq!(reason(run(&alarm, button(&s, None))), DropReason::UnexpectedEvent);
        assert_eq!(
            reason(run(&good, KnownDevice { binding: Binding::Unbound, ..button(&s, None) })),
            DropReason::Unbound
        );
        // Signed, but not an event.
        for body in [
            r#"{"type":"press","ts":"2026-06-10T08:00:00Z","seq":-1}"#,
            r#"{"type":"press","ts":"2026-06-10T08:00:00Z","seq":1.5}"#,
            r#"{"type":"press","ts":"yesterday","seq":1}"#,
            r#"{"type":"press","ts":"2026-06-10T08:00:00Z","seq":1,"confidence":0.3}"#,
            r#"{"type":"press","ts":"2026-06-10T08:00:00Z","seq":1,"colour":"red"}"#,
            r#"{"type":"press","ts":"2026-06-10T08:00:00Z","seq":1,"seq":2}"#,
            r#"{"type":"knock","ts":"2026-06-10T08:00:00Z","seq":1}"#,
            r#"{"type":"heartbeat","ts":"2026-06-10T08:00:00Z","seq":1,"battery_pct":101}"#,
            r#"["press"]"#,
        ] {
            let p = seal(&s, &topic(), body).unwrap();
            assert_eq!(reason(run(&p, button(&s, None))), DropReason::Malformed, "{body}");
        }
    }

    #[test]
    fn heartbeats_and_alarms() {
        let s = secret();
        let hb = seal(
            &s,
            &topic(),
            r#"{"type":"heartbeat","ts":"2026-06-10T08:00:00Z","seq":1,"battery_pct":80,"rssi_dbm":-71,"firmware":"1.4.2"}"#,
        )
        .unwrap();
        let speaker = KnownDevice { kind: DeviceKind::Speaker, binding: Binding::Unbound, ..button(&s, None) };
        assert_eq!(
            run(&hb, speaker).unwrap().action,
            IntakeAction::Heartbeat(Heartbeat {
                battery_pct: Some(80),
                rssi_dbm: Some(-71),
                firmware: Some("1.4.2".into())
            })
        );
        let alarm = seal(
            &s,
            &topic(),
            r#"{"type":"alarm","ts":"2026-06-10T08:01:00Z","seq":2,"alarm_type":"straw_burning","confidence":0.875}"#,
        )
        .unwrap();
        let camera = KnownDevice { kind: DeviceKind::Camera, binding: Binding::Place(Uuid::from_u128(3)), ..speaker };
        let IntakeAction::Alarm { alarm_type, confidence, occurred_at, binding } = run(&alarm, camera).unwrap().action
        else {
            panic!()
        };
        assert_eq!(alarm_type, AlarmType::StrawBurning);
        assert_eq!(confidence.get(), 0.875);
        assert_eq!(occurred_at, now() + Duration::minutes(1));
        assert_eq!(binding, Binding::Place(Uuid::from_u128(3)));
    }

    #[test]
    fn dead_letters_are_bounded() {
        let payload = vec![0xff; 10_000];
        let d = DeadLetter::new(TOPIC, &payload, &Dropped::BadSignature, now());
        assert_eq!(d.reason, DropReason::BadSignature);
        assert_eq!(d.payload_len_bytes, 10_000);
        assert!(d.payload_excerpt.chars().count() <= DEAD_LETTER_PAYLOAD_MAX_BYTES);
        assert_eq!(d.detail, "signature does not match");
        // A multi-byte character cut at the limit does not panic.
        let t = "设".repeat(200);
        assert!(DeadLetter::new(&t, b"", &Dropped::Unbound, now()).topic.len() <= DEAD_LETTER_TOPIC_MAX_BYTES + 3);
    }

    proptest! {
        /// Any change to any byte of a sealed payload is dropped (as malformed or bad signature):
        /// never accepted.
        #[test]
        fn tampering_with_a_payload_is_never_accepted(i in any::<usize>(), byte in any::<u8>()) {
            let s = secret();
            let payload = seal(&s, &topic(), &press(5)).unwrap().into_bytes();
            let i = i % payload.len();
            prop_assume!(payload[i] != byte);
            let mut tampered = payload.clone();
            tampered[i] = byte;
            let r = receive(TOPIC, &tampered, |_| Lookup::Found(button(&s, None)), now());
            prop_assert!(r.is_err(), "{}", String::from_utf8_lossy(&tampered));
        }

        /// A message is accepted only with a seq above the last, and accepting the sequence in
        /// order leaves the last seq strictly increasing.
        #[test]
        fn seq_must_increase(seqs in proptest::collection::vec(0u64..50, 1..40)) {
            let s = secret();
            let mut last: Option<u64> = None;
            for seq in seqs {
                let payload = seal(&s, &topic(), &press(seq)).unwrap();
                let r = run(&payload, button(&s, last));
                let expect_ok = last.is_none_or(|l| seq > l);
                prop_assert_eq!(r.is_ok(), expect_ok);
                if let Ok(a) = r {
                    prop_assert!(last.is_none_or(|l| a.seq > l));
                    last = Some(a.seq);
                }
            }
        }

        /// Any topic and payload: an answer, never a panic.
        #[test]
        fn receiving_is_total(topic in "\\PC{0,80}", payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let s = secret();
            let _ = receive(&topic, &payload, |_| Lookup::Found(button(&s, None)), now());
        }
    }
}
