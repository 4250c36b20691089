//! Failed verifications per client address: a token bucket each, in memory.
//!
//! A verification runs first (it costs microseconds) and a VALID one is
//! answered whatever the bucket holds: another client's failures, behind the
//! same NAT or proxy, never lock a working device out. Only a failure takes a
//! token — checked and taken under one lock, so concurrent guesses cannot
//! overdraw the bucket — and a failure finding the bucket empty is answered
//! 429 instead of its result. Full buckets are swept away off the request
//! path ([`FailureLimiter::sweep`], on a timer). IPv6 clients are limited per
//! /64, the block a single host usually holds.

use std::collections::HashMap;

use async_trait::async_trait;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Failures allowed at once.
    pub burst: u32,
    /// Failures allowed per second over time.
    pub per_second: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            burst: 10,
            per_second: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct FailureLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
    }
}

impl FailureLimiter {
    pub fn new(limit: RateLimit) -> FailureLimiter {
        FailureLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() * self.limit.per_second;
        Bucket {
            tokens: (bucket.tokens + earned).min(f64::from(self.limit.burst)),
            at: now,
        }
    }

    fn wait_for_one(&self, tokens: f64) -> Duration {
        let wait = if self.limit.per_second > 0.0 {
            (1.0 - tokens) / self.limit.per_second
        } else {
            3600.0
        };
        Duration::from_secs_f64(wait.clamp(0.0, 3600.0))
    }

    /// Charges one failed verification to `address`: `Ok` when its bucket had
    /// a token (the failure is answered as it is), else how long to wait (the
    /// failure is answered 429).
    pub fn charge(&self, address: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let full = Bucket {
            tokens: f64::from(self.limit.burst),
            at: now,
        };
        let bucket = buckets.entry(client_key(address)).or_insert(full);
        *bucket = self.refilled(*bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(self.wait_for_one(bucket.tokens))
        }
    }

    /// Forgets the buckets that have refilled (clients that stopped failing).
    pub fn sweep(&self) {
        let now = Instant::now();
        let burst = f64::from(self.limit.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.retain(|_, bucket| self.refilled(*bucket, now).tokens < burst);
    }

    /// How many clients have failed recently (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Where failed verifications are counted: in this process (one instance),
/// or in the database every instance shares.
#[async_trait]
pub trait FailureBudget: Send + Sync + 'static {
    /// Charges one failed verification to `client`: `Ok` when its budget had
    /// one left, else how long until it will.
    async fn charge(&self, client: IpAddr) -> Result<(), Duration>;
    /// Forgets the clients whose budgets refilled (off the request path).
    async fn sweep(&self);
}

#[async_trait]
impl FailureBudget for FailureLimiter {
    async fn charge(&self, client: IpAddr) -> Result<(), Duration> {
        FailureLimiter::charge(self, client)
    }

    async fn sweep(&self) {
        FailureLimiter::sweep(self)
    }
}

/// The budget in PostgreSQL, shared by every instance on the database, so
/// N instances do not allow N times the failures.
pub struct SharedFailureBudget {
    pub backend: std::sync::Arc<crate::store::postgres::PgBackend>,
    pub limit: RateLimit,
}

#[async_trait]
impl FailureBudget for SharedFailureBudget {
    async fn charge(&self, client: IpAddr) -> Result<(), Duration> {
        let client = client_key(client);
        match self
            .backend
            .charge_failure(client, self.limit.burst, self.limit.per_second)
            .await
        {
            Ok(answer) => answer,
            // Not knowing the budget, a failure is refused rather than allowed.
            Err(err) => {
                tracing::warn!("the shared failure budget could not be read: {err}");
                Err(Duration::from_secs(1))
            }
        }
    }

    async fn sweep(&self) {
        if let Err(err) = self
            .backend
            .sweep_failures(self.limit.burst, self.limit.per_second)
            .await
        {
            tracing::warn!("the shared failure budget was not swept: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_drain_the_bucket_and_an_empty_one_refuses_failures() {
        let limiter = FailureLimiter::new(RateLimit {
            burst: 3,
            per_second: 0.001,
        });
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            limiter.charge(client).unwrap();
        }
        let wait = limiter.charge(client).unwrap_err();
        assert!(wait > Duration::from_secs(100), "{wait:?}");
        assert!(
            limiter.charge("192.0.2.8".parse().unwrap()).is_ok(),
            "another address has its own bucket"
        );
    }

    #[test]
    fn concurrent_failures_never_overdraw_the_bucket() {
        let limiter = std::sync::Arc::new(FailureLimiter::new(RateLimit {
            burst: 10,
            per_second: 0.0001,
        }));
        let client: IpAddr = "192.0.2.10".parse().unwrap();
        let allowed: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let limiter = &limiter;
                    scope.spawn(move || (0..50).filter(|_| limiter.charge(client).is_ok()).count())
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(allowed, 10, "400 concurrent failures, a burst of 10");
    }

    #[test]
    fn an_ipv6_host_is_limited_per_64() {
        let limiter = FailureLimiter::new(RateLimit {
            burst: 1,
            per_second: 0.001,
        });
        limiter.charge("2001:db8::1".parse().unwrap()).unwrap();
        assert!(limiter.charge("2001:db8::ffff:2".parse().unwrap()).is_err());
        assert!(limiter.charge("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_bucket_refills_over_time_and_full_ones_are_swept() {
        let limiter = FailureLimiter::new(RateLimit {
            burst: 1,
            per_second: 50.0,
        });
        let client: IpAddr = "192.0.2.9".parse().unwrap();
        limiter.charge(client).unwrap();
        assert!(limiter.charge(client).is_err());
        limiter.sweep();
        assert_eq!(limiter.tracked(), 1, "a drained bucket is kept");
        std::thread::sleep(Duration::from_millis(60));
        limiter.sweep();
        assert_eq!(limiter.tracked(), 0, "a refilled bucket is swept");
        assert!(limiter.charge(client).is_ok());
    }
}
