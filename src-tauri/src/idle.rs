//! Auto-lock: the time of the administrator's last action, and a thread that locks the
//! session once it has been idle for the configured delay.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Clock {
    last_activity: Instant,
    timeout: Duration,
    /// Set while a vault is open: only then is there anything to lock.
    armed: bool,
    stopped: bool,
}

impl Clock {
    /// When the session is due to lock, if it is armed.
    fn deadline(&self) -> Option<Instant> {
        self.armed.then(|| self.last_activity + self.timeout)
    }
}

/// Shared by the session (which records activity) and the watcher thread.
#[derive(Debug)]
pub struct IdleClock {
    clock: Mutex<Clock>,
    changed: Condvar,
}

impl IdleClock {
    pub fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(IdleClock {
            clock: Mutex::new(Clock {
                last_activity: Instant::now(),
                timeout,
                armed: false,
                stopped: false,
            }),
            changed: Condvar::new(),
        })
    }

    fn clock(&self) -> MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The administrator did something: the delay starts over.
    pub fn touch(&self) {
        self.clock().last_activity = Instant::now();
        // No need to wake the watcher: it finds the later deadline when it wakes.
    }

    /// A vault was opened: start counting, with `timeout` from its settings.
    pub fn arm(&self, timeout: Duration) {
        let mut clock = self.clock();
        clock.armed = true;
        clock.timeout = timeout;
        clock.last_activity = Instant::now();
        self.changed.notify_all();
    }

    /// The settings changed while the vault is open.
    pub fn set_timeout(&self, timeout: Duration) {
        self.clock().timeout = timeout;
        self.changed.notify_all();
    }

    #[cfg(test)]
    pub fn timeout(&self) -> Duration {
        self.clock().timeout
    }

    pub fn disarm(&self) {
        self.clock().armed = false;
        self.changed.notify_all();
    }

    /// Ends the watcher thread (the session is going away).
    pub fn stop(&self) {
        self.clock().stopped = true;
        self.changed.notify_all();
    }

    /// Starts the thread that calls `lock` when the clock runs out. `lock` answers false
    /// once there is nothing left to lock (the session is gone): the thread then ends, as it
    /// does when the clock is stopped.
    pub fn watch(self: &Arc<Self>, lock: impl Fn() -> bool + Send + 'static) {
        let idle = Arc::clone(self);
        thread::Builder::new()
            .name("auto-lock".into())
            .spawn(move || idle.run(&lock))
            .expect("the OS can start a thread");
    }

    fn run(&self, lock: &dyn Fn() -> bool) {
        let mut clock = self.clock();
        loop {
            if clock.stopped {
                return;
            }
            let Some(deadline) = clock.deadline() else {
                clock = self
                    .changed
                    .wait(clock)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let now = Instant::now();
            if now < deadline {
                clock = self
                    .changed
                    .wait_timeout(clock, deadline - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            clock.armed = false;
            drop(clock);
            if !lock() {
                return;
            }
            clock = self.clock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_moves_with_activity_and_exists_only_while_armed() {
        let idle = IdleClock::new(Duration::from_secs(300));
        assert_eq!(idle.clock().deadline(), None, "nothing to lock yet");
        idle.arm(Duration::from_secs(60));
        let first = idle.clock().deadline().unwrap();
        thread::sleep(Duration::from_millis(5));
        idle.touch();
        let later = idle.clock().deadline().unwrap();
        assert!(later > first);
        assert_eq!(later, idle.clock().last_activity + Duration::from_secs(60));
        idle.disarm();
        assert_eq!(idle.clock().deadline(), None);
    }
}
