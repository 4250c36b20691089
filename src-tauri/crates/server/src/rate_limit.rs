//! Failed verifications per client address: a token bucket each, in memory.
//!
//! A verification takes a token before it runs and gives it back when the key
//! was VALID, so only failures drain the bucket and a burst of concurrent
//! guesses cannot overdraw it. IPv6 clients are limited per /64, the block a
//! single host usually holds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets beyond this many trigger a sweep of the full (idle) ones.
const SWEEP_ABOVE: usize = 10_000;

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

    /// The bucket of `address`, refilled to now (created full).
    fn with_bucket<T>(&self, address: IpAddr, work: impl FnOnce(&mut Bucket) -> T) -> T {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            let burst = f64::from(self.limit.burst);
            buckets.retain(|_, bucket| self.refilled(*bucket, now).tokens < burst);
        }
        let full = Bucket {
            tokens: f64::from(self.limit.burst),
            at: now,
        };
        let bucket = buckets.entry(client_key(address)).or_insert(full);
        *bucket = self.refilled(*bucket, now);
        work(bucket)
    }

    /// Whether `address` may verify now, or how long it must wait: only its
    /// failures count, so any number of valid verifications pass.
    pub fn check(&self, address: IpAddr) -> Result<(), Duration> {
        self.with_bucket(address, |bucket| {
            if bucket.tokens >= 1.0 {
                return Ok(());
            }
            let wait = if self.limit.per_second > 0.0 {
                (1.0 - bucket.tokens) / self.limit.per_second
            } else {
                3600.0
            };
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        })
    }

    /// Counts a verification from `address` that was not VALID.
    pub fn charge(&self, address: IpAddr) {
        self.with_bucket(address, |bucket| {
            bucket.tokens = (bucket.tokens - 1.0).max(0.0)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_drain_the_bucket_and_successes_do_not() {
        let limiter = FailureLimiter::new(RateLimit {
            burst: 3,
            per_second: 0.001,
        });
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        // Valid verifications, any number of them, in flight together or not.
        for _ in 0..100 {
            limiter.check(client).unwrap();
        }
        for _ in 0..3 {
            limiter.check(client).unwrap();
            limiter.charge(client);
        }
        let wait = limiter.check(client).unwrap_err();
        assert!(wait > Duration::from_secs(100), "{wait:?}");
        assert!(
            limiter.check("192.0.2.8".parse().unwrap()).is_ok(),
            "another address has its own bucket"
        );
    }

    #[test]
    fn an_ipv6_host_is_limited_per_64() {
        let limiter = FailureLimiter::new(RateLimit {
            burst: 1,
            per_second: 0.001,
        });
        limiter.charge("2001:db8::1".parse().unwrap());
        assert!(limiter.check("2001:db8::ffff:2".parse().unwrap()).is_err());
        assert!(limiter.check("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn the_bucket_refills_over_time() {
        let limiter = FailureLimiter::new(RateLimit {
            burst: 1,
            per_second: 50.0,
        });
        let client: IpAddr = "192.0.2.9".parse().unwrap();
        limiter.charge(client);
        assert!(limiter.check(client).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.check(client).is_ok());
    }
}
