//! The merge rules for a field two desktops changed without seeing each
//! other's change: pure functions over the two values and who made them, so
//! the server applies them and property tests check them.
//!
//! Where the same field changed on both sides the security-conservative value
//! wins: inactive beats active, the earlier expiry wins, a group keeps only
//! the scopes both sides grant, and a key's access type, unbind flag and
//! groups, judged together, never grant more than either side granted. Other
//! fields: the later change wins. Every rule gives the same result whichever
//! side arrived first.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::access::{self, Grant, Request, DEVICES};
use crate::wire::KeyPermissions;
use crate::{KeyStatus, Method, Scope};
use time::OffsetDateTime;
use uuid::Uuid;

/// The rules, as `Conflict::rule` reports them.
pub mod rule {
    pub const INACTIVE_BEATS_ACTIVE: &str = "inactive beats active";
    pub const DELETED_BEATS_EDITED: &str = "deleted beats edited";
    pub const EARLIER_EXPIRY_WINS: &str = "the earlier expiry wins";
    pub const LATER_CHANGE_WINS: &str = "the later change wins";
    pub const LESSER_PERMISSIONS_WIN: &str =
        "the lesser permissions win (access type, unbind and groups judged together)";
    pub const EQUAL_PERMISSIONS: &str = "both grant the same permissions: the later change wins";
    pub const INCOMPARABLE_PERMISSIONS: &str =
        "neither side's permissions include the other's: the later change's are kept and the key is made inactive";
    pub const SCOPES_INTERSECT: &str = "a group keeps only the scopes both sides grant";
    pub const NAME_TAKEN: &str = "name already taken on the server";
}

/// Who made a change and when, ordering changes totally: by `at`, then by
/// origin, then by idempotency id (ties broken the same way on every server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub at: OffsetDateTime,
    pub origin: Uuid,
    pub idempotency_id: Uuid,
}

/// One side of a conflict: the value a change set and who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side<T> {
    pub value: T,
    pub stamp: Stamp,
}

impl<T> Side<T> {
    pub fn new(value: T, stamp: Stamp) -> Side<T> {
        Side { value, stamp }
    }
}

/// Inactive beats active.
pub fn status(a: KeyStatus, b: KeyStatus) -> KeyStatus {
    if a == KeyStatus::Inactive || b == KeyStatus::Inactive {
        KeyStatus::Inactive
    } else {
        KeyStatus::Active
    }
}

/// The earlier expiry wins; no expiry is the latest of all.
pub fn expires_at(a: Option<OffsetDateTime>, b: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (Some(at), None) | (None, Some(at)) => Some(at),
        (None, None) => None,
    }
}

/// The later change wins (name, description).
pub fn later<T: Clone>(a: &Side<T>, b: &Side<T>) -> T {
    if b.stamp > a.stamp {
        b.value.clone()
    } else {
        a.value.clone()
    }
}

/// A group's scopes: only what both sides grant.
pub fn scopes(a: &BTreeSet<Scope>, b: &BTreeSet<Scope>) -> BTreeSet<Scope> {
    a.intersection(b).cloned().collect()
}

/// The live groups' scopes, by id. A group missing here (deleted or unknown)
/// grants nothing.
pub type GroupScopes = BTreeMap<Uuid, BTreeSet<Scope>>;

/// The outcome of [`permissions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPermissions {
    pub value: KeyPermissions,
    /// Neither side's permissions include the other's: the key must become inactive.
    pub deactivate: bool,
    pub rule: &'static str,
}

/// Access type, unbind and groups changed on both sides. If one side's
/// effective permissions are a subset of the other's, the lesser side wins
/// whole; equal permissions: the later change wins; incomparable: the later
/// change's values are kept and the key is made inactive.
pub fn permissions(
    a: &Side<KeyPermissions>,
    b: &Side<KeyPermissions>,
    groups: &GroupScopes,
) -> MergedPermissions {
    let (value, deactivate, rule) = match compare_permissions(&a.value, &b.value, groups) {
        Some(Ordering::Less) => (a.value.clone(), false, rule::LESSER_PERMISSIONS_WIN),
        Some(Ordering::Greater) => (b.value.clone(), false, rule::LESSER_PERMISSIONS_WIN),
        Some(Ordering::Equal) => (later(a, b), false, rule::EQUAL_PERMISSIONS),
        None => (later(a, b), true, rule::INCOMPARABLE_PERMISSIONS),
    };
    MergedPermissions {
        value,
        deactivate,
        rule,
    }
}

/// Compares what two settings allow, by the model's own decision over
/// every method, on every resource either side's scopes name, on `devices`
/// (where unbinding happens) and on one resource neither names, with and
/// without unbind. `None`: each allows something the other does not.
pub fn compare_permissions(
    a: &KeyPermissions,
    b: &KeyPermissions,
    groups: &GroupScopes,
) -> Option<Ordering> {
    let (a_scopes, b_scopes) = (effective_scopes(a, groups), effective_scopes(b, groups));
    let mut resources: BTreeSet<String> = a_scopes
        .iter()
        .chain(b_scopes.iter())
        .flatten()
        .map(|scope| scope.resource.clone())
        .collect();
    resources.insert(DEVICES.to_string());
    resources.insert(unnamed_resource(&resources));
    let allowed_a = allowed(a, a_scopes.as_ref(), &resources);
    let allowed_b = allowed(b, b_scopes.as_ref(), &resources);
    match (
        allowed_a.is_subset(&allowed_b),
        allowed_b.is_subset(&allowed_a),
    ) {
        (true, true) => Some(Ordering::Equal),
        (true, false) => Some(Ordering::Less),
        (false, true) => Some(Ordering::Greater),
        (false, false) => None,
    }
}

/// The union of the key's groups' scopes; `None` for a key without groups.
fn effective_scopes(permissions: &KeyPermissions, groups: &GroupScopes) -> Option<BTreeSet<Scope>> {
    if permissions.groups.is_empty() {
        return None;
    }
    Some(
        permissions
            .groups
            .iter()
            .filter_map(|id| groups.get(id))
            .flatten()
            .cloned()
            .collect(),
    )
}

/// A valid resource name not in `named`.
fn unnamed_resource(named: &BTreeSet<String>) -> String {
    (0..)
        .map(|n| format!("unnamed-{n}"))
        .find(|candidate| !named.contains(candidate))
        .unwrap_or_default()
}

/// Every request over `resources` the settings allow, by `access::decide`.
fn allowed(
    permissions: &KeyPermissions,
    scopes: Option<&BTreeSet<Scope>>,
    resources: &BTreeSet<String>,
) -> BTreeSet<(usize, String, bool)> {
    let grant = Grant {
        access: permissions.access,
        allow_unbind: permissions.allow_unbind,
        scopes,
    };
    let mut allowed = BTreeSet::new();
    for (index, method) in Method::ALL.into_iter().enumerate() {
        for resource in resources {
            for unbind in [false, true] {
                let Ok(request) = Request::new(method, resource, unbind) else {
                    continue;
                };
                if access::decide(&grant, &request).is_ok() {
                    allowed.insert((index, resource.clone(), request.unbind));
                }
            }
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessType, Action};
    use proptest::prelude::*;
    use time::macros::datetime;

    fn stamp(seconds: i64, origin: u128, id: u128) -> Stamp {
        Stamp {
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap(),
            origin: Uuid::from_u128(origin),
            idempotency_id: Uuid::from_u128(id),
        }
    }

    fn perms(access: AccessType, allow_unbind: bool, groups: &[u128]) -> KeyPermissions {
        KeyPermissions {
            access,
            allow_unbind,
            groups: groups.iter().map(|id| Uuid::from_u128(*id)).collect(),
        }
    }

    fn scope_set(scopes: &[&str]) -> BTreeSet<Scope> {
        scopes.iter().map(|s| s.parse().unwrap()).collect()
    }

    /// Group 1 reads devices, group 2 writes devices, group 3 reads and
    /// writes devices, group 4 reads sessions; group 9 does not exist.
    fn groups() -> GroupScopes {
        BTreeMap::from([
            (Uuid::from_u128(1), scope_set(&["devices:read"])),
            (Uuid::from_u128(2), scope_set(&["devices:write"])),
            (
                Uuid::from_u128(3),
                scope_set(&["devices:read", "devices:write"]),
            ),
            (Uuid::from_u128(4), scope_set(&["sessions:read"])),
        ])
    }

    fn merge(a: KeyPermissions, b: KeyPermissions) -> MergedPermissions {
        permissions(
            &Side::new(a, stamp(0, 1, 1)),
            &Side::new(b, stamp(5, 2, 2)),
            &groups(),
        )
    }

    #[test]
    fn read_against_write_keeps_the_later_and_deactivates() {
        let merged = merge(
            perms(AccessType::Read, false, &[]),
            perms(AccessType::Write, false, &[]),
        );
        assert_eq!(merged.value, perms(AccessType::Write, false, &[]));
        assert!(merged.deactivate);
        assert_eq!(merged.rule, rule::INCOMPARABLE_PERMISSIONS);
    }

    #[test]
    fn the_lesser_side_wins_whole_even_when_it_came_first() {
        let merged = merge(
            perms(AccessType::Write, false, &[]),
            perms(AccessType::Write, true, &[]),
        );
        assert_eq!(merged.value, perms(AccessType::Write, false, &[]));
        assert!(!merged.deactivate);
        // Groups narrow: READ_WRITE in group 1 is less than READ_WRITE alone.
        let merged = merge(
            perms(AccessType::ReadWrite, false, &[]),
            perms(AccessType::ReadWrite, false, &[1]),
        );
        assert_eq!(merged.value, perms(AccessType::ReadWrite, false, &[1]));
        assert_eq!(merged.rule, rule::LESSER_PERMISSIONS_WIN);
    }

    #[test]
    fn permissions_are_judged_by_effect_not_by_the_number_of_groups() {
        // Two groups that together grant what group 3 grants alone: equal, so the later wins.
        let merged = merge(
            perms(AccessType::ReadWrite, false, &[1, 2]),
            perms(AccessType::ReadWrite, false, &[3]),
        );
        assert_eq!(merged.value, perms(AccessType::ReadWrite, false, &[3]));
        assert_eq!(merged.rule, rule::EQUAL_PERMISSIONS);
        // More groups, but one is gone: the deleted group grants nothing.
        let merged = merge(
            perms(AccessType::ReadWrite, false, &[1]),
            perms(AccessType::ReadWrite, false, &[1, 9]),
        );
        assert_eq!(merged.rule, rule::EQUAL_PERMISSIONS);
        // A key whose only group is gone grants nothing: less than anything.
        let merged = merge(
            perms(AccessType::ReadWrite, true, &[]),
            perms(AccessType::ReadWrite, true, &[9]),
        );
        assert_eq!(merged.value, perms(AccessType::ReadWrite, true, &[9]));
        assert!(!merged.deactivate);
        // Devices vs sessions: neither includes the other.
        let merged = merge(
            perms(AccessType::Read, false, &[1]),
            perms(AccessType::Read, false, &[4]),
        );
        assert!(merged.deactivate);
    }

    #[test]
    fn a_key_with_groups_is_less_than_its_access_type_alone_even_where_they_name_everything() {
        // The groups read every resource they name; the key without groups reads any resource.
        let everything = BTreeMap::from([(
            Uuid::from_u128(6),
            scope_set(&["devices:read", "sessions:read", "passings:read"]),
        )]);
        assert_eq!(
            compare_permissions(
                &perms(AccessType::Read, false, &[6]),
                &perms(AccessType::Read, false, &[]),
                &everything
            ),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn unbind_counts_only_where_it_can_be_used() {
        assert_eq!(
            compare_permissions(
                &perms(AccessType::Write, false, &[2]),
                &perms(AccessType::Write, true, &[2]),
                &groups()
            ),
            Some(Ordering::Equal),
            "without devices:delete in its groups, unbind grants nothing more"
        );
        let with_delete = BTreeMap::from([(
            Uuid::from_u128(5),
            scope_set(&["devices:write", "devices:delete"]),
        )]);
        assert_eq!(
            compare_permissions(
                &perms(AccessType::Write, false, &[5]),
                &perms(AccessType::Write, true, &[5]),
                &with_delete
            ),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn the_simple_rules() {
        assert_eq!(
            status(KeyStatus::Active, KeyStatus::Inactive),
            KeyStatus::Inactive
        );
        assert_eq!(
            status(KeyStatus::Active, KeyStatus::Active),
            KeyStatus::Active
        );
        let (early, late) = (
            datetime!(2027-01-15 08:00 UTC),
            datetime!(2028-01-01 0:00 UTC),
        );
        assert_eq!(expires_at(Some(late), Some(early)), Some(early));
        assert_eq!(expires_at(None, Some(late)), Some(late));
        assert_eq!(expires_at(None, None), None);
        assert_eq!(
            scopes(
                &scope_set(&["devices:read", "devices:write"]),
                &scope_set(&["devices:write", "sessions:read"])
            ),
            scope_set(&["devices:write"])
        );
        let (a, b) = (
            Side::new("gate", stamp(0, 9, 1)),
            Side::new("door", stamp(1, 1, 2)),
        );
        assert_eq!(later(&a, &b), "door", "the later `at` wins");
        let (a, b) = (
            Side::new("gate", stamp(1, 9, 1)),
            Side::new("door", stamp(1, 1, 2)),
        );
        assert_eq!(later(&a, &b), "gate", "at the same time, the higher origin");
    }

    fn any_status() -> impl Strategy<Value = KeyStatus> {
        prop::sample::select(vec![KeyStatus::Active, KeyStatus::Inactive])
    }

    fn any_expiry() -> impl Strategy<Value = Option<OffsetDateTime>> {
        prop::option::of(
            (0i64..1_000)
                .prop_map(|n| OffsetDateTime::from_unix_timestamp(1_800_000_000 + n).unwrap()),
        )
    }

    fn any_scopes() -> impl Strategy<Value = BTreeSet<Scope>> {
        prop::collection::btree_set(
            (
                prop::sample::select(vec!["devices", "sessions", "passings"]),
                prop::sample::select(Action::ALL.to_vec()),
            )
                .prop_map(|(resource, action)| Scope::new(resource, action)),
            0..6,
        )
    }

    fn any_stamp() -> impl Strategy<Value = Stamp> {
        // Few distinct times and origins, so ties on both are common.
        (0i64..3, 0u128..3, any::<u128>()).prop_map(|(at, origin, id)| stamp(at, origin, id))
    }

    /// Two stamps of two different changes.
    fn two_stamps() -> impl Strategy<Value = (Stamp, Stamp)> {
        (any_stamp(), any_stamp())
            .prop_filter("two changes", |(a, b)| a.idempotency_id != b.idempotency_id)
    }

    fn any_permissions() -> impl Strategy<Value = KeyPermissions> {
        (
            prop::sample::select(AccessType::ALL.to_vec()),
            any::<bool>(),
            // Ids 1 to 6 may exist; 7 never does.
            prop::collection::btree_set(1u128..8, 0..3),
        )
            .prop_map(|(access, allow_unbind, groups)| KeyPermissions {
                access,
                // A READ key never carries the flag (the vault refuses it).
                allow_unbind: allow_unbind && access != AccessType::Read,
                groups: groups.into_iter().map(Uuid::from_u128).collect(),
            })
    }

    fn any_groups() -> impl Strategy<Value = GroupScopes> {
        prop::collection::btree_map(1u128..7, any_scopes(), 0..6).prop_map(|groups| {
            groups
                .into_iter()
                .map(|(id, scopes)| (Uuid::from_u128(id), scopes))
                .collect()
        })
    }

    /// Every request the core allows on the test's resources (the ones the
    /// scopes may name and one they never do), computed here independently.
    fn grants(permissions: &KeyPermissions, groups: &GroupScopes) -> BTreeSet<String> {
        let scopes: Option<BTreeSet<Scope>> = (!permissions.groups.is_empty()).then(|| {
            permissions
                .groups
                .iter()
                .filter_map(|id| groups.get(id))
                .flatten()
                .cloned()
                .collect()
        });
        let grant = Grant {
            access: permissions.access,
            allow_unbind: permissions.allow_unbind,
            scopes: scopes.as_ref(),
        };
        let mut granted = BTreeSet::new();
        for method in Method::ALL {
            for resource in ["devices", "sessions", "passings", "elsewhere"] {
                for unbind in [false, true] {
                    if let Ok(request) = Request::new(method, resource, unbind) {
                        if access::decide(&grant, &request).is_ok() {
                            granted.insert(format!("{method:?} {resource} {}", request.unbind));
                        }
                    }
                }
            }
        }
        granted
    }

    proptest! {
        #[test]
        fn status_is_commutative_idempotent_and_never_more_active(a in any_status(), b in any_status()) {
            prop_assert_eq!(status(a, b), status(b, a));
            prop_assert_eq!(status(a, a), a);
            if status(a, b) == KeyStatus::Active {
                prop_assert!(a == KeyStatus::Active && b == KeyStatus::Active);
            }
        }

        #[test]
        fn expiry_is_commutative_idempotent_and_never_later_than_either(a in any_expiry(), b in any_expiry()) {
            let merged = expires_at(a, b);
            prop_assert_eq!(merged, expires_at(b, a));
            prop_assert_eq!(expires_at(a, a), a);
            for side in [a, b].into_iter().flatten() {
                prop_assert!(merged.is_some_and(|merged| merged <= side), "{merged:?} outlives {side}");
            }
            prop_assert!(merged == a || merged == b);
        }

        #[test]
        fn the_later_change_wins_whichever_arrives_first((sa, sb) in two_stamps(), a in ".{0,4}", b in ".{0,4}") {
            let (a, b) = (Side::new(a, sa), Side::new(b, sb));
            prop_assert_eq!(later(&a, &b), later(&b, &a));
            prop_assert_eq!(later(&a, &a), a.value.clone());
            let expected = if sa > sb { &a.value } else { &b.value };
            prop_assert_eq!(&later(&a, &b), expected);
        }

        #[test]
        fn scopes_are_commutative_idempotent_and_never_wider(a in any_scopes(), b in any_scopes()) {
            let merged = scopes(&a, &b);
            prop_assert_eq!(&merged, &scopes(&b, &a));
            prop_assert_eq!(scopes(&a, &a), a.clone());
            prop_assert!(merged.is_subset(&a) && merged.is_subset(&b));
        }

        #[test]
        fn permissions_merge_commutes_and_never_grants_more_than_either(
            a in any_permissions(), b in any_permissions(), (sa, sb) in two_stamps(), groups in any_groups()
        ) {
            let (a, b) = (Side::new(a, sa), Side::new(b, sb));
            let merged = permissions(&a, &b, &groups);
            prop_assert_eq!(&merged, &permissions(&b, &a, &groups));
            prop_assert!(merged.value == a.value || merged.value == b.value, "one side's values, whole");
            let kept = grants(&merged.value, &groups);
            let (grants_a, grants_b) = (grants(&a.value, &groups), grants(&b.value, &groups));
            if merged.deactivate {
                // Inactive grants nothing; only sides neither of which includes the other deactivate.
                prop_assert!(!grants_a.is_subset(&grants_b) && !grants_b.is_subset(&grants_a));
                prop_assert_eq!(&merged.value, if sa > sb { &a.value } else { &b.value });
            } else {
                prop_assert!(kept.is_subset(&grants_a) && kept.is_subset(&grants_b),
                    "{:?} grants more than {:?} or {:?}", merged.value, a.value, b.value);
            }
        }

        #[test]
        fn permissions_merge_is_idempotent(a in any_permissions(), s in any_stamp(), groups in any_groups()) {
            let a = Side::new(a, s);
            let merged = permissions(&a, &a, &groups);
            prop_assert_eq!(merged.value, a.value);
            prop_assert!(!merged.deactivate);
        }
    }
}
