//! The enforcer's control socket (issue 14): a local HTTP/JSON API through which the desktop
//! app, attached to a running `eci-guard serve`, shows its status, history and live blocks and
//! edits its settings. [`api`] holds the wire types, [`server`] serves them, [`client`] asks.

pub mod api;
pub mod client;
mod peer;
pub mod server;

pub use api::*;
pub use client::{ClientError, ControlClient};
pub use server::{ControlConfig, ControlServer};
