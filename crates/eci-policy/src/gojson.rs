//! (module being written: gojson)
