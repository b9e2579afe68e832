//! Sign-in throttling: after 5 failures for one account or one address within 10 minutes,
//! further attempts are refused with 429 until the oldest failure leaves the window.
//!
//! Kept in memory: it protects one server process, costs no database write per failed guess
//! (which would itself be a lever for an attacker), and is bounded in size.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW_SECS: i64 = 600;
/// Keys tracked at most; beyond this the oldest idle keys are forgotten first.
const MAX_KEYS: usize = 100_000;

pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<DateTime<Utc>>>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LoginLimiter {
    pub fn new() -> LoginLimiter {
        LoginLimiter { failures: Mutex::new(HashMap::new()) }
    }

    fn window() -> Duration {
        Duration::seconds(WINDOW_SECS)
    }

    /// `Some(seconds to wait)` when any key is over the limit.
    pub fn blocked(&self, keys: &[String], now: DateTime<Utc>) -> Option<u64> {
        let Ok(mut map) = self.failures.lock() else { return None };
        let mut wait: Option<i64> = None;
        for key in keys {
            if let Some(q) = map.get_mut(key) {
                while q.front().is_some_and(|t| *t <= now - Self::window()) {
                    q.pop_front();
                }
                if q.len() >= MAX_FAILURES
                    && let Some(oldest) = q.front()
                {
                    let secs = (*oldest + Self::window() - now).num_seconds().max(1);
                    wait = Some(wait.map_or(secs, |w| w.max(secs)));
                }
            }
        }
        wait.map(|w| w as u64)
    }

    pub fn record_failure(&self, keys: &[String], now: DateTime<Utc>) {
        let Ok(mut map) = self.failures.lock() else { return };
        if map.len() >= MAX_KEYS {
            let cutoff = now - Self::window();
            map.retain(|_, q| q.back().is_some_and(|t| *t > cutoff));
            if map.len() >= MAX_KEYS {
                // Still full of live keys (a wide attack): forget half rather than grow.
                let drop: Vec<String> = map.keys().take(MAX_KEYS / 2).cloned().collect();
                for k in drop {
                    map.remove(&k);
                }
            }
        }
        for key in keys {
            let q = map.entry(key.clone()).or_default();
            q.push_back(now);
            // Only the last MAX_FAILURES matter.
            while q.len() > MAX_FAILURES {
                q.pop_front();
            }
        }
    }

    pub fn reset(&self, key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_until_the_window_passes() {
        let l = LoginLimiter::new();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let keys = vec!["u:alice".to_string(), "ip:1.2.3.4".to_string()];
        for i in 0..5 {
            assert_eq!(l.blocked(&keys, t0 + Duration::seconds(i)), None);
            l.record_failure(&keys, t0 + Duration::seconds(i));
        }
        let wait = l.blocked(&keys, t0 + Duration::seconds(10)).unwrap();
        assert_eq!(wait, 590);
        assert_eq!(l.blocked(&keys, t0 + Duration::seconds(601)), None);
    }

    #[test]
    fn reset_clears_one_key() {
        let l = LoginLimiter::new();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let keys = vec!["u:bob".to_string()];
        for _ in 0..5 {
            l.record_failure(&keys, t0);
        }
        assert!(l.blocked(&keys, t0).is_some());
        l.reset("u:bob");
        assert!(l.blocked(&keys, t0).is_none());
    }
}
