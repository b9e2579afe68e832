//! Intake: how cases arrive without a person typing them — the one-click call (一键呼应) from a
//! household's phone page or call button, devices over MQTT, and alarms (报警) from the cameras
//! of the public video network (雪亮工程) and the lookout towers (高空瞭望). Pure rules: the
//! server's MQTT client, webhook route and store load the facts, ask these functions and write
//! what they decide.
//!
//! - [`secret`]: the shared secrets devices and camera platforms sign with; HMAC-SHA256 with a
//!   constant-time check.
//! - [`device`]: the device register — kinds, bindings, device ids, the MQTT topic, and
//!   online/offline from heartbeats.
//! - [`mqtt`]: the signed envelope, the event inside it, the pipeline that accepts a message or
//!   drops it with a [`mqtt::DropReason`], and the dead-letter entry.
//! - [`one_click`]: what a press makes — an urgent case with a 10-minute accept deadline, or a
//!   fold into the household's call of the last 2 minutes.
//! - [`alarm`]: alarm types and the case each suggests, the webhook's report, burst folding, and
//!   when a noisy camera stops opening cases.
//! - [`webhook`]: the camera platforms' signed webhook and its bounded replay cache.
//! - [`camera`]: the camera register — kinds, the viewing sector drawn on the map, live-view URLs.
//! - [`card`]: household cards — the token, the QR link, and parsing it back.
//!
//! # Device messages: the signed envelope
//!
//! The broker is not trusted: anyone who can publish to it could pretend to be any device. So
//! each device has its own 32-byte secret (given to the installer once, as 64 hex characters),
//! and every message it publishes on `wuwei/{town_code}/devices/{device_id}/events` is this JSON
//! object (the two members in either order, nothing else):
//!
//! ```json
//! {"body": {"type":"press","ts":"2026-06-10T08:00:00Z","seq":17}, "sig": "<64 lowercase hex>"}
//! ```
//!
//! `sig` is HMAC-SHA256, keyed with the secret's 32 bytes, over the topic, one newline (`\n`),
//! and the exact text of `body` as it appears in the payload (from its `{` to its `}`;
//! whitespace around it is not part of it, whitespace inside it is). A device therefore writes
//! its event once, signs that text, and pastes it into the envelope unchanged: no canonical JSON
//! to agree on. Signing over the topic too means a message cannot be replayed on another
//! device's topic even if two devices were ever given the same secret.
//!
//! Example (the tests check it against an independent computation):
//! secret `000102…1e1f` (bytes 0 to 31), topic `wuwei/DW/devices/btn-0001/events`, body
//! `{"type":"press","ts":"2026-06-10T08:00:00Z","seq":17}`, signature
//! `1d6f32926d5f09dcf1562c6dadf2bc9d8974e9c84d8075d80ef60ee463f668d6`.
//!
//! Replays are refused by `seq` — strictly above the last accepted from the device, so it must
//! survive reboots (keep it in flash, or use Unix milliseconds) — and by `ts`, within five
//! minutes of the server's clock. Broker credentials are not relied on (they may be shared by
//! every device of a vendor); they only keep strangers off the broker.
//!
//! # Camera webhooks
//!
//! See [`webhook`]: HMAC-SHA256 over `"{timestamp}." ++ body` with the town's webhook secret, in
//! `X-Wuwei-Signature: sha256=<hex>` beside `X-Wuwei-Timestamp: <unix seconds>`.

pub mod alarm;
pub mod camera;
pub mod card;
pub mod device;
pub mod mqtt;
pub mod one_click;
pub mod secret;
pub mod webhook;
