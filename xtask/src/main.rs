//! Project automation: `cargo xtask test|run|bench|setup`.

fn main() {}
