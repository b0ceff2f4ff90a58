//! Fuzzes the settings reader: `validate` never panics and agrees with `settings::load` on
//! whether a file has errors; an accepted document survives `to_json_string` → parse unchanged.
//! A NUL byte splits the input into an admin and a user file for the merge.

#![no_main]

use eci_policy::settings::{load, SettingsDoc};
use eci_policy::validate::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (admin, user) = match text.split_once('\0') {
        Some((a, u)) => (a, Some(u)),
        None => (text, None),
    };

    let diagnostics = validate(admin);
    for d in &diagnostics {
        assert!(
            d.pointer.is_empty() || d.pointer.starts_with('/'),
            "diagnostic pointer {:?} is not a JSON pointer",
            d.pointer
        );
        assert!(!d.message.is_empty(), "diagnostic without a message");
    }
    let has_errors = diagnostics.iter().any(|d| d.is_error());
    let loaded = load(Some(admin), None);
    assert_eq!(
        has_errors,
        loaded.is_err(),
        "validate says errors={has_errors} but load says {loaded:?}"
    );
    if let Ok(loaded) = loaded {
        let _ = loaded.policy.canonical_json();
    }
    if let Some(user) = user {
        let _ = validate(user);
        if let Ok(loaded) = load(Some(admin), Some(user)) {
            let _ = loaded.policy.canonical_json();
        }
    }

    if let Ok(doc) = SettingsDoc::parse(admin) {
        let again =
            SettingsDoc::parse(&doc.to_json_string()).expect("a document we wrote parses again");
        assert_eq!(
            again.root(),
            doc.root(),
            "to_json_string → parse changed the document"
        );
    }
});
