//! The corpus of admin files in Docker's documented shapes (`tests/fixtures/admin-settings/`):
//! each yields its expected policy, and a save through the app's save path (`files::read_view`
//! then `files::save`, as the Settings view does) loses and reorders nothing.

use std::path::{Path, PathBuf};

use eci_guard_desktop::files;
use eci_policy::settings::load;
use serde_json::Value;

fn corpus() -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/admin-settings");
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the corpus is missing: {files:?}");
    files
}

/// Keys in order, at every level: what "reordered" is measured on (`serde_json`'s map equality
/// ignores order).
fn shape(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn every_documented_file_yields_its_expected_policy() {
    for (name, path) in corpus() {
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = load(Some(&text), None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got = serde_json::to_value(&loaded.policy).unwrap();
        got.as_object_mut().unwrap().remove("version");
        let warnings: Vec<Value> = loaded
            .warnings
            .iter()
            .flat_map(|f| &f.diagnostics)
            .map(|d| serde_json::to_value(d.code).unwrap())
            .collect();
        got.as_object_mut()
            .unwrap()
            .insert("warnings".into(), Value::Array(warnings));
        let expected_path = path.with_file_name(format!("{name}.expected.json"));
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn saving_a_documented_file_through_the_app_loses_and_reorders_nothing() {
    for (name, path) in corpus() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("admin-settings.json");
        std::fs::copy(&path, &copy).unwrap();
        let before: Value = serde_json::from_str(&std::fs::read_to_string(&copy).unwrap()).unwrap();
        let inode = || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&copy).unwrap());
        let first = inode();
        let view = files::read_view(&copy, true).unwrap();
        let section = view
            .section
            .clone()
            .unwrap_or_else(|| panic!("{name}: no ECI section read"));
        files::save(&copy, &section, &view.etag).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        // An atomic save replaces the file: a new inode says it really wrote.
        assert_ne!(inode(), first, "{name}: the save wrote nothing");
        let saved = std::fs::read_to_string(&copy).unwrap();
        let after: Value = serde_json::from_str(&saved).unwrap();
        assert_eq!(shape(&after), shape(&before), "{name}");
        // And it reads back with the same diagnostics: the save kept the alias spelling too.
        let again = files::read_view(&copy, true).unwrap();
        assert_eq!(again.mount_key, view.mount_key, "{name}");
        assert_eq!(again.diagnostics.len(), view.diagnostics.len(), "{name}");
    }
}
