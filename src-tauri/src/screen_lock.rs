//! Locks the vault when the administrator walks away: when the session's screen locks (the
//! screensaver's `ActiveChanged(true)` on the session bus, under its freedesktop or GNOME
//! name, or logind's `Lock` for this session) and when the machine is about to suspend
//! (logind's `PrepareForSleep(true)` on the system bus). One thread per signal waits on
//! D-Bus; without a bus the app runs on, locking after idle and on demand as before.

use std::thread;

use zbus::blocking::{Connection, MessageIterator};
use zbus::message::Type;
use zbus::MatchRule;

use crate::applog;
use crate::views::LockReason;

/// A signal that means "lock now" when its one boolean argument is true.
struct LockSignal {
    interface: &'static str,
    member: &'static str,
    reason: LockReason,
}

const SCREENSAVERS: [LockSignal; 2] = [
    LockSignal {
        interface: "org.freedesktop.ScreenSaver",
        member: "ActiveChanged",
        reason: LockReason::Screen,
    },
    LockSignal {
        interface: "org.gnome.ScreenSaver",
        member: "ActiveChanged",
        reason: LockReason::Screen,
    },
];

const SLEEP: LockSignal = LockSignal {
    interface: "org.freedesktop.login1.Manager",
    member: "PrepareForSleep",
    reason: LockReason::Suspend,
};

/// Starts listening, on a thread of its own (connecting to the buses takes a few round trips,
/// which the window's start need not wait for); `lock` is called on a listening thread.
pub fn listen(lock: impl Fn(LockReason) + Clone + Send + 'static) {
    let spawned = thread::Builder::new()
        .name("screen-lock".into())
        .spawn(move || connect(lock));
    if let Err(error) = spawned {
        applog::warn(&format!(
            "cannot start listening for the screen lock: {error}"
        ));
    }
}

fn connect(lock: impl Fn(LockReason) + Clone + Send + 'static) {
    match Connection::session() {
        Ok(bus) => {
            for signal in SCREENSAVERS {
                follow(&bus, signal, lock.clone());
            }
        }
        Err(error) => applog::warn(&format!(
            "no D-Bus session bus ({error}): the screen lock will not lock the vault"
        )),
    }
    match Connection::system() {
        Ok(bus) => {
            follow(&bus, SLEEP, lock.clone());
            follow_session_lock(&bus, lock);
        }
        Err(error) => applog::warn(&format!(
            "no D-Bus system bus ({error}): suspend and logind's lock will not lock the vault"
        )),
    }
}

/// logind's `Lock` of this process's login session (`loginctl lock-session`), when there is one.
fn follow_session_lock(bus: &Connection, lock: impl Fn(LockReason) + Send + 'static) {
    let session = bus
        .call_method(
            Some("org.freedesktop.login1"),
            "/org/freedesktop/login1",
            Some("org.freedesktop.login1.Manager"),
            "GetSessionByPID",
            &(std::process::id()),
        )
        .and_then(|reply| {
            reply
                .body()
                .deserialize::<zbus::zvariant::OwnedObjectPath>()
        });
    let Ok(path) = session else {
        return;
    };
    let what = "org.freedesktop.login1.Session.Lock";
    if let Some(rule) = match_rule(
        "org.freedesktop.login1.Session",
        "Lock",
        Some(path.as_str()),
    ) {
        spawn_listener(bus, rule, what, move |_| lock(LockReason::Screen));
    }
}

fn follow(bus: &Connection, signal: LockSignal, lock: impl Fn(LockReason) + Send + 'static) {
    let Some(rule) = match_rule(signal.interface, signal.member, None) else {
        return;
    };
    let what = format!("{}.{}", signal.interface, signal.member);
    let reason = signal.reason;
    spawn_listener(bus, rule, &what, move |message| {
        // `true`: the screen just locked / the machine is about to sleep.
        if message.body().deserialize::<bool>().unwrap_or(false) {
            lock(reason);
        }
    });
}

/// Signals of `interface.member` (from any sender: a forged one can only lock the vault).
fn match_rule(interface: &str, member: &str, path: Option<&str>) -> Option<zbus::OwnedMatchRule> {
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface(interface.to_owned())
        .and_then(|rule| rule.member(member.to_owned()))
        .and_then(|rule| match path {
            Some(path) => rule.path(path.to_owned()),
            None => Ok(rule),
        });
    rule.ok().map(|rule| rule.build().into())
}

fn spawn_listener(
    bus: &Connection,
    rule: zbus::OwnedMatchRule,
    what: &str,
    on_signal: impl Fn(&zbus::Message) + Send + 'static,
) {
    let messages = match MessageIterator::for_match_rule(rule, bus, Some(16)) {
        Ok(messages) => messages,
        Err(error) => {
            applog::warn(&format!("cannot listen for {what}: {error}"));
            return;
        }
    };
    let listening = what.to_string();
    let spawned = thread::Builder::new()
        .name("screen-lock".into())
        .spawn(move || {
            for message in messages.flatten() {
                on_signal(&message);
            }
            applog::warn(&format!(
                "stopped listening for {listening}: the bus went away"
            ));
        });
    if let Err(error) = spawned {
        applog::warn(&format!("cannot start the listener for {what}: {error}"));
    }
}
