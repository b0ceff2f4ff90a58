//! (module being written: settings)
