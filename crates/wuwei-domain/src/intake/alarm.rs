//! Camera and sensor alarms (报警 / 告警): their types, what case each suggests, the report a
//! camera platform posts, burst folding, and when a noisy camera stops opening cases by itself.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::case::Priority;
use crate::validate::{FieldIssue, Issues, Rule};

named_enum!(
    /// What a camera or sensor says it saw.
    AlarmType {
        FireSmoke => "fire_smoke",
        StrawBurning => "straw_burning",
        IllegalBuilding => "illegal_building",
        Intrusion => "intrusion",
        Crowd => "crowd",
        Flooding => "flooding",
        RoadObstruction => "road_obstruction",
        Other => "other",
    }
);

impl AlarmType {
    /// The code of the default case category an alarm of this type opens (see
    /// `case::DEFAULT_CATEGORIES`; a town that renamed or removed one falls back to `other`, which
    /// is the store's business).
    pub fn category_code(self) -> &'static str {
        match self {
            AlarmType::FireSmoke => "fire_smoke",
            AlarmType::StrawBurning => "straw_burning",
            AlarmType::IllegalBuilding => "illegal_building",
            // Trespass and gatherings are public order (综治); the town's political-legal office.
            AlarmType::Intrusion | AlarmType::Crowd => "public_order",
            // Waterlogging is the village's water works before it is anything else.
            AlarmType::Flooding => "water_power",
            AlarmType::RoadObstruction => "roads",
            AlarmType::Other => "other",
        }
    }

    /// The priority of the case an alarm opens. Fire spreads in minutes, so both fire types are
    /// urgent; what threatens people or traffic now is high; a building goes nowhere overnight.
    pub fn priority(self) -> Priority {
        match self {
            AlarmType::FireSmoke | AlarmType::StrawBurning => Priority::Urgent,
            AlarmType::Intrusion | AlarmType::Crowd | AlarmType::Flooding | AlarmType::RoadObstruction => {
                Priority::High
            }
            AlarmType::IllegalBuilding | AlarmType::Other => Priority::Normal,
        }
    }
}

/// How sure the camera's analysis is, from 0 to 1. A camera that says 87 means 0.87 and must be
/// configured so; we do not guess scales.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Confidence(f64);

impl Confidence {
    pub fn parse(field: &str, raw: f64) -> Result<Confidence, FieldIssue> {
        if raw.is_finite() && (0.0..=1.0).contains(&raw) {
            Ok(Confidence(raw))
        } else {
            Err(FieldIssue::new(field, Rule::Format { expected: "a number from 0 to 1" }))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

// ---- the webhook's report ----

/// The most a snapshot may weigh once decoded; larger answers 413. The HTTP body limit of the
/// alarm endpoint must allow its base64 form ([`MAX_REPORT_BYTES`]).
pub const MAX_SNAPSHOT_BYTES: usize = 2 * 1024 * 1024;
/// The base64 text of the largest snapshot.
pub const MAX_SNAPSHOT_BASE64_LEN: usize = MAX_SNAPSHOT_BYTES.div_ceil(3) * 4;
/// The largest report body: the snapshot plus room for the other fields.
pub const MAX_REPORT_BYTES: usize = MAX_SNAPSHOT_BASE64_LEN + 4096;
/// A platform's own event id, kept to recognise its retries.
pub const EVENT_ID_MAX: usize = 64;
/// Alarms older than this are refused: a camera back from a day offline should not open a
/// day-old fire as a new case.
pub const MAX_ALARM_AGE_SECS: i64 = 24 * 3600;
/// Alarms this far in the future are refused (clock skew beyond it is a broken camera).
pub const MAX_ALARM_AHEAD_SECS: i64 = 300;

/// An alarm report posted by a camera platform to `POST /api/v1/intake/alarms`, once its
/// signature has been checked (see `webhook`). Body:
///
/// ```json
/// {"camera_code": "XL-0012", "alarm_type": "straw_burning", "confidence": 0.91,
///  "occurred_at": "2026-06-10T08:00:00+08:00", "event_id": "vendor-123",
///  "snapshot": "<base64 of a JPEG or PNG>"}
/// ```
///
/// `event_id` and `snapshot` are optional; unknown fields are refused. The snapshot is handed
/// on as base64 text: decoding it and checking it is an image (415 if not) is `wuwei-media`'s.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmReport {
    pub camera_code: String,
    pub alarm_type: AlarmType,
    pub confidence: Confidence,
    pub occurred_at: DateTime<Utc>,
    pub event_id: Option<String>,
    pub snapshot_base64: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    camera_code: String,
    alarm_type: String,
    confidence: f64,
    occurred_at: String,
    event_id: Option<String>,
    snapshot: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    /// 413: the body or its snapshot is larger than we take.
    #[error("the report or its snapshot is too large")]
    TooLarge,
    /// 400: not JSON of the report's shape (a missing or unknown field, a wrong type).
    #[error("the report is not valid: {0}")]
    Syntax(String),
    /// 422, naming each field.
    #[error("the report has invalid fields")]
    Fields(Issues),
}

/// Parse a report strictly. `now` bounds `occurred_at`.
pub fn parse_report(body: &[u8], now: DateTime<Utc>) -> Result<AlarmReport, ReportError> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge);
    }
    let raw: RawReport = serde_json::from_slice(body).map_err(|e| ReportError::Syntax(e.to_string()))?;
    if raw.snapshot.as_ref().is_some_and(|s| s.len() > MAX_SNAPSHOT_BASE64_LEN) {
        return Err(ReportError::TooLarge);
    }
    let mut issues = Issues::default();
    let camera_code = issues.take(crate::validate::code("camera_code", &raw.camera_code));
    let alarm_type = issues.take(
        AlarmType::parse(&raw.alarm_type)
            .ok_or_else(|| FieldIssue::new("alarm_type", Rule::OneOf { allowed: alarm_type_names() })),
    );
    let confidence = issues.take(Confidence::parse("confidence", raw.confidence));
    let occurred_at = issues.take(occurred_at("occurred_at", &raw.occurred_at, now));
    let event_id = issues.take(match raw.event_id.as_deref() {
        None => Ok(None),
        Some(id) if id.is_empty() || id.len() > EVENT_ID_MAX || !id.bytes().all(|b| b.is_ascii_graphic()) => {
            Err(FieldIssue::new("event_id", Rule::Format { expected: "1-64 printable ASCII characters" }))
        }
        Some(id) => Ok(Some(id.to_string())),
    });
    let snapshot = raw.snapshot.filter(|s| !s.is_empty());
    match (camera_code, alarm_type, confidence, occurred_at, event_id) {
        (Some(camera_code), Some(alarm_type), Some(confidence), Some(occurred_at), Some(event_id)) => {
            Ok(AlarmReport { camera_code, alarm_type, confidence, occurred_at, event_id, snapshot_base64: snapshot })
        }
        _ => Err(ReportError::Fields(issues)),
    }
}

fn alarm_type_names() -> Vec<String> {
    AlarmType::ALL.iter().map(|t| t.as_str().to_string()).collect()
}

/// An RFC 3339 time no older than a day and at most five minutes ahead of `now`.
fn occurred_at(field: &str, raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, FieldIssue> {
    // The longest RFC 3339 time with nanoseconds and an offset is 35 characters.
    let at = (raw.len() <= 40)
        .then(|| DateTime::parse_from_rfc3339(raw).ok())
        .flatten()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| FieldIssue::new(field, Rule::Format { expected: "RFC 3339 time" }))?;
    if at > now + Duration::seconds(MAX_ALARM_AHEAD_SECS) {
        return Err(FieldIssue::new(field, Rule::NotAllowed { reason: "in_the_future" }));
    }
    if at < now - Duration::seconds(MAX_ALARM_AGE_SECS) {
        return Err(FieldIssue::new(field, Rule::NotAllowed { reason: "too_old" }));
    }
    Ok(at)
}

// ---- bursts and noisy cameras ----

/// Alarms of one camera and type this close together are one event: a fire seen for twenty
/// minutes is one fire, not forty cases.
pub const DEFAULT_BURST_WINDOW_SECS: i64 = 600;

/// The latest case opened by alarms of the same camera and type, as the store finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstCase {
    pub case_id: Uuid,
    /// The time of the latest alarm counted on it (the window slides with each alarm).
    pub last_alarm_at: DateTime<Utc>,
    /// Whether the case is still open: once closed, rejected or marked false, a new alarm is a
    /// new event (a fire that flares up again after being put out is a new case).
    pub case_open: bool,
}

/// What happens to one alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmDisposition {
    /// Add one to this case's alarm count and move its `last_alarm_at` to
    /// `max(last_alarm_at, occurred_at)`.
    Fold { case_id: Uuid },
    /// Open a case of this category and priority, source `camera`.
    OpenCase { category_code: &'static str, priority: Priority },
    /// Keep the alarm for a dispatcher to review; open nothing (a noisy camera).
    QueueForReview,
}

/// Decide what an alarm does. The store must serialise this per (camera, type) — find the burst
/// case and write the fold or the new case in one transaction — or two alarms of one burst can
/// both open a case.
///
/// A fold wins over review: an open case of the burst exists (opened before the camera was
/// judged noisy, or by a dispatcher from the review queue), and more of the same belongs to it.
pub fn dispose(
    alarm_type: AlarmType,
    occurred_at: DateTime<Utc>,
    burst: Option<&BurstCase>,
    burst_window_secs: i64,
    camera_opens_cases: bool,
) -> AlarmDisposition {
    if let Some(b) = burst
        && b.case_open
        && (occurred_at - b.last_alarm_at).num_seconds().abs() <= burst_window_secs
    {
        // `abs`: alarms may arrive out of order (a webhook retry, MQTT after a reconnect); a late
        // one inside the window still belongs to the burst.
        return AlarmDisposition::Fold { case_id: b.case_id };
    }
    if camera_opens_cases {
        AlarmDisposition::OpenCase { category_code: alarm_type.category_code(), priority: alarm_type.priority() }
    } else {
        AlarmDisposition::QueueForReview
    }
}

/// A camera's judged alarms: how many a dispatcher looked at, and how many of those were false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FalseAlarmStats {
    pub judged: u32,
    pub false_alarms: u32,
}

/// Below this many judged alarms a rate says nothing: two false out of three must not silence a
/// new lookout tower.
pub const MIN_JUDGED_FOR_RATE: u32 = 10;

impl FalseAlarmStats {
    /// The share of judged alarms that were false, once there are enough to say.
    pub fn rate(self) -> Option<f64> {
        (self.judged >= MIN_JUDGED_FOR_RATE)
            .then(|| f64::from(self.false_alarms.min(self.judged)) / f64::from(self.judged))
    }

    /// Whether the camera still opens cases by itself under the town's `threshold` (a share
    /// 0..=1; `None`: no threshold). At or above the threshold its alarms queue for review.
    pub fn opens_cases(self, threshold: Option<f64>) -> bool {
        match (self.rate(), threshold) {
            (Some(rate), Some(t)) => rate < t,
            _ => true,
        }
    }
}

/// A town's false-alarm threshold as configured (a share, 0 exclusive to 1 inclusive: a
/// threshold of 0 would silence every camera).
pub fn false_alarm_threshold(field: &str, raw: Option<f64>) -> Result<Option<f64>, FieldIssue> {
    match raw {
        None => Ok(None),
        Some(t) if t.is_finite() && t > 0.0 && t <= 1.0 => Ok(Some(t)),
        Some(_) => Err(FieldIssue::new(field, Rule::Format { expected: "a share above 0, at most 1" })),
    }
}

/// A town's alarm settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmSettings {
    pub burst_window_secs: i64,
    /// At or above this false-alarm rate a camera's alarms queue for review; `None`: never.
    pub false_alarm_threshold: Option<f64>,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        AlarmSettings { burst_window_secs: DEFAULT_BURST_WINDOW_SECS, false_alarm_threshold: None }
    }
}

impl AlarmSettings {
    /// Settings as a town administrator enters them: a burst window of 1 minute to 2 hours
    /// (longer would fold tomorrow's fire into today's), and the threshold as above.
    pub fn parse(burst_window_secs: i64, false_alarm_threshold: Option<f64>) -> Result<AlarmSettings, Issues> {
        let mut issues = Issues::default();
        if !(60..=7200).contains(&burst_window_secs) {
            issues.push("burst_window_secs", Rule::OutOfRange { min: 60, max: 7200 });
        }
        let threshold = issues.take(self::false_alarm_threshold("false_alarm_threshold", false_alarm_threshold));
        issues.into_result()?;
        Ok(AlarmSettings { burst_window_secs, false_alarm_threshold: threshold.flatten() })
    }

    /// Whether a camera with these judged alarms opens cases by itself.
    pub fn camera_opens_cases(self, stats: FalseAlarmStats) -> bool {
        stats.opens_cases(self.false_alarm_threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::DEFAULT_CATEGORIES;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 10, 8, 0, 0).unwrap()
    }

    #[test]
    fn every_alarm_type_opens_a_default_category() {
        for t in AlarmType::ALL {
            assert!(DEFAULT_CATEGORIES.iter().any(|c| c.code == t.category_code()), "{t}");
        }
        assert_eq!(AlarmType::FireSmoke.priority(), Priority::Urgent);
        assert_eq!(AlarmType::StrawBurning.priority(), Priority::Urgent);
        assert_eq!(AlarmType::parse("straw_burning"), Some(AlarmType::StrawBurning));
    }

    #[test]
    fn confidence_is_a_share() {
        assert!(Confidence::parse("c", 0.0).is_ok());
        assert!(Confidence::parse("c", 1.0).is_ok());
        for bad in [-0.01, 1.01, 87.0, f64::NAN, f64::INFINITY] {
            assert!(Confidence::parse("c", bad).is_err(), "{bad}");
        }
    }

    fn report(v: serde_json::Value) -> Result<AlarmReport, ReportError> {
        parse_report(&serde_json::to_vec(&v).unwrap(), now())
    }

    #[test]
    fn reports_are_parsed_strictly() {
        let ok = json!({"camera_code": "LK-03", "alarm_type": "straw_burning", "confidence": 0.91,
                        "occurred_at": "2026-06-10T15:59:00+08:00", "event_id": "v-1"});
        let r = report(ok.clone()).unwrap();
        assert_eq!(r.alarm_type, AlarmType::StrawBurning);
        assert_eq!(r.occurred_at, now() - Duration::minutes(1));
        assert_eq!(r.event_id.as_deref(), Some("v-1"));
        assert_eq!(r.snapshot_base64, None);

        let mut unknown = ok.clone();
        unknown["extra"] = json!(1);
        assert!(matches!(report(unknown), Err(ReportError::Syntax(_))));
        assert!(matches!(parse_report(b"{not json", now()), Err(ReportError::Syntax(_))));

        let mut bad = ok.clone();
        bad["alarm_type"] = json!("ufo");
        bad["confidence"] = json!(91);
        bad["occurred_at"] = json!("2026-06-12T08:00:00Z");
        let Err(ReportError::Fields(issues)) = report(bad) else { panic!() };
        let fields: Vec<&str> = issues.0.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["alarm_type", "confidence", "occurred_at"]);

        let mut old = ok.clone();
        old["occurred_at"] = json!("2026-06-09T07:59:59Z");
        let Err(ReportError::Fields(issues)) = report(old) else { panic!() };
        assert_eq!(issues.0[0].rule, Rule::NotAllowed { reason: "too_old" });

        let mut big = ok;
        big["snapshot"] = json!("A".repeat(MAX_SNAPSHOT_BASE64_LEN + 4));
        assert_eq!(report(big), Err(ReportError::TooLarge));
        assert_eq!(parse_report(&vec![b' '; MAX_REPORT_BYTES + 1], now()), Err(ReportError::TooLarge));
    }

    #[test]
    fn a_burst_folds_into_its_open_case() {
        let case_id = Uuid::from_u128(9);
        let burst = BurstCase { case_id, last_alarm_at: now(), case_open: true };
        let w = DEFAULT_BURST_WINDOW_SECS;
        let t = AlarmType::FireSmoke;
        assert_eq!(
            dispose(t, now() + Duration::minutes(10), Some(&burst), w, true),
            AlarmDisposition::Fold { case_id }
        );
        assert_eq!(
            dispose(t, now() + Duration::seconds(601), Some(&burst), w, true),
            AlarmDisposition::OpenCase { category_code: "fire_smoke", priority: Priority::Urgent }
        );
        let closed = BurstCase { case_open: false, ..burst };
        assert!(matches!(dispose(t, now(), Some(&closed), w, true), AlarmDisposition::OpenCase { .. }));
        assert_eq!(dispose(t, now(), None, w, false), AlarmDisposition::QueueForReview);
        // A noisy camera's alarm still counts on a case of its burst that is open.
        assert_eq!(dispose(t, now(), Some(&burst), w, false), AlarmDisposition::Fold { case_id });
    }

    #[test]
    fn noisy_cameras_stop_opening_cases() {
        let fresh = FalseAlarmStats { judged: 3, false_alarms: 3 };
        assert_eq!(fresh.rate(), None);
        assert!(fresh.opens_cases(Some(0.5)));
        let noisy = FalseAlarmStats { judged: 20, false_alarms: 12 };
        assert_eq!(noisy.rate(), Some(0.6));
        assert!(!noisy.opens_cases(Some(0.6)));
        assert!(noisy.opens_cases(Some(0.61)));
        assert!(noisy.opens_cases(None));
        assert_eq!(false_alarm_threshold("t", Some(0.5)), Ok(Some(0.5)));
        assert!(false_alarm_threshold("t", Some(0.0)).is_err());
        assert!(false_alarm_threshold("t", Some(1.5)).is_err());
        let settings = AlarmSettings::parse(600, Some(0.5)).unwrap();
        assert!(!settings.camera_opens_cases(noisy));
        assert!(AlarmSettings::default().camera_opens_cases(noisy));
        assert_eq!(AlarmSettings::parse(30, Some(2.0)).unwrap_err().0.len(), 2);
    }

    proptest! {
        /// Folding is exactly "open case and within the window", whatever the order of arrival.
        #[test]
        fn folding_is_the_window(offset_secs in -3_000i64..3_000, window_secs in 1i64..2_000, open in any::<bool>()) {
            let burst = BurstCase { case_id: Uuid::from_u128(1), last_alarm_at: now(), case_open: open };
            let d = dispose(AlarmType::Crowd, now() + Duration::seconds(offset_secs), Some(&burst), window_secs, true);
            let folds = open && offset_secs.abs() <= window_secs;
            prop_assert_eq!(matches!(d, AlarmDisposition::Fold { .. }), folds);
        }

        /// Any bytes as a report body: an answer, never a panic.
        #[test]
        fn report_parsing_is_total(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_report(&body, now());
        }
    }
}
