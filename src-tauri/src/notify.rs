//! The desktop notification of the daily review: one org.freedesktop.Notifications
//! `Notify` call on the session bus (what GNOME, KDE and most other desktops answer, and
//! what works under Xvfb with a D-Bus session). Best effort: without a notification
//! service the window's own notice still says it.

use std::collections::HashMap;

use keyward_core::ReviewCounts;

pub const SERVICE: &str = "org.freedesktop.Notifications";
pub const PATH: &str = "/org/freedesktop/Notifications";

/// "Acme: 3 keys expire within 14 days, 5 unused for 90 days." — one line per account.
pub fn review_text(due: &[ReviewCounts]) -> String {
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    due.iter()
        .map(|counts| {
            let mut parts = Vec::new();
            if counts.expiring > 0 {
                parts.push(format!(
                    "{} within {} days",
                    plural(counts.expiring, "key expires", "keys expire"),
                    counts.expiring_days
                ));
            }
            if counts.unused > 0 {
                parts.push(format!(
                    "{} for {} days",
                    plural(counts.unused, "key unused", "keys unused"),
                    counts.unused_days
                ));
            }
            format!("{}: {}.", counts.account, parts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends the review as a desktop notification; whether a notification service took it.
pub fn review(due: &[ReviewCounts]) -> bool {
    send("Keyward: keys to review", &review_text(due)).is_ok()
}

fn send(summary: &str, body: &str) -> zbus::Result<()> {
    let connection = zbus::blocking::Connection::session()?;
    let hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
    connection.call_method(
        Some(SERVICE),
        PATH,
        Some(SERVICE),
        "Notify",
        &(
            "Keyward",
            0u32,
            "",
            summary,
            body,
            Vec::<&str>::new(),
            hints,
            -1i32,
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(account: &str, expiring: u64, unused: u64) -> ReviewCounts {
        ReviewCounts {
            account: account.into(),
            expiring,
            expiring_days: 14,
            unused,
            unused_days: 90,
        }
    }

    #[test]
    fn the_review_reads_as_one_line_per_account() {
        assert_eq!(
            review_text(&[counts("Acme", 3, 1), counts("Fleet", 0, 5)]),
            "Acme: 3 keys expire within 14 days, 1 key unused for 90 days.\n\
             Fleet: 5 keys unused for 90 days."
        );
    }
}
