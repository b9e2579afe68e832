//! The device register: what a device is, what it may be bound to, its MQTT topic, and whether
//! it is online.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::validate::{FieldIssue, Rule};

named_enum!(
    /// What a registered device is.
    DeviceKind {
        /// A one-press call button in a household (or at a place): a press is a one-click call.
        CallButton => "call_button",
        /// A village loudspeaker: it only reports that it is alive.
        Speaker => "speaker",
        /// A sensor (smoke, water level, ...): it raises alarms.
        Sensor => "sensor",
        /// A camera that talks MQTT itself rather than through its platform's webhook.
        Camera => "camera",
    }
);

named_enum!(
    /// What a device sends (the `type` of its event).
    EventType {
        Press => "press",
        Heartbeat => "heartbeat",
        Alarm => "alarm",
    }
);

impl DeviceKind {
    /// The events a device of this kind may send. Anything else is dropped as
    /// `unexpected_event`: a speaker that "presses" is broken or is not a speaker.
    pub fn sends(self, event: EventType) -> bool {
        matches!(
            (self, event),
            (_, EventType::Heartbeat)
                | (DeviceKind::CallButton, EventType::Press)
                | (DeviceKind::Sensor | DeviceKind::Camera, EventType::Alarm)
        )
    }
}

/// What a device is bound to: a press from a button bound to a household is that household's
/// one-click call; a device at a place reports from the place's location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    Household(Uuid),
    Place(Uuid),
    /// Registered but not yet installed: its presses have no one to call for and are dropped.
    Unbound,
}

/// Whether a kind may be bound this way: a camera watches a place, never a household's inside.
pub fn check_binding(field: &str, kind: DeviceKind, binding: Binding) -> Result<(), FieldIssue> {
    match (kind, binding) {
        (DeviceKind::Camera, Binding::Household(_)) => {
            Err(FieldIssue::new(field, Rule::NotAllowed { reason: "camera_in_household" }))
        }
        _ => Ok(()),
    }
}

/// Longest device id: long enough for a vendor's serial number or a MAC address with a prefix.
pub const DEVICE_ID_MAX: usize = 64;
/// Longest town code (as `validate::code`).
pub const TOWN_CODE_MAX: usize = 32;

/// The characters of a topic segment. No `/`, `+`, `#`, NUL or spaces, so that a segment can never
/// be an MQTT wildcard or split into two levels; ASCII only, so that a length is a length.
fn segment_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A device id as registered: 1–64 of `A-Z a-z 0-9 - _`, so that it is usable as a topic level.
pub fn device_id(field: &str, raw: &str) -> Result<String, FieldIssue> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FieldIssue::new(field, Rule::Required));
    }
    if s.len() > DEVICE_ID_MAX {
        return Err(FieldIssue::new(field, Rule::TooLong { max: DEVICE_ID_MAX }));
    }
    if !segment_ok(s, DEVICE_ID_MAX) {
        return Err(FieldIssue::new(field, Rule::Charset { allowed: "A-Z a-z 0-9 - _" }));
    }
    Ok(s.to_string())
}

/// The topic a device publishes on: `wuwei/{town_code}/devices/{device_id}/events`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceTopic {
    pub town_code: String,
    pub device_id: String,
}

/// The subscription of a server that serves the town `town_code` (one level wildcard for the
/// device, none for the town: a server never takes other towns' messages).
pub fn subscription(town_code: &str) -> String {
    format!("wuwei/{town_code}/devices/+/events")
}

/// The longest topic we look at; anything longer is refused before it is split.
pub const TOPIC_MAX: usize = "wuwei/".len() + TOWN_CODE_MAX + "/devices/".len() + DEVICE_ID_MAX + "/events".len();

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Dropped as `bad_topic`: a broker should never deliver this on our subscription.
    #[error("topic is not wuwei/{{town_code}}/devices/{{device_id}}/events: {0}")]
    Shape(&'static str),
}

impl DeviceTopic {
    /// Parse a topic strictly: exactly five levels, the fixed ones spelled exactly, the town code
    /// and device id within their lengths and characters (so no wildcard, empty level or `$`
    /// topic gets through).
    pub fn parse(topic: &str) -> Result<DeviceTopic, TopicError> {
        if topic.len() > TOPIC_MAX {
            return Err(TopicError::Shape("too_long"));
        }
        let mut levels = topic.split('/');
        let (Some("wuwei"), Some(town), Some("devices"), Some(device), Some("events"), None) =
            (levels.next(), levels.next(), levels.next(), levels.next(), levels.next(), levels.next())
        else {
            return Err(TopicError::Shape("levels"));
        };
        if !segment_ok(town, TOWN_CODE_MAX) {
            return Err(TopicError::Shape("town_code"));
        }
        if !segment_ok(device, DEVICE_ID_MAX) {
            return Err(TopicError::Shape("device_id"));
        }
        Ok(DeviceTopic { town_code: town.to_string(), device_id: device.to_string() })
    }
}

impl std::fmt::Display for DeviceTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wuwei/{}/devices/{}/events", self.town_code, self.device_id)
    }
}

// ---- online / offline ----

named_enum!(
    /// Whether a device is alive, as the map and the grid worker's list show it.
    DeviceStatus {
        Online => "online",
        /// Silent for [`MISSED_HEARTBEATS_OFFLINE`] heartbeat intervals.
        Offline => "offline",
        /// Registered, never heard from: not "offline", which would suggest it once worked.
        NeverSeen => "never_seen",
    }
);

/// A device silent for this many heartbeat intervals is offline: one lost heartbeat on a weak
/// link is normal, three in a row is not.
pub const MISSED_HEARTBEATS_OFFLINE: u32 = 3;
pub const DEFAULT_HEARTBEAT_INTERVAL_SECS: u32 = 60;
/// Shorter intervals would flood the intake for nothing; a day is the most a battery sensor needs.
pub const MIN_HEARTBEAT_INTERVAL_SECS: u32 = 10;
pub const MAX_HEARTBEAT_INTERVAL_SECS: u32 = 86_400;

/// A device's heartbeat interval as configured.
pub fn heartbeat_interval_secs(field: &str, raw: i64) -> Result<u32, FieldIssue> {
    let (min, max) = (MIN_HEARTBEAT_INTERVAL_SECS, MAX_HEARTBEAT_INTERVAL_SECS);
    u32::try_from(raw)
        .ok()
        .filter(|s| (min..=max).contains(s))
        .ok_or_else(|| FieldIssue::new(field, Rule::OutOfRange { min: i64::from(min), max: i64::from(max) }))
}

/// A device's status at `now`, and when it must next be looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCheck {
    pub status: DeviceStatus,
    /// When the status changes if nothing is heard meanwhile: the moment an online device goes
    /// offline. `None` when only a message can change it (offline, never seen). Stored per
    /// device and indexed, so the sweeper reads only the devices that are due, as it does for
    /// cases' `next_sweep_at`.
    pub next_check_at: Option<DateTime<Utc>>,
}

/// When a device last heard at `last_seen_at` goes offline.
pub fn offline_at(last_seen_at: DateTime<Utc>, heartbeat_interval_secs: u32) -> DateTime<Utc> {
    last_seen_at + Duration::seconds(i64::from(heartbeat_interval_secs) * i64::from(MISSED_HEARTBEATS_OFFLINE))
}

/// The status of a device last heard at `last_seen_at`. "Heard" means any authenticated message
/// (a press proves life as well as a heartbeat), at the server's receive time, not the device's
/// `ts`: a device's clock may be minutes off, and the status is about our view of it.
pub fn status_at(last_seen_at: Option<DateTime<Utc>>, heartbeat_interval_secs: u32, now: DateTime<Utc>) -> StatusCheck {
    let Some(seen) = last_seen_at else {
        return StatusCheck { status: DeviceStatus::NeverSeen, next_check_at: None };
    };
    let off = offline_at(seen, heartbeat_interval_secs);
    if now >= off {
        StatusCheck { status: DeviceStatus::Offline, next_check_at: None }
    } else {
        StatusCheck { status: DeviceStatus::Online, next_check_at: Some(off) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 10, 8, 0, 0).unwrap()
    }

    #[test]
    fn topics_are_parsed_strictly() {
        let t = DeviceTopic::parse("wuwei/371481108/devices/btn-0001/events").unwrap();
        assert_eq!(t, DeviceTopic { town_code: "371481108".into(), device_id: "btn-0001".into() });
        assert_eq!(t.to_string(), "wuwei/371481108/devices/btn-0001/events");
        for bad in [
            "",
            "wuwei/DW/devices/+/events",
            "wuwei/+/devices/b1/events",
            "wuwei/DW/devices/#",
            "wuwei/DW/devices/b1/events/",
            "wuwei/DW/devices/b1/events/x",
            "wuwei//devices/b1/events",
            "wuwei/DW/devices//events",
            "/wuwei/DW/devices/b1/events",
            "Wuwei/DW/devices/b1/events",
            "wuwei/DW/device/b1/events",
            "wuwei/DW/devices/b 1/events",
            "wuwei/DW/devices/b1\0/events",
            "wuwei/DW/devices/按钮/events",
            "$SYS/DW/devices/b1/events",
        ] {
            assert!(DeviceTopic::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("wuwei/DW/devices/{}/events", "a".repeat(DEVICE_ID_MAX + 1));
        assert_eq!(DeviceTopic::parse(&long), Err(TopicError::Shape("device_id")));
        let longest = format!("wuwei/{}/devices/{}/events", "t".repeat(32), "d".repeat(64));
        assert_eq!(longest.len(), TOPIC_MAX);
        assert!(DeviceTopic::parse(&longest).is_ok());
        assert_eq!(subscription("DW"), "wuwei/DW/devices/+/events");
    }

    #[test]
    fn device_ids_and_intervals() {
        assert_eq!(device_id("device_id", " btn_01 ").unwrap(), "btn_01");
        assert_eq!(device_id("device_id", "").unwrap_err().rule, Rule::Required);
        assert!(matches!(device_id("device_id", "btn/01").unwrap_err().rule, Rule::Charset { .. }));
        assert!(matches!(device_id("device_id", "btn+").unwrap_err().rule, Rule::Charset { .. }));
        assert_eq!(heartbeat_interval_secs("h", 60), Ok(60));
        assert!(heartbeat_interval_secs("h", 9).is_err());
        assert!(heartbeat_interval_secs("h", -60).is_err());
        assert!(heartbeat_interval_secs("h", i64::MAX).is_err());
    }

    #[test]
    fn kinds_send_what_they_are_for() {
        assert!(DeviceKind::CallButton.sends(EventType::Press));
        assert!(!DeviceKind::CallButton.sends(EventType::Alarm));
        assert!(!DeviceKind::Speaker.sends(EventType::Press));
        assert!(DeviceKind::Camera.sends(EventType::Alarm));
        assert!(DeviceKind::ALL.iter().all(|k| k.sends(EventType::Heartbeat)));
        let h = Binding::Household(Uuid::from_u128(1));
        assert!(check_binding("binding", DeviceKind::Camera, h).is_err());
        assert!(check_binding("binding", DeviceKind::CallButton, h).is_ok());
    }

    #[test]
    fn three_missed_heartbeats_make_a_device_offline() {
        let seen = t0();
        assert_eq!(status_at(None, 60, seen), StatusCheck { status: DeviceStatus::NeverSeen, next_check_at: None });
        let online = status_at(Some(seen), 60, seen + Duration::seconds(179));
        assert_eq!(online.status, DeviceStatus::Online);
        assert_eq!(online.next_check_at, Some(seen + Duration::seconds(180)));
        assert_eq!(status_at(Some(seen), 60, seen + Duration::seconds(180)).status, DeviceStatus::Offline);
        assert_eq!(status_at(Some(seen), 60, seen + Duration::days(3)).next_check_at, None);
    }

    proptest! {
        /// Whatever comes in as a topic, parsing answers without panicking, and what it accepts
        /// prints back to the same topic.
        #[test]
        fn topic_parsing_is_total_and_round_trips(s in "\\PC{0,200}") {
            if let Ok(t) = DeviceTopic::parse(&s) {
                prop_assert_eq!(t.to_string(), s);
            }
        }

        /// Online exactly until the third interval has passed, and the next check is that moment.
        #[test]
        fn status_flips_at_the_next_check(interval in MIN_HEARTBEAT_INTERVAL_SECS..=MAX_HEARTBEAT_INTERVAL_SECS,
                                         after_secs in 0i64..400_000) {
            let seen = t0();
            let check = status_at(Some(seen), interval, seen + Duration::seconds(after_secs));
            let limit = i64::from(interval) * 3;
            prop_assert_eq!(check.status == DeviceStatus::Online, after_secs < limit);
            if let Some(next) = check.next_check_at {
                prop_assert_eq!(status_at(Some(seen), interval, next).status, DeviceStatus::Offline);
            }
        }
    }
}
