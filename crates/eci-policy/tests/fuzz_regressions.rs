//! Inputs the fuzz targets (`fuzz/`) found wrong answers for, kept so the fixes stay fixed. Only
//! the public API: each case is what a client or an admin could send.

use eci_policy::gojson::{self, Limits};

/// Found by `fuzz/fuzz_targets/body.rs` (serialise → parse changed the value): serde_json's
/// default number parser is not correctly rounded, so `{"m":1.8444674406551743e28}` read as
/// 1.8444674406551746e28. Go's `strconv.ParseFloat` (the engine's reader) is correctly rounded,
/// so the enforcer would have forwarded another number than the client sent. Rust's own
/// `str::parse::<f64>` is correctly rounded too, which makes it the oracle here.
#[test]
fn numbers_read_correctly_rounded_like_go() {
    let cases = [
        "1.8444674406551743e28",
        "1.8444674406551743e+28",
        "18444674406551744073709551615",
        "2.2250738585072011e-308",
        "9007199254740993",
        "1.7976931348623157e308",
        "-0.1",
    ];
    for text in cases {
        let body = format!(r#"{{"NanoCpus":{text}}}"#);
        let value = gojson::parse(body.as_bytes(), &Limits::default())
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        let read = value["NanoCpus"].as_f64().expect("a number");
        let go = text.parse::<f64>().expect("a float");
        assert_eq!(read.to_bits(), go.to_bits(), "{text} read as {read:e}, Go reads {go:e}");
        let again = gojson::parse(&serde_json::to_vec(&value).unwrap(), &Limits::default())
            .expect("our own serialisation reads back");
        assert_eq!(again, value, "{text}: serialise → parse changed the value");
    }
}
