//! Shared by the HTTP test files: a server on an ephemeral loopback port, clients for it, and
//! stores and hosts that fail on purpose.

// Each test file uses its own part of this module.
#![allow(dead_code)]

pub mod client;
pub mod events;
pub mod failing;
pub mod server;

/// The demo seed's credentials.
pub const CLIENT_KEY: &str = "demo-client-key";
pub const TOKEN: &str = "demo-token";
pub const TOKEN_2: &str = "demo-token-2";
pub const API_KEY: &str = "demo-api-key";
