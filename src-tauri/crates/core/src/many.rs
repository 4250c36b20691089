//! Adding many keys at once from what an administrator has at hand: a pasted
//! list of names (one a line), or a CSV file of `name,description,groups`
//! (groups separated by `;`). Every row is checked before anything is
//! created, and a bad row refuses the whole batch, named by its line — the
//! same all-or-nothing rule as `key create --names-from`.

use std::collections::HashMap;

use crate::accounts::{resolve, AccountRow};
use crate::keys::{ensure_name_free, group_ids, insert_key, key_count, KeyTemplate};
use crate::model::CreatedKey;
use crate::vault::{Change, Vault};
use crate::{validate, Error, NewKey, Result};

/// One key of a batch: its own name, description and groups; the rest comes
/// from the batch's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKeyRow {
    /// The line it came from (1-based), to name it in a refusal.
    pub line: usize,
    pub name: String,
    pub description: Option<String>,
    pub groups: Vec<String>,
}

/// Splits one CSV line into fields (RFC 4180 quoting: `"a, b"`, `""` for a quote).
fn csv_fields(line: &str, number: usize) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(Error::invalid(format!(
            "line {number}: a quote is not closed — end the field with \""
        )));
    }
    fields.push(field);
    Ok(fields)
}

/// Reads a CSV of `name,description,groups` (a first line `name,…` is a
/// header; description and groups may be left out; groups are separated by
/// `;`). Empty lines are skipped. A line with more than three fields or
/// without a name refuses the whole file.
pub fn parse_key_csv(text: &str) -> Result<Vec<NewKeyRow>> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields = csv_fields(line, number)?;
        if rows.is_empty() && fields[0].trim().eq_ignore_ascii_case("name") {
            continue;
        }
        if fields.len() > 3 {
            return Err(Error::invalid(format!(
                "line {number}: {} fields — write name,description,groups (groups separated by ;)",
                fields.len()
            )));
        }
        let field = |n: usize| {
            fields
                .get(n)
                .map(|f| f.trim().to_string())
                .unwrap_or_default()
        };
        rows.push(NewKeyRow {
            line: number,
            name: field(0),
            description: Some(field(1)).filter(|d| !d.is_empty()),
            groups: field(2)
                .split(';')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
        });
    }
    if rows.is_empty() {
        return Err(Error::invalid(
            "the file holds no keys: write one name,description,groups a line",
        ));
    }
    Ok(rows)
}

/// A pasted list of names, one a line (blank lines skipped), as rows.
pub fn parse_key_names(text: &str) -> Result<Vec<NewKeyRow>> {
    let rows: Vec<NewKeyRow> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| NewKeyRow {
            line: index + 1,
            name: line.trim().to_string(),
            ..NewKeyRow::default()
        })
        .collect();
    if rows.is_empty() {
        return Err(Error::invalid("no names given: write one key name a line"));
    }
    Ok(rows)
}

fn on_line(line: usize, err: impl std::fmt::Display) -> Error {
    Error::invalid(format!("line {line}: {err}"))
}

impl Vault {
    /// Creates one key per row in one transaction — all or none — each with
    /// its row's name, description and groups and the rest of `settings`
    /// (access, unbind, expiry). A bad row is refused by its line.
    pub fn create_key_rows(
        &mut self,
        account: Option<&str>,
        rows: &[NewKeyRow],
        settings: &NewKey,
    ) -> Result<Vec<CreatedKey>> {
        self.create_key_rows_then(account, rows, settings, |_, _, _| Ok(()))
    }

    /// [`Vault::create_key_rows`], with `hand_over` given the new keys inside the
    /// transaction, before it commits: when it fails, no key is created.
    pub(crate) fn create_key_rows_then(
        &mut self,
        account: Option<&str>,
        rows: &[NewKeyRow],
        settings: &NewKey,
        hand_over: impl FnOnce(&Change<'_>, &AccountRow, &[&CreatedKey]) -> Result<()>,
    ) -> Result<Vec<CreatedKey>> {
        if rows.is_empty() {
            return Err(Error::invalid("no keys to add"));
        }
        let base = KeyTemplate::from(settings)?;
        let mut seen = HashMap::new();
        let mut templates = Vec::with_capacity(rows.len());
        for row in rows {
            let name = validate::name("key", &row.name).map_err(|err| on_line(row.line, err))?;
            if let Some(first) = seen.insert(validate::fold(&name), row.line) {
                return Err(Error::Conflict(format!(
                    "line {}: the name {name:?} is on line {first} too: names are unique, ignoring case",
                    row.line
                )));
            }
            let description = match &row.description {
                Some(text) => {
                    validate::description(Some(text)).map_err(|err| on_line(row.line, err))?
                }
                None => base.description.clone(),
            };
            templates.push((
                name,
                KeyTemplate {
                    description,
                    ..base.clone()
                },
            ));
        }
        self.write(|change| {
            let account = resolve(change.tx, account)?;
            if key_count(change.tx, &account)? as usize + rows.len() > account.key_limit as usize {
                return Err(Error::KeyLimitReached {
                    account: account.name.clone(),
                    limit: account.key_limit,
                });
            }
            let mut created = Vec::with_capacity(rows.len());
            for (row, (name, template)) in rows.iter().zip(&templates) {
                let mut groups = settings.groups.clone();
                groups.extend(row.groups.iter().cloned());
                let groups = group_ids(change.tx, &account, &groups)
                    .map_err(|err| on_line(row.line, err))?;
                ensure_name_free(change.tx, &account, name, None)
                    .map_err(|err| Error::Conflict(format!("line {}: {err}", row.line)))?;
                created.push(insert_key(change, &account, name, template, &groups)?);
            }
            hand_over(change, &account, &created.iter().collect::<Vec<_>>())?;
            Ok(created)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_take_quotes_a_header_and_groups() {
        let rows = parse_key_csv(
            "name,description,groups\n\
             gate-1,North gate,gates;readers\n\
             \n\
             \"gate, 2\",\"Says \"\"hi\"\"\",\n\
             kiosk\r\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            NewKeyRow {
                line: 2,
                name: "gate-1".into(),
                description: Some("North gate".into()),
                groups: vec!["gates".into(), "readers".into()],
            }
        );
        assert_eq!(rows[1].name, "gate, 2");
        assert_eq!(rows[1].description.as_deref(), Some("Says \"hi\""));
        assert!(rows[1].groups.is_empty());
        assert_eq!((rows[2].line, rows[2].name.as_str()), (5, "kiosk"));
    }

    #[test]
    fn a_bad_csv_line_is_named() {
        for (text, line) in [("a,b,c,d\n", "line 1"), ("ok\n\"open,quote\n", "line 2")] {
            let err = parse_key_csv(text).unwrap_err().to_string();
            assert!(err.starts_with(line), "{err}");
        }
        assert!(parse_key_csv("name\n\n").is_err());
        assert_eq!(parse_key_names(" a \n\nb\n").unwrap()[1].line, 3);
    }
}
