//! eci-policy: the pure domain of eci-guard. Settings and their validation, image references, the
//! Engine API route table, engine-style request reading, and the decisions with their messages.
//! No I/O, no async runtime, no clock: callers gather facts and ask.

pub mod audit;
pub mod commands;
pub mod decide;
pub mod docker_line;
pub mod entry_forms;
pub mod gojson;
pub mod mounts;
pub mod privileges;
pub mod reference;
pub mod routes;
pub mod settings;
pub mod unfilterable;
pub mod unreadable;
pub mod validate;
