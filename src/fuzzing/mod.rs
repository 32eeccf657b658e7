//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpus: each
//! takes raw bytes, decodes them into calls, and panics when an answer breaks a documented
//! promise. Not a public API; enabled by the `fuzzing` feature.

mod block_on;
mod faults;
mod http_check;
mod http_request;
mod http_world;
mod ids;
mod input;
mod response_check;
mod router_call;
mod store_check;

pub use http_check::check_http;
pub use ids::check_ids;
pub use store_check::check_store;
