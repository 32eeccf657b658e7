//! The OpenAPI 3 document of the HTTP surface, kept in `openapi.json` next to this file.

/// The OpenAPI 3 document, served by `GET /openapi.json`. Tests check that its paths and methods
/// are exactly [`Operation::ALL`](crate::Operation::ALL).
pub const OPENAPI_JSON: &str = include_str!("openapi.json");
