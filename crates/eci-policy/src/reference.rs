//! (module being written: reference)
