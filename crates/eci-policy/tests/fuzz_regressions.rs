//! Inputs the fuzz targets (`fuzz/`) found wrong answers for, kept so the fixes stay fixed. Only
//! the public API: each case is what a client or an admin could send.

use eci_policy::gojson::{self, Limits};
use eci_policy::reference::Reference;

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
        assert_eq!(
            read.to_bits(),
            go.to_bits(),
            "{text} read as {read:e}, Go reads {go:e}"
        );
        let again = gojson::parse(&serde_json::to_vec(&value).unwrap(), &Limits::default())
            .expect("our own serialisation reads back");
        assert_eq!(again, value, "{text}: serialise → parse changed the value");
    }
}

/// Found by `fuzz/fuzz_targets/reference.rs` (the familiar name must parse back): the engine
/// takes `<64 hex>:tag` as the hub image `library/<64 hex>`, but refuses the bare `<64 hex>` as
/// an image ID, so the familiar name of that repository cannot drop `library/`.
#[test]
fn familiar_names_parse_back_to_their_repository() {
    let hex = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";
    let cases = [
        (format!("{hex}:1"), format!("library/{hex}")),
        (format!("library/{hex}:1"), format!("library/{hex}")),
        (format!("docker.io/{hex}"), format!("library/{hex}")),
        (format!("{}:1", &hex[1..]), hex[1..].to_owned()),
        ("busybox:1".to_owned(), "busybox".to_owned()),
    ];
    for (input, familiar) in cases {
        let r = Reference::parse_normalized(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.repository().familiar(), familiar, "{input}");
        let back = Reference::parse_normalized(&familiar)
            .unwrap_or_else(|e| panic!("{input}: familiar {familiar:?} does not parse: {e}"));
        assert_eq!(back.repository(), r.repository(), "{input}");
    }
}
