//! Shared by the sync crate's integration tests.

pub mod fault_proxy;
