//! Fuzzes image references and image-list entries: parsing never panics, parse → display → parse
//! is the identity, the familiar name parses back to the same repository, and an accepted name
//! respects the engine's 255-byte limit on the normalised name.

#![no_main]

use eci_policy::reference::{ImageEntry, Reference, NAME_TOTAL_LENGTH_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Reference::parse_normalized(s) {
        let shown = r.to_string();
        let again = Reference::parse_normalized(&shown)
            .unwrap_or_else(|e| panic!("{s:?} displays as {shown:?}, which does not parse: {e}"));
        assert_eq!(again, r, "{s:?} → {shown:?} parses to another reference");
        assert_eq!(
            again.to_string(),
            shown,
            "display is not idempotent for {s:?}"
        );

        let repo = r.repository();
        assert!(
            repo.to_string().len() <= NAME_TOTAL_LENGTH_MAX,
            "{s:?}: accepted a normalised name longer than {NAME_TOTAL_LENGTH_MAX}"
        );
        let familiar = repo.familiar();
        let back = Reference::parse_normalized(&familiar)
            .unwrap_or_else(|e| panic!("{s:?}: familiar name {familiar:?} does not parse: {e}"));
        assert_eq!(
            back.repository(),
            repo,
            "{s:?}: familiar {familiar:?} names another repository"
        );
        let tagged = r.clone().with_default_tag();
        assert!(
            tagged.tag().is_some() || tagged.digest().is_some(),
            "{s:?}: with_default_tag left no tag"
        );
    }
    if let Ok(e) = ImageEntry::parse(s) {
        let shown = e.to_string();
        let again = ImageEntry::parse(&shown).unwrap_or_else(|err| {
            panic!("entry {s:?} displays as {shown:?}, which does not parse: {err}")
        });
        assert_eq!(again, e, "entry {s:?} → {shown:?} parses to another entry");
    }
});
