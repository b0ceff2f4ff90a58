//! (module being written: routes)
