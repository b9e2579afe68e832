//! Prometheus metrics, kept by hand: a few counters and one latency histogram, per app instance
//! (so tests running many apps in one process do not share counts).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

pub struct Metrics {
    /// (route, method, status) → count. Routes are the matched templates, so the label set is
    /// bounded by the router, not by what clients send.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<Histogram>,
    pub login_failures: AtomicU64,
    pub logins: AtomicU64,
    /// Device messages over MQTT: ("accepted", event type) or ("dropped", drop reason). Both
    /// label sets are closed enums of the domain, so the map stays small.
    device_messages: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(Histogram::default()),
            login_failures: AtomicU64::new(0),
            logins: AtomicU64::new(0),
            device_messages: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route.to_string(), method.to_string(), status)).or_insert(0) += 1;
        }
        if let Ok(mut h) = self.latency.lock() {
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// Count a device message: `outcome` is "accepted" (label: event type) or "dropped"
    /// (label: drop reason).
    pub fn count_device_message(&self, outcome: &'static str, label: &'static str) {
        if let Ok(mut m) = self.device_messages.lock() {
            *m.entry((outcome, label)).or_insert(0) += 1;
        }
    }

    /// How many device messages were counted under (`outcome`, `label`).
    pub fn device_messages(&self, outcome: &'static str, label: &'static str) -> u64 {
        self.device_messages.lock().map(|m| m.get(&(outcome, label)).copied().unwrap_or(0)).unwrap_or(0)
    }

    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP wuwei_http_requests_total HTTP requests answered, by route, method and status.");
        let _ = writeln!(out, "# TYPE wuwei_http_requests_total counter");
        if let Ok(m) = self.requests.lock() {
            for ((route, method, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "wuwei_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}",
                    escape(route),
                    method,
                    status,
                    n
                );
            }
        }
        let _ = writeln!(out, "# HELP wuwei_http_request_duration_seconds Time to answer HTTP requests.");
        let _ = writeln!(out, "# TYPE wuwei_http_request_duration_seconds histogram");
        if let Ok(h) = self.latency.lock() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "wuwei_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}", h.counts[i]);
            }
            let _ = writeln!(out, "wuwei_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "wuwei_http_request_duration_seconds_sum {}", h.sum);
            let _ = writeln!(out, "wuwei_http_request_duration_seconds_count {}", h.count);
        }
        let _ = writeln!(out, "# HELP wuwei_logins_total Successful sign-ins.");
        let _ = writeln!(out, "# TYPE wuwei_logins_total counter");
        let _ = writeln!(out, "wuwei_logins_total {}", self.logins.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP wuwei_login_failures_total Failed sign-in attempts.");
        let _ = writeln!(out, "# TYPE wuwei_login_failures_total counter");
        let _ = writeln!(out, "wuwei_login_failures_total {}", self.login_failures.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP wuwei_device_messages_accepted_total Device messages accepted over MQTT, by event type."
        );
        let _ = writeln!(out, "# TYPE wuwei_device_messages_accepted_total counter");
        let _ =
            writeln!(out, "# HELP wuwei_device_messages_dropped_total Device messages dropped over MQTT, by reason.");
        let _ = writeln!(out, "# TYPE wuwei_device_messages_dropped_total counter");
        if let Ok(m) = self.device_messages.lock() {
            for ((outcome, label), n) in m.iter() {
                let key = if *outcome == "dropped" { "reason" } else { "type" };
                let _ = writeln!(out, "wuwei_device_messages_{outcome}_total{{{key}=\"{label}\"}} {n}");
            }
        }
        for (name, help, value) in extra {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_buckets() {
        let m = Metrics::new();
        m.observe("/api/v1/me", "GET", 200, 0.003);
        m.observe("/api/v1/me", "GET", 200, 0.2);
        let text = m.render(&[("wuwei_up", "Up.", 1.0)]);
        assert!(text.contains("wuwei_http_requests_total{route=\"/api/v1/me\",method=\"GET\",status=\"200\"} 2"));
        assert!(text.contains("wuwei_http_request_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("wuwei_http_request_duration_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("wuwei_up 1"));
    }
}
