//! The TypeScript types the frontend uses (`ui/src/generated/`) are the Rust types' declarations:
//! regenerated into a temp dir and compared with the checked-in files, and, for the types whose
//! JSON is written by hand (custom `Serialize`, `serialize_with`), checked against real values.
//!
//! `ECI_UPDATE_TS=1 cargo test -p eci-guard-desktop --test ts_types` rewrites the checked-in files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use eci_guard_desktop::bindings;
use serde_json::Value;
use ts_rs::TS;

const UPDATE: &str = "ECI_UPDATE_TS";

fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/generated")
}

/// Every `.ts` file of a directory by name, with its text; empty when the directory is absent.
fn ts_files(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ts"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("a readable declaration");
            (name, text)
        })
        .collect()
}

#[test]
fn checked_in_declarations_are_the_generated_ones() {
    let fresh_dir = tempfile::tempdir().expect("a temp dir (TMPDIR)");
    bindings::export(fresh_dir.path()).expect("ts-rs exports the declarations");
    let fresh = ts_files(fresh_dir.path());
    assert!(
        fresh.contains_key(bindings::INDEX) && fresh.len() > 30,
        "the export wrote too little: {:?}",
        fresh.keys()
    );

    let dir = generated_dir();
    if std::env::var_os(UPDATE).is_some_and(|v| !v.is_empty() && v != "0") {
        for stale in ts_files(&dir).keys().filter(|n| !fresh.contains_key(*n)) {
            std::fs::remove_file(dir.join(stale)).expect("remove a stale declaration");
        }
        std::fs::create_dir_all(&dir).expect("create ui/src/generated");
        for (name, text) in &fresh {
            std::fs::write(dir.join(name), text).expect("write a declaration");
        }
        return;
    }

    let checked_in = ts_files(&dir);
    let mut problems = Vec::new();
    for (name, text) in &fresh {
        match checked_in.get(name) {
            None => problems.push(format!("missing: {name}")),
            Some(old) if old != text => problems.push(format!("differs: {name}")),
            Some(_) => {}
        }
    }
    for name in checked_in.keys().filter(|n| !fresh.contains_key(*n)) {
        problems.push(format!("no longer generated: {name}"));
    }
    assert!(
        problems.is_empty(),
        "ui/src/generated/ is stale ({}); run `ECI_UPDATE_TS=1 cargo test -p eci-guard-desktop \
         --test ts_types` and commit the result",
        problems.join(", ")
    );
}

/// One property of an object type as ts-rs writes it inline (`{ name?: type, ... }`).
#[derive(Debug)]
struct Property {
    name: String,
    optional: bool,
    ty: String,
}

/// The properties of an inline object type, and of each object it is intersected with
/// (`{ … } & { … }`, how ts-rs writes a flattened field).
fn properties(inline: &str) -> Vec<Property> {
    let inline = &without_comments(inline);
    let mut props = Vec::new();
    let mut depth = 0usize;
    let mut start: Option<usize> = None;
    let bytes = inline.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' | b'[' | b'(' | b'<' => {
                depth += 1;
                if depth == 1 && b == b'{' {
                    start = Some(i + 1);
                }
            }
            b'}' | b']' | b')' | b'>' => {
                if depth == 1 && b == b'}' {
                    if let Some(s) = start.take() {
                        push_property(&inline[s..i], &mut props);
                    }
                }
                depth -= 1;
            }
            b',' if depth == 1 => {
                if let Some(s) = start {
                    push_property(&inline[s..i], &mut props);
                    start = Some(i + 1);
                }
            }
            _ => {}
        }
    }
    props
}

/// The text without the `/** … */` doc comments ts-rs puts before properties (they hold commas,
/// colons and braces of their own).
fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("a closed comment");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn push_property(text: &str, props: &mut Vec<Property>) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    let (name, ty) = text.split_once(':').expect("`name: type`");
    let (name, optional) = match name.trim().strip_suffix('?') {
        Some(n) => (n, true),
        None => (name.trim(), false),
    };
    props.push(Property {
        name: name.trim_matches('"').to_owned(),
        optional,
        ty: ty.trim().to_owned(),
    });
}

/// Whether a JSON value can be of this declared type, for the types the check can read
/// (primitives, arrays, `| null`); anything else (a named type) is taken as compatible.
fn fits(value: &Value, ty: &str) -> bool {
    let alternatives: Vec<&str> = ty.split(" | ").map(str::trim).collect();
    let known = ["string", "number", "boolean", "null"];
    if alternatives
        .iter()
        .any(|a| !known.contains(a) && !a.starts_with("Array<"))
    {
        return true;
    }
    alternatives.iter().any(|a| match (*a, value) {
        ("string", Value::String(_))
        | ("number", Value::Number(_))
        | ("boolean", Value::Bool(_))
        | ("null", Value::Null) => true,
        (a, Value::Array(_)) => a.starts_with("Array<"),
        _ => false,
    })
}

/// Serialises `value` with serde_json and checks its keys and their JSON types against `T`'s
/// generated declaration: every key declared, every required property present.
fn assert_matches_declaration<T: TS + serde::Serialize + 'static>(value: &T) {
    let cfg = bindings::config(Path::new("."));
    let inline = T::inline(&cfg);
    let declared = properties(&inline);
    let json = serde_json::to_value(value).expect("serialises");
    let object = json.as_object().expect("a JSON object");
    let who = T::name(&cfg);
    for (key, v) in object {
        let prop = declared
            .iter()
            .find(|p| &p.name == key)
            .unwrap_or_else(|| panic!("{who}: JSON key {key:?} is not declared in {inline}"));
        assert!(
            fits(v, &prop.ty),
            "{who}.{key}: JSON {v} does not fit the declared {}",
            prop.ty
        );
    }
    for prop in declared.iter().filter(|p| !p.optional) {
        assert!(
            object.contains_key(&prop.name),
            "{who}: required {} is missing from the JSON {json}",
            prop.name
        );
    }
}

fn policy() -> eci_policy::settings::Policy {
    let admin = r#"{
      "configurationFileVersion": 2,
      "enhancedContainerIsolation": {
        "locked": true, "value": true,
        "iechorSocketMount": {
          "imageList": { "images": ["iechor:cli", "example.org/ns/*:*"] },
          "commandList": { "type": "deny", "commands": ["push", "image*"] }
        },
        "eciGuard": { "hostAccess": { "images": ["busybox"] }, "audit": { "commands": true } }
      }
    }"#;
    eci_policy::settings::load(Some(admin), None)
        .expect("a valid admin file")
        .policy
}

#[test]
fn policy_json_matches_its_declaration() {
    let policy = policy();
    assert_matches_declaration(&policy);
    let json = serde_json::to_value(&policy).unwrap();
    assert_eq!(json["commandList"]["type"], "deny", "{json}");
    assert_eq!(json["audit"]["commands"], true, "{json}");
}

fn block(id: i64) -> eci_history::StoredBlock {
    eci_history::StoredBlock {
        id,
        record: eci_history::BlockRecord {
            time: eci_history::Timestamp::from_unix_ms(1_795_897_809_123).unwrap(),
            socket: eci_history::SocketKind::Filtered,
            socket_path: "/run/eci/c1.sock".into(),
            container_id: Some("c1".into()),
            container_name: None,
            image: Some("iechor.io/library/iechor".into()),
            image_id: None,
            kind: eci_policy::decide::BlockKind::Command,
            audited: false,
            commands: vec!["push".into()],
            method: "POST".into(),
            path: "/v1.43/images/x/push".into(),
            reason: "command push denied".into(),
            message: "refused".into(),
            policy_version: "0123456789abcdef".into(),
            client: Some(eci_history::ClientInfo {
                pid: Some(42),
                uid: Some(1000),
                gid: None,
                user_agent: None,
            }),
        },
    }
}

/// `Timestamp` writes `{time, unix_ms}` through a mirror; records flatten it, `AuditCount` nests it.
#[test]
fn history_times_match_their_declarations() {
    assert_matches_declaration(&block(7));
    let failure = eci_history::Failure {
        time: eci_history::Timestamp::from_unix_ms(1_795_897_809_123).unwrap(),
        message: "disk full".into(),
    };
    assert_matches_declaration(&failure);
    let page = eci_history::QueryPage {
        total: 1,
        blocks: vec![block(1)],
        next: Some(eci_history::Cursor {
            unix_ms: 1_795_897_809_123,
            id: 1,
        }),
    };
    assert_matches_declaration(&page);
    let count = eci_history::AuditCount {
        since: eci_history::Timestamp::from_unix_ms(1_795_897_809_123).unwrap(),
        total: 2,
        by_kind: vec![eci_history::KindCount {
            kind: eci_policy::decide::BlockKind::HostAccess,
            count: 2,
        }],
    };
    assert_matches_declaration(&count);
    // Not flattened here: the time is an object of its own.
    assert_matches_declaration(&count.since);
}

/// `ReloadEvent.at` is a `SystemTime` written as unix milliseconds.
#[test]
fn reload_event_matches_its_declaration() {
    let event = eci_proxy::ReloadEvent {
        at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_897_809_123),
        outcome: eci_proxy::ReloadOutcome::Unreadable {
            kept_version: "0123456789abcdef".into(),
            error: "permission denied".into(),
        },
    };
    assert_matches_declaration(&event);
    assert_eq!(
        serde_json::to_value(&event).unwrap()["at"],
        1_795_897_809_123u64
    );
}

/// `AppError` leaves `diagnostics` out unless the input was invalid.
#[test]
fn app_error_matches_its_declaration() {
    use eci_guard_desktop::{AppError, ErrorCode};
    assert_matches_declaration(&AppError::new(ErrorCode::Forbidden, "locked"));
    let section: eci_policy::settings::EciSection = serde_json::from_str(
        r#"{"value": true, "iechorSocketMount": {"imageList": {"images": ["UPPER", "UPPER"]}}}"#,
    )
    .unwrap();
    let diagnostics =
        eci_policy::validate::validate_section(&section, eci_policy::settings::MountKey::Iechor);
    assert!(!diagnostics.is_empty());
    for d in &diagnostics {
        assert_matches_declaration(d);
    }
    let invalid = AppError::invalid("bad", diagnostics);
    assert_matches_declaration(&invalid);
}

/// `PlatformImage` and `ImageDigests` write digests as text (`serde(with)`).
#[test]
fn image_digests_match_their_declaration() {
    let digest = |n: u8| -> eci_policy::reference::Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap()
    };
    let digests = eci_registry::ImageDigests {
        digest: digest(1),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        images: vec![eci_registry::PlatformImage {
            platform: Some("linux/amd64".into()),
            manifest: digest(2),
            config: digest(3),
        }],
    };
    assert_matches_declaration(&digests);
    assert_matches_declaration(&digests.images[0]);
}

/// The reader behind the checks above, on the shapes ts-rs writes.
#[test]
fn the_declaration_reader_reads_ts_rs_output() {
    let props = properties(
        "{ a: string, \n/**\n * x, y: { z }\n */\nb?: number, } & { c: Array<{ d: string, }>, e: [string, string | null], f: X | null, }",
    );
    let names: Vec<&str> = props.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "e", "f"]);
    assert!(props[1].optional && !props[0].optional);
    assert_eq!(props[2].ty, "Array<{ d: string, }>");
    assert!(fits(&serde_json::json!("x"), "string"));
    assert!(!fits(&serde_json::json!(1), "string"));
    assert!(fits(&serde_json::json!(null), "string | null"));
    assert!(!fits(&serde_json::json!(null), "number"));
    assert!(!fits(&serde_json::json!({}), "Array<string>"));
    assert!(fits(&serde_json::json!({}), "X | null"));
}
