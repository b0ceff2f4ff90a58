//! (module being written: mounts)
