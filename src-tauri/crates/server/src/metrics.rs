//! `GET /metrics`: counters and latencies in the Prometheus text format —
//! requests by route, method and status; verifications by result; failures
//! refused by the rate limit; pushes and pulls (how many, how long, how many
//! changes); the database pool's use. Never a key, a token or a client address.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use keyward_model::VerifyResult;

use crate::store::{GrantsStatus, PoolStatus};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// A latency histogram (cumulative buckets, a sum and a count).
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

const RESULTS: [VerifyResult; 6] = [
    VerifyResult::Valid,
    VerifyResult::Malformed,
    VerifyResult::NotFound,
    VerifyResult::Disabled,
    VerifyResult::Expired,
    VerifyResult::Forbidden,
];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    verifications: [AtomicU64; RESULTS.len()],
    rate_limited: AtomicU64,
    push: Histogram,
    pull: Histogram,
    changes_pushed: AtomicU64,
    changes_pulled: AtomicU64,
}

impl Metrics {
    /// One answered request; `route` is a known path or "(other)".
    pub fn request(&self, route: &'static str, method: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *requests
            .entry((route, method.to_string(), status))
            .or_default() += 1;
    }

    pub fn verification(&self, result: VerifyResult) {
        if let Some(index) = RESULTS.iter().position(|known| *known == result) {
            self.verifications[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub fn pushed(&self, changes: usize, took: Duration) {
        self.push.observe(took);
        self.changes_pushed
            .fetch_add(changes as u64, Ordering::Relaxed);
    }

    pub fn pulled(&self, changes: usize, took: Duration) {
        self.pull.observe(took);
        self.changes_pulled
            .fetch_add(changes as u64, Ordering::Relaxed);
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn render(&self, pool: PoolStatus, grants: GrantsStatus, ready: bool) -> String {
        let mut out = String::new();
        out.push_str("# HELP keyward_http_requests_total Requests answered, by route, method and status.\n# TYPE keyward_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        for ((route, method, status), count) in requests.iter() {
            let _ = writeln!(
                out,
                "keyward_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        drop(requests);
        out.push_str("# HELP keyward_verifications_total Key verifications answered, by result.\n# TYPE keyward_verifications_total counter\n");
        for (result, count) in RESULTS.iter().zip(&self.verifications) {
            let _ = writeln!(
                out,
                "keyward_verifications_total{{result=\"{}\"}} {}",
                result.as_str(),
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP keyward_verifications_rate_limited_total Failed verifications refused with 429.\n# TYPE keyward_verifications_rate_limited_total counter\nkeyward_verifications_rate_limited_total {}",
            self.rate_limited.load(Ordering::Relaxed)
        );
        self.push.render(
            &mut out,
            "keyward_sync_push_seconds",
            "How long pushes took to apply.",
        );
        self.pull.render(
            &mut out,
            "keyward_sync_pull_seconds",
            "How long pulls took.",
        );
        let _ = writeln!(
            out,
            "# HELP keyward_sync_changes_pushed_total Changes received in pushes.\n# TYPE keyward_sync_changes_pushed_total counter\nkeyward_sync_changes_pushed_total {}",
            self.changes_pushed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_sync_changes_pulled_total Records handed out in pulls.\n# TYPE keyward_sync_changes_pulled_total counter\nkeyward_sync_changes_pulled_total {}",
            self.changes_pulled.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_db_connections Database connections of this instance.\n# TYPE keyward_db_connections gauge\nkeyward_db_connections {}\n# HELP keyward_db_connections_in_use Database connections busy now.\n# TYPE keyward_db_connections_in_use gauge\nkeyward_db_connections_in_use {}",
            pool.size, pool.in_use
        );
        let _ = writeln!(
            out,
            "# HELP keyward_grants_kept Key grants kept in memory, so verifying those keys reads no database.\n# TYPE keyward_grants_kept gauge\nkeyward_grants_kept {}\n# HELP keyward_grants_hearing Whether this instance hears every commit and so may keep grants (1), or reads the database at every verification (0).\n# TYPE keyward_grants_hearing gauge\nkeyward_grants_hearing {}",
            grants.kept,
            u8::from(grants.hearing)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_ready Whether this instance takes requests (1) or is draining or without its database (0).\n# TYPE keyward_ready gauge\nkeyward_ready {}",
            u8::from(ready)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_every_family_and_counts() {
        let metrics = Metrics::default();
        metrics.request("/v1/verify", "POST", 200);
        metrics.request("/v1/verify", "POST", 200);
        metrics.verification(VerifyResult::Disabled);
        metrics.rate_limited();
        metrics.pushed(3, Duration::from_millis(2));
        let grants = GrantsStatus {
            kept: 7,
            hearing: false,
        };
        let text = metrics.render(PoolStatus { size: 4, in_use: 1 }, grants, true);
        assert!(text.contains(
            "keyward_http_requests_total{route=\"/v1/verify\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains("keyward_verifications_total{result=\"DISABLED\"} 1"));
        assert!(text.contains("keyward_verifications_total{result=\"VALID\"} 0"));
        assert!(text.contains("keyward_verifications_rate_limited_total 1"));
        assert!(text.contains("keyward_sync_push_seconds_bucket{le=\"0.0025\"} 1"));
        assert!(text.contains("keyward_sync_push_seconds_bucket{le=\"0.001\"} 0"));
        assert!(text.contains("keyward_sync_push_seconds_count 1"));
        assert!(text.contains("keyward_sync_changes_pushed_total 3"));
        assert!(text.contains("keyward_db_connections_in_use 1"));
        assert!(text.contains("keyward_ready 1"));
        assert!(text.contains("keyward_grants_kept 7"));
        assert!(text.contains("keyward_grants_hearing 0"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert_eq!(line.split(' ').count(), 2, "{line}");
        }
    }
}
