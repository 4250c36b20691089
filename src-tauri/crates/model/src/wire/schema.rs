//! OpenAPI schemas for the model's types on the wire, built from those
//! types themselves (their constants and their serde names), so the document
//! lists exactly what the server accepts.

use crate::{AccessType, KeyStatus, Method};
use serde::Serialize;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};

/// A string enum of the serde names of `values`.
fn string_enum<T: Serialize>(values: &[T], description: &str) -> Schema {
    let names: Vec<serde_json::Value> = values
        .iter()
        .filter_map(|value| serde_json::to_value(value).ok())
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(description))
        .into()
}

fn scope() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[a-z][a-z0-9_-]{0,31}:(read|write|delete)$"))
        .description(Some("`resource:action`, e.g. `devices:write`"))
        .into()
}

pub fn access_type() -> RefOr<Schema> {
    string_enum(
        &AccessType::ALL,
        "READ: GET, HEAD; WRITE: POST, PATCH, PUT; READ_WRITE: all",
    )
    .into()
}

pub fn method() -> RefOr<Schema> {
    string_enum(
        &Method::ALL,
        "the HTTP method of the request the key is presented for",
    )
    .into()
}

pub fn key_status() -> RefOr<Schema> {
    let all = [KeyStatus::Active, KeyStatus::Inactive];
    // The match makes the compiler point here when the model adds a status.
    match all[0] {
        KeyStatus::Active | KeyStatus::Inactive => {}
    }
    string_enum(&all, "an inactive key verifies as DISABLED").into()
}

pub fn verify_result() -> RefOr<Schema> {
    string_enum(
        &crate::wire::verify::all_results(),
        "in the order checked: MALFORMED, NOT_FOUND, DISABLED, EXPIRED, FORBIDDEN; else VALID",
    )
    .into()
}

pub fn verifier() -> RefOr<Schema> {
    let schema: Schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9a-fA-F]{64}$"))
        .description(Some("SHA-256 of the full key, in hex"))
        .into();
    schema.into()
}

pub fn scopes() -> RefOr<Schema> {
    let schema: Schema = ArrayBuilder::new().items(RefOr::T(scope())).into();
    schema.into()
}
