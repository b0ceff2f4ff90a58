//! The parts of the project's automation that tests call too: `package` (the `.deb`).

pub mod package;
