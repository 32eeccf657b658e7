//! Change events: every change to a user's set, delivered to subscribers as it happens.

mod change_event;
mod hub;
mod subscription;

pub use change_event::{Actor, ChangeCause, ChangeEvent};
pub(crate) use hub::ChangeHub;
pub use subscription::{DEFAULT_EVENT_BUFFER, EventScope, RecvError, Subscription};
