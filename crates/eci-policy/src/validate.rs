//! (module being written: validate)
