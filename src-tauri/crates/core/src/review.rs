//! Expiring and stale keys: the review filters of the keys list (`--expiring`,
//! `--unused-for`), the counts behind the desktop's badge, and the rule that
//! the desktop warns about them once a day.
//!
//! A key a roll replaced is never in a review: its expiry is the roll's doing,
//! and it was replaced, not forgotten.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};

use crate::keys::KeyFilter;
use crate::model::ApiKey;
use crate::vault::Vault;
use crate::Result;

/// How long a key may go unused before the review counts it: 90 days.
pub const UNUSED_DAYS: u32 = 90;

/// The review part of a [`KeyFilter`], at one moment.
pub(crate) struct Review {
    now: OffsetDateTime,
    expiring_before: Option<OffsetDateTime>,
    unused_since: Option<OffsetDateTime>,
}

impl Review {
    pub fn new(filter: &KeyFilter, now: OffsetDateTime) -> Review {
        Review {
            now,
            expiring_before: filter.expiring_within.map(|window| now + window),
            unused_since: filter.unused_for.map(|window| now - window),
        }
    }

    pub fn admits(&self, key: &ApiKey) -> bool {
        if self.expiring_before.is_none() && self.unused_since.is_none() {
            return true;
        }
        if key.replaced_by.is_some() {
            return false;
        }
        if let Some(before) = self.expiring_before {
            if !key
                .expires_at
                .is_some_and(|at| at > self.now && at <= before)
            {
                return false;
            }
        }
        if let Some(since) = self.unused_since {
            if key.last_used_at.unwrap_or(key.created_at) > since {
                return false;
            }
        }
        true
    }
}

/// How many of an account's keys need a look.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewCounts {
    pub account: String,
    /// Keys that expire within `expiring_days` (the warning period, a setting).
    pub expiring: u64,
    pub expiring_days: u32,
    /// Keys unused for `unused_days` or more (never used: since their creation).
    pub unused: u64,
    pub unused_days: u32,
}

impl ReviewCounts {
    pub fn is_empty(&self) -> bool {
        self.expiring == 0 && self.unused == 0
    }
}

impl Vault {
    /// The review counts of one account, by the warning period in the settings.
    pub fn review_counts(&self, account: Option<&str>) -> Result<ReviewCounts> {
        let expiring_days = self.settings()?.expiry_warning_days;
        let count = |filter: KeyFilter| -> Result<u64> {
            Ok(self.list_keys(account, &filter)?.len() as u64)
        };
        let expiring = count(KeyFilter {
            expiring_within: Some(Duration::days(i64::from(expiring_days))),
            ..KeyFilter::default()
        })?;
        let unused = count(KeyFilter {
            unused_for: Some(Duration::days(i64::from(UNUSED_DAYS))),
            ..KeyFilter::default()
        })?;
        let account = crate::accounts::resolve(&self.conn, account)?.name;
        Ok(ReviewCounts {
            account,
            expiring,
            expiring_days,
            unused,
            unused_days: UNUSED_DAYS,
        })
    }

    /// The accounts whose keys need a look — but only the first time this is
    /// asked on `today` (the administrator's calendar day): the desktop warns
    /// once a day, on start. Later calls that day answer nothing.
    pub fn daily_review(&mut self, today: Date) -> Result<Vec<ReviewCounts>> {
        let day = today.to_string();
        let last: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'review_notified_on'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        if last.as_deref() == Some(day.as_str()) {
            return Ok(Vec::new());
        }
        let mut due = Vec::new();
        for account in self.list_accounts()? {
            let counts = self.review_counts(Some(&account.name))?;
            if !counts.is_empty() {
                due.push(counts);
            }
        }
        // Not an audited change: a note of when the desktop last warned.
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (name, value) VALUES ('review_notified_on', ?1)",
            params![day],
        )?;
        Ok(due)
    }
}
