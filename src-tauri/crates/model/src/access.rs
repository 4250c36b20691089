//! What a key may do: access types, scopes and the permission decision.
//!
//! The decision is a pure function so the desktop, the CLI and the remote API
//! share one implementation, and property tests can cover every combination.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The resources an account's scopes range over unless configured otherwise.
pub const DEFAULT_RESOURCES: [&str; 3] = ["devices", "sessions", "passings"];
/// The resource whose DELETE is an unbind.
pub const DEVICES: &str = "devices";

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessType {
    Read,
    Write,
    ReadWrite,
}

impl AccessType {
    pub const ALL: [AccessType; 3] = [AccessType::Read, AccessType::Write, AccessType::ReadWrite];

    pub fn as_str(&self) -> &'static str {
        match self {
            AccessType::Read => "READ",
            AccessType::Write => "WRITE",
            AccessType::ReadWrite => "READ_WRITE",
        }
    }

    /// Whether the access type alone allows `method` (unbind handled separately).
    pub fn allows(&self, method: Method, unbind: bool) -> bool {
        match self {
            AccessType::Read => matches!(method, Method::Get | Method::Head),
            AccessType::Write => {
                matches!(method, Method::Post | Method::Patch | Method::Put)
                    || (unbind && method == Method::Delete)
            }
            AccessType::ReadWrite => true,
        }
    }
}

impl fmt::Display for AccessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessType {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "READ" => Ok(AccessType::Read),
            "WRITE" => Ok(AccessType::Write),
            "READ_WRITE" => Ok(AccessType::ReadWrite),
            _ => Err(Error::invalid(format!(
                "unknown access type {text:?}: use READ, WRITE or READ_WRITE"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Head,
    Post,
    Patch,
    Put,
    Delete,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Patch,
        Method::Put,
        Method::Delete,
    ];

    /// The scope action a method needs.
    pub fn action(&self) -> Action {
        match self {
            Method::Get | Method::Head => Action::Read,
            Method::Post | Method::Patch | Method::Put => Action::Write,
            Method::Delete => Action::Delete,
        }
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        match text.trim().to_ascii_uppercase().as_str() {
            "GET" => Ok(Method::Get),
            "HEAD" => Ok(Method::Head),
            "POST" => Ok(Method::Post),
            "PATCH" => Ok(Method::Patch),
            "PUT" => Ok(Method::Put),
            "DELETE" => Ok(Method::Delete),
            _ => Err(Error::invalid(format!(
                "unknown method {text:?}: use GET, HEAD, POST, PATCH, PUT or DELETE"
            ))),
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Read,
    Write,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Read, Action::Write, Action::Delete];

    /// The action named `text` (`read`, `write` or `delete`), as scopes spell it.
    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Delete => "delete",
        }
    }
}

/// `resource:action`, e.g. `devices:write`.
// Serialized as the text `resource:action` (see the `Serialize` impl below).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub resource: String,
    pub action: Action,
}

impl Scope {
    pub fn new(resource: &str, action: Action) -> Scope {
        Scope {
            resource: resource.to_string(),
            action,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "invalid scope {text:?}: write RESOURCE:ACTION, e.g. devices:read, with ACTION read, write or delete"
            ))
        };
        let (resource, action) = text.trim().split_once(':').ok_or_else(bad)?;
        let action = Action::parse(action).ok_or_else(bad)?;
        validate_resource(resource)?;
        Ok(Scope::new(resource, action))
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

pub fn validate_resource(resource: &str) -> Result<()> {
    let ok = (1..=32).contains(&resource.len())
        && resource
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase())
        && resource
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid resource {resource:?}: use lowercase letters, digits, '-' or '_', starting with a letter"
        )))
    }
}

/// A request a key is presented for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub resource: String,
    /// Unbinding a device. A DELETE on `devices` is always an unbind.
    pub unbind: bool,
}

impl Request {
    pub fn new(method: Method, resource: &str, unbind: bool) -> Result<Request> {
        validate_resource(resource)?;
        if unbind && (method != Method::Delete || resource != DEVICES) {
            return Err(Error::invalid(
                "an unbind is a DELETE on devices: ask for the method DELETE on the resource devices",
            ));
        }
        Ok(Request {
            method,
            resource: resource.to_string(),
            unbind: unbind || (method == Method::Delete && resource == DEVICES),
        })
    }
}

/// What a key's settings allow; `groups` is `None` for a key with no groups.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub access: AccessType,
    pub allow_unbind: bool,
    pub scopes: Option<&'a BTreeSet<Scope>>,
}

/// Why a request is refused, in the verification order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    Method,
    Unbind,
    Scope,
}

/// The permission part of verification: method by access type, then the
/// unbind rule, then group scopes. A key with groups never gets more than the
/// union of its groups' scopes.
pub fn decide(grant: &Grant<'_>, request: &Request) -> Result<(), Denial> {
    if !grant.access.allows(request.method, request.unbind) {
        return Err(Denial::Method);
    }
    if request.unbind && (grant.access == AccessType::Read || !grant.allow_unbind) {
        return Err(Denial::Unbind);
    }
    if let Some(scopes) = grant.scopes {
        let needed = Scope::new(&request.resource, request.method.action());
        if !scopes.contains(&needed) {
            return Err(Denial::Scope);
        }
    }
    Ok(())
}

/// Refuses a READ key with allow-unbind instead of silently dropping the flag.
pub fn validate_unbind(access: AccessType, allow_unbind: bool) -> Result<()> {
    if access == AccessType::Read && allow_unbind {
        return Err(Error::Refused(
            "a READ key cannot unbind devices: choose WRITE or READ_WRITE, or turn unbinding off"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_access() -> impl Strategy<Value = AccessType> {
        prop::sample::select(AccessType::ALL.to_vec())
    }
    fn any_method() -> impl Strategy<Value = Method> {
        prop::sample::select(Method::ALL.to_vec())
    }
    fn any_resource() -> impl Strategy<Value = String> {
        prop::sample::select(
            DEFAULT_RESOURCES
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>(),
        )
    }
    fn any_scopes() -> impl Strategy<Value = BTreeSet<Scope>> {
        prop::collection::btree_set(
            (any_resource(), prop::sample::select(Action::ALL.to_vec()))
                .prop_map(|(r, a)| Scope::new(&r, a)),
            0..9,
        )
    }

    #[test]
    fn the_documented_access_matrix() {
        use Method::*;
        let allowed = |access: AccessType, method| access.allows(method, false);
        assert!(allowed(AccessType::Read, Get) && allowed(AccessType::Read, Head));
        for m in [Post, Patch, Put, Delete] {
            assert!(!allowed(AccessType::Read, m));
        }
        for m in [Post, Patch, Put] {
            assert!(allowed(AccessType::Write, m));
        }
        for m in [Get, Head, Delete] {
            assert!(!allowed(AccessType::Write, m));
        }
        for m in Method::ALL {
            assert!(allowed(AccessType::ReadWrite, m));
        }
    }

    #[test]
    fn unbind_needs_the_flag_and_never_works_for_read() {
        let unbind = Request::new(Method::Delete, DEVICES, true).unwrap();
        let grant = |access, allow_unbind| Grant {
            access,
            allow_unbind,
            scopes: None,
        };
        assert_eq!(
            decide(&grant(AccessType::Read, false), &unbind),
            Err(Denial::Method)
        );
        assert_eq!(
            decide(&grant(AccessType::Write, false), &unbind),
            Err(Denial::Unbind)
        );
        assert_eq!(decide(&grant(AccessType::Write, true), &unbind), Ok(()));
        assert_eq!(
            decide(&grant(AccessType::ReadWrite, false), &unbind),
            Err(Denial::Unbind)
        );
        assert_eq!(decide(&grant(AccessType::ReadWrite, true), &unbind), Ok(()));
    }

    #[test]
    fn a_delete_on_devices_is_an_unbind_even_unflagged() {
        let request = Request::new(Method::Delete, DEVICES, false).unwrap();
        assert!(request.unbind);
        let grant = Grant {
            access: AccessType::ReadWrite,
            allow_unbind: false,
            scopes: None,
        };
        assert_eq!(decide(&grant, &request), Err(Denial::Unbind));
    }

    #[test]
    fn read_key_with_unbind_is_refused() {
        assert!(validate_unbind(AccessType::Read, true).is_err());
        assert!(validate_unbind(AccessType::Write, true).is_ok());
    }

    #[test]
    fn scopes_parse_and_print() {
        let scope: Scope = "devices:write".parse().unwrap();
        assert_eq!(scope, Scope::new("devices", Action::Write));
        assert_eq!(scope.to_string(), "devices:write");
        for bad in [
            "devices",
            "devices:admin",
            ":read",
            "Dev:read",
            "devices:read:x",
        ] {
            assert!(bad.parse::<Scope>().is_err(), "{bad}");
        }
    }

    proptest! {
        /// A key with groups never gets more than its access type alone would give,
        /// and never more than its groups' scopes.
        #[test]
        fn groups_only_ever_narrow(access in any_access(), allow_unbind in any::<bool>(),
                                   scopes in any_scopes(), method in any_method(),
                                   resource in any_resource(), unbind in any::<bool>()) {
            prop_assume!(!(access == AccessType::Read && allow_unbind));
            let Ok(request) = Request::new(method, &resource, unbind) else { return Ok(()); };
            let without = decide(&Grant { access, allow_unbind, scopes: None }, &request);
            let with = decide(&Grant { access, allow_unbind, scopes: Some(&scopes) }, &request);
            if with.is_ok() {
                prop_assert!(without.is_ok());
                prop_assert!(scopes.contains(&Scope::new(&resource, method.action())));
            }
            if without.is_ok() && scopes.contains(&Scope::new(&resource, method.action())) {
                prop_assert!(with.is_ok());
            }
        }

        /// Adding a group (more scopes) never takes a permission away, and a
        /// READ key never writes or deletes whatever its groups say.
        #[test]
        fn read_keys_never_write(scopes in any_scopes(), method in any_method(), resource in any_resource()) {
            let request = Request::new(method, &resource, false).unwrap();
            let result = decide(&Grant { access: AccessType::Read, allow_unbind: false, scopes: Some(&scopes) }, &request);
            if result.is_ok() {
                prop_assert!(matches!(method, Method::Get | Method::Head));
            }
        }

        #[test]
        fn unbind_is_allowed_only_with_the_flag(access in any_access(), allow_unbind in any::<bool>(), scopes in any_scopes()) {
            let request = Request::new(Method::Delete, DEVICES, true).unwrap();
            let grant = Grant { access, allow_unbind, scopes: Some(&scopes) };
            if decide(&grant, &request).is_ok() {
                prop_assert!(allow_unbind && access != AccessType::Read);
                prop_assert!(scopes.contains(&Scope::new(DEVICES, Action::Delete)));
            }
        }
    }
}
