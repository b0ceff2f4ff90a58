//! Settings cases: byte-for-byte round trips, set_eci, the lock-rule merge, the policy version and load.

use super::*;
use crate::commands::CommandEntry;
use crate::validate::{parse_settings, read_settings, CheckedEci};

/// A settings file in the output format, with keys this crate does not know at every level,
/// including inside the ECI section, and the alias spelling.
const FULL: &str = r#"{
  "autoStart": true,
  "configurationFileVersion": 2,
  "proxy": {
    "locked": true,
    "http": "http://proxy.internal:3128",
    "exclude": [
      "localhost",
      "*.internal"
    ]
  },
  "enhancedContainerIsolation": {
    "locked": false,
    "comment": "set by IT, ticket 42",
    "value": true,
    "dockerSocketMount": {
      "x-note": {
        "by": "ops",
        "n": [
          1,
          2.5,
          -3,
          18446744073709551615
        ]
      },
      "imageList": {
        "images": [
          "iechor:cli"
        ],
        "reviewed": "2026-11-01"
      },
      "commandList": {
        "type": "deny",
        "commands": [
          "push"
        ],
        "owner": null
      }
    }
  },
  "unicode": "ééé ✓ \"quoted\" \\ back",
  "zeta": [],
  "empty": {}
}
"#;

#[test]
fn a_file_in_the_output_format_round_trips_byte_for_byte() {
    let doc = SettingsDoc::parse(FULL).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(doc.to_json_string(), FULL);
    assert_eq!(doc.mount_key(), MountKey::Docker);
    let keys: Vec<&str> = doc.root().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "autoStart",
            "configurationFileVersion",
            "proxy",
            "enhancedContainerIsolation",
            "unicode",
            "zeta",
            "empty"
        ]
    );
}

#[test]
fn another_formatting_is_reprinted_in_the_output_format() {
    let compact = r#"{"b":1,"a":{"y":[true,null],"x":"é"},"configurationFileVersion":2}"#;
    let doc = SettingsDoc::parse(compact).unwrap_or_default();
    let expected = "{\n  \"b\": 1,\n  \"a\": {\n    \"y\": [\n      true,\n      null\n    ],\n    \"x\": \"é\"\n  },\n  \"configurationFileVersion\": 2\n}\n";
    assert_eq!(doc.to_json_string(), expected);
}

#[test]
fn set_eci_with_the_section_as_read_changes_nothing() {
    let reading = read_settings(FULL).unwrap_or_else(|d| panic!("{d:#?}"));
    let mut doc = reading.doc;
    doc.set_eci(&reading.eci.unwrap_or_default());
    assert_eq!(doc.to_json_string(), FULL);
}

#[test]
fn set_eci_touches_only_its_own_keys() {
    let reading = read_settings(FULL).unwrap_or_else(|d| panic!("{d:#?}"));
    let mut eci = reading.eci.unwrap_or_default();
    eci.locked = Some(true);
    let mount = eci.socket_mount.get_or_insert_with(SocketMount::default);
    let list = mount.image_list.get_or_insert_with(ImageList::default);
    list.images
        .get_or_insert_with(Vec::new)
        .push("iechor.io/testcontainers/ryuk:*".into());
    list.allow_derived_images = Some(false);
    mount.command_list = Some(CommandListSettings {
        kind: Some(ListKind::Allow),
        commands: Some(vec!["ps".into(), "container*".into()]),
    });
    let mut doc = reading.doc;
    doc.set_eci(&eci);
    let expected = FULL
        .replace(
            "\"locked\": false,\n    \"comment\"",
            "\"locked\": true,\n    \"comment\"",
        )
        .replace(
            "\"iechor:cli\"\n        ],\n        \"reviewed\": \"2026-11-01\"\n",
            "\"iechor:cli\",\n          \"iechor.io/testcontainers/ryuk:*\"\n        ],\n        \"reviewed\": \"2026-11-01\",\n        \"allowDerivedImages\": false\n",
        )
        .replace(
            "\"type\": \"deny\",\n        \"commands\": [\n          \"push\"\n        ],",
            "\"type\": \"allow\",\n        \"commands\": [\n          \"ps\",\n          \"container*\"\n        ],",
        );
    assert_ne!(expected, FULL);
    assert_eq!(doc.to_json_string(), expected);
    let again = read_settings(&doc.to_json_string())
        .ok()
        .and_then(|r| r.eci);
    assert_eq!(again, Some(eci));
}

#[test]
fn set_eci_removes_unset_fields_and_keeps_unknown_keys() {
    let mut doc = SettingsDoc::parse(FULL).unwrap_or_default();
    doc.set_eci(&EciSection {
        locked: Some(false),
        value: None,
        socket_mount: None,
        eci_guard: None,
    });
    let text = doc.to_json_string();
    let eci = &serde_json::from_str::<serde_json::Value>(&text).unwrap_or_default()[ECI_KEY];
    assert_eq!(
        eci,
        &serde_json::json!({"locked": false, "comment": "set by IT, ticket 42"})
    );
    assert!(text.contains("\"proxy\": {"), "{text}");
}

/// The app saves eci-guard's extension like the rest of the section: the host-access list and
/// the audit flags are written, and removed when the section no longer sets them.
#[test]
fn set_eci_writes_the_eci_guard_extension() {
    let text = r#"{"configurationFileVersion": 2, "enhancedContainerIsolation": {"value": true, "eciGuard": {"audit": {"socketMounts": true}, "hostAccess": {"images": ["busybox"]}}}}"#;
    let mut doc = SettingsDoc::parse(text).unwrap_or_default();
    let enforced = EciSection {
        value: Some(true),
        eci_guard: Some(EciGuardSection {
            host_access: None,
            audit: Some(AuditSettings {
                socket_mounts: Some(false),
                commands: Some(false),
                host_access: None,
            }),
        }),
        ..EciSection::default()
    };
    doc.set_eci(&enforced);
    let written = doc.to_json_string();
    let v: serde_json::Value = serde_json::from_str(&written).unwrap_or_default();
    assert_eq!(
        v[ECI_KEY]["eciGuard"],
        serde_json::json!({"audit": {"socketMounts": false, "commands": false}})
    );
    assert_eq!(
        read_settings(&written).ok().and_then(|r| r.eci),
        Some(enforced)
    );
    doc.set_eci(&EciSection {
        value: Some(true),
        ..EciSection::default()
    });
    let v: serde_json::Value = serde_json::from_str(&doc.to_json_string()).unwrap_or_default();
    assert!(v[ECI_KEY].get("eciGuard").is_none(), "{v}");
}

#[test]
fn set_eci_writes_a_new_file_and_repairs_what_it_owns() {
    let seed_section = EciSection {
        locked: Some(true),
        value: Some(true),
        socket_mount: Some(SocketMount {
            image_list: Some(ImageList {
                images: Some(vec!["iechor:cli".into()]),
                allow_derived_images: None,
            }),
            command_list: Some(CommandListSettings {
                kind: Some(ListKind::Deny),
                commands: Some(vec!["push".into()]),
            }),
        }),
        eci_guard: None,
    };
    let new_file = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": {
    "locked": true,
    "value": true,
    "iechorSocketMount": {
      "imageList": {
        "images": [
          "iechor:cli"
        ]
      },
      "commandList": {
        "type": "deny",
        "commands": [
          "push"
        ]
      }
    }
  }
}
"#;
    // (what, file before, file after set_eci(seed_section))
    let cases: Vec<(&str, String, String)> = vec![
        ("no file", String::new(), new_file.into()),
        ("empty object", "{}".into(), new_file.into()),
        (
            "other settings, no version: version goes first",
            r#"{"autoStart": true}"#.into(),
            new_file.replacen("2,\n", "2,\n  \"autoStart\": true,\n", 1),
        ),
        (
            "section of the wrong type is replaced",
            r#"{"configurationFileVersion": 2, "enhancedContainerIsolation": "on"}"#.into(),
            new_file.into(),
        ),
        (
            "both spellings: the first is kept, the other removed",
            r#"{"configurationFileVersion": 2, "enhancedContainerIsolation": {"locked": false, "value": false, "dockerSocketMount": {}, "iechorSocketMount": {}}}"#.into(),
            new_file.replace("iechorSocketMount", "dockerSocketMount"),
        ),
    ];
    for (what, before, after) in cases {
        let mut doc = if before.is_empty() {
            SettingsDoc::new()
        } else {
            SettingsDoc::parse(&before).unwrap_or_else(|d| panic!("{what}: {d:#?}"))
        };
        doc.set_eci(&seed_section);
        assert_eq!(doc.to_json_string(), after, "{what}");
        assert!(
            parse_settings(&doc.to_json_string()).is_ok(),
            "{what}: output must validate"
        );
    }
}

#[test]
fn the_section_model_is_serde_for_the_app() {
    let section: EciSection = serde_json::from_str(
        r#"{"locked": true, "dockerSocketMount": {"commandList": {"type": "allow"}}}"#,
    )
    .unwrap_or_default();
    assert_eq!(section.locked, Some(true));
    assert_eq!(
        section.command_list().and_then(|c| c.kind),
        Some(ListKind::Allow)
    );
    assert_eq!(
        serde_json::to_value(&section).unwrap_or_default(),
        serde_json::json!({"locked": true, "iechorSocketMount": {"commandList": {"type": "allow"}}})
    );
    for bad in [
        r#"{"lockd": true}"#,
        r#"{"iechorSocketMount": {"commandList": {"type": "block"}}}"#,
        r#"{"iechorSocketMount": {"imageList": {"images": "iechor:cli"}}}"#,
    ] {
        assert!(serde_json::from_str::<EciSection>(bad).is_err(), "{bad}");
    }
}

fn section(json: &str) -> CheckedEci {
    let text =
        format!(r#"{{"configurationFileVersion": 2, "enhancedContainerIsolation": {json}}}"#);
    parse_settings(&text)
        .unwrap_or_else(|d| panic!("{json}: {d:#?}"))
        .eci
        .unwrap_or_else(|| panic!("{json}: no section"))
}

const AL: Source = Source::Admin { locked: true };
const A: Source = Source::Admin { locked: false };
const U: Source = Source::User;
const D: Source = Source::Default;

/// Everything the admin can set, locked.
const ADMIN_LOCKED_FULL: &str = r#"{"locked": true, "value": true, "iechorSocketMount": {
    "imageList": {"images": ["iechor:cli"], "allowDerivedImages": false},
    "commandList": {"type": "allow", "commands": ["ps"]}}}"#;
const ADMIN_UNLOCKED_FULL: &str = r#"{"locked": false, "value": true, "iechorSocketMount": {
    "imageList": {"images": ["iechor:cli"], "allowDerivedImages": false},
    "commandList": {"type": "allow", "commands": ["ps"]}}}"#;
/// Everything a user can set, each different from the admin's.
const USER_FULL: &str = r#"{"value": false, "iechorSocketMount": {
    "imageList": {"images": ["*"], "allowDerivedImages": true},
    "commandList": {"type": "deny", "commands": []}}}"#;

struct Want {
    eci: bool,
    images: &'static [&'static str],
    derived: bool,
    kind: ListKind,
    commands: &'static [&'static str],
    sources: [Source; 4],
}

#[test]
fn merge_follows_the_lock_rules_field_by_field() {
    let cases: Vec<(&str, Option<&str>, Option<&str>, Want)> = vec![
        (
            "no settings: fail-closed default",
            None,
            None,
            Want {
                eci: true,
                images: &[],
                derived: true,
                kind: ListKind::Deny,
                commands: &[],
                sources: [D, D, D, D],
            },
        ),
        (
            "locked admin wins entirely",
            Some(ADMIN_LOCKED_FULL),
            Some(USER_FULL),
            Want {
                eci: true,
                images: &["iechor.io/library/iechor:cli"],
                derived: false,
                kind: ListKind::Allow,
                commands: &["ps"],
                sources: [AL, AL, AL, AL],
            },
        ),
        (
            "locked admin: what it leaves out is the default, never the user's",
            Some(
                r#"{"locked": true, "iechorSocketMount": {"imageList": {"images": ["iechor:cli"]}}}"#,
            ),
            Some(USER_FULL),
            Want {
                eci: true,
                images: &["iechor.io/library/iechor:cli"],
                derived: true,
                kind: ListKind::Deny,
                commands: &[],
                sources: [D, AL, D, D],
            },
        ),
        (
            "locked admin with ECI off",
            Some(r#"{"locked": true, "value": false}"#),
            Some(r#"{"value": true}"#),
            Want {
                eci: false,
                images: &[],
                derived: true,
                kind: ListKind::Deny,
                commands: &[],
                sources: [AL, D, D, D],
            },
        ),
        (
            "unlocked admin: user overrides what the user sets",
            Some(
                r#"{"locked": false, "value": true, "iechorSocketMount": {"imageList": {"images": ["iechor:cli"], "allowDerivedImages": false}, "commandList": {"commands": ["push"]}}}"#,
            ),
            Some(r#"{"iechorSocketMount": {"imageList": {"images": ["busybox:*"]}}}"#),
            Want {
                eci: true,
                images: &["iechor.io/library/busybox:*"],
                derived: false,
                kind: ListKind::Deny,
                commands: &["push"],
                sources: [A, U, A, A],
            },
        ),
        (
            "no lock key means unlocked",
            Some(
                r#"{"value": true, "iechorSocketMount": {"imageList": {"images": ["iechor:cli"]}}}"#,
            ),
            Some(r#"{"value": false}"#),
            Want {
                eci: false,
                images: &["iechor.io/library/iechor:cli"],
                derived: true,
                kind: ListKind::Deny,
                commands: &[],
                sources: [U, A, D, D],
            },
        ),
        (
            "unlocked admin, no user file",
            Some(ADMIN_UNLOCKED_FULL),
            None,
            Want {
                eci: true,
                images: &["iechor.io/library/iechor:cli"],
                derived: false,
                kind: ListKind::Allow,
                commands: &["ps"],
                sources: [A, A, A, A],
            },
        ),
        (
            "user alone",
            None,
            Some(USER_FULL),
            Want {
                eci: false,
                images: &["*"],
                derived: true,
                kind: ListKind::Deny,
                commands: &[],
                sources: [U, U, U, U],
            },
        ),
        (
            "a user's command list replaces the admin's whole, type included",
            Some(
                r#"{"iechorSocketMount": {"commandList": {"type": "allow", "commands": ["ps", "images"]}}}"#,
            ),
            Some(r#"{"iechorSocketMount": {"commandList": {"commands": ["push"]}}}"#),
            Want {
                eci: true,
                images: &[],
                derived: true,
                kind: ListKind::Deny,
                commands: &["push"],
                sources: [D, D, D, U],
            },
        ),
        (
            "an empty user list is a value, not an absence",
            Some(r#"{"iechorSocketMount": {"imageList": {"images": ["iechor:cli"]}}}"#),
            Some(r#"{"iechorSocketMount": {"imageList": {"images": []}}}"#),
            Want {
                eci: true,
                images: &[],
                derived: true,
                kind: ListKind::Deny,
                commands: &[],
                sources: [D, U, D, D],
            },
        ),
        (
            "locked in a user file locks nothing",
            Some(r#"{"value": false}"#),
            Some(r#"{"locked": true}"#),
            Want {
                eci: false,
                images: &[],
                derived: true,
                kind: ListKind::Deny,
                commands: &[],
                sources: [A, D, D, D],
            },
        ),
    ];
    for (what, admin, user, want) in cases {
        let admin = admin.map(section);
        let user = user.map(section);
        let policy = merge(admin.as_ref(), user.as_ref());
        let images: Vec<String> = policy.images.iter().map(ToString::to_string).collect();
        let commands: Vec<&str> = policy
            .command_list
            .entries
            .iter()
            .map(CommandEntry::as_str)
            .collect();
        assert_eq!(policy.eci_enabled, want.eci, "{what}");
        assert_eq!(images, want.images, "{what}");
        assert_eq!(policy.allow_derived_images, want.derived, "{what}");
        assert_eq!(policy.command_list.kind, want.kind, "{what}");
        assert_eq!(commands, want.commands, "{what}");
        let p = policy.provenance;
        assert_eq!(
            [p.value, p.images, p.allow_derived_images, p.command_list],
            want.sources,
            "{what}"
        );
    }
}

#[test]
fn the_default_policy_is_fail_closed() {
    let policy = Policy::default();
    assert!(policy.eci_enabled);
    assert!(policy.images.is_empty());
    assert!(policy.allow_derived_images);
    assert_eq!(
        policy.command_list,
        CommandList {
            kind: ListKind::Deny,
            entries: vec![]
        }
    );
    assert_eq!(policy.provenance, Provenance::DEFAULT);
    assert_eq!(merge(None, None), policy);
    let loaded = load(None, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.policy, policy);
    // A file without an ECI section sets nothing either.
    let loaded = load(
        Some(r#"{"configurationFileVersion": 2, "autoStart": true}"#),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.policy, policy);
}

#[test]
fn the_version_fingerprints_what_is_enforced() {
    let version = |admin: Option<&str>, user: Option<&str>| {
        merge(admin.map(section).as_ref(), user.map(section).as_ref()).version
    };
    let base = version(
        Some(r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"]}}}"#),
        None,
    );
    assert_eq!(base.len(), 16);
    assert!(base.bytes().all(|b| b.is_ascii_hexdigit()), "{base}");
    assert_eq!(
        base,
        version(
            Some(r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"]}}}"#),
            None
        )
    );
    let same: Vec<(&str, Option<&str>, Option<&str>)> = vec![
        (
            "from the user instead",
            None,
            Some(r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"]}}}"#),
        ),
        (
            "other order and spelling",
            Some(
                r#"{"iechorSocketMount": {"imageList": {"images": ["iechor.io/library/iechor:cli", "docker.io/library/busybox:latest"]}}}"#,
            ),
            None,
        ),
        (
            "a repeated entry",
            Some(
                r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli", "busybox:latest"]}}}"#,
            ),
            None,
        ),
        (
            "defaults written out",
            Some(
                r#"{"value": true, "iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"], "allowDerivedImages": true}, "commandList": {"type": "deny", "commands": []}}}"#,
            ),
            None,
        ),
    ];
    for (what, admin, user) in same {
        assert_eq!(version(admin, user), base, "{what}");
    }
    let different: Vec<(&str, &str)> = vec![
        (
            "another image",
            r#"{"iechorSocketMount": {"imageList": {"images": ["busybox:1", "iechor:cli"]}}}"#,
        ),
        (
            "ECI off",
            r#"{"value": false, "iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"]}}}"#,
        ),
        (
            "no derived images",
            r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"], "allowDerivedImages": false}}}"#,
        ),
        (
            "an empty allow list",
            r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"]}, "commandList": {"type": "allow"}}}"#,
        ),
        (
            "a denied command",
            r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"]}, "commandList": {"commands": ["push"]}}}"#,
        ),
        (
            "an image allowed host access",
            r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "iechor:cli"]}}, "eciGuard": {"hostAccess": {"images": ["busybox"]}}}"#,
        ),
    ];
    for (what, admin) in different {
        assert_ne!(version(Some(admin), None), base, "{what}");
    }
}

#[test]
fn the_policy_serialises_for_the_app() {
    let policy = merge(Some(&section(ADMIN_LOCKED_FULL)), None);
    let json = serde_json::to_value(&policy).unwrap_or_default();
    assert_eq!(
        json,
        serde_json::json!({
            "version": policy.version,
            "eciEnabled": true,
            "images": ["iechor.io/library/iechor:cli"],
            "allowDerivedImages": false,
            "commandList": {"type": "allow", "commands": ["ps"]},
            "hostAccessImages": [],
            "audit": {"socketMounts": false, "commands": false, "hostAccess": false},
            "provenance": {
                "value": {"from": "admin", "locked": true},
                "images": {"from": "admin", "locked": true},
                "allowDerivedImages": {"from": "admin", "locked": true},
                "commandList": {"from": "admin", "locked": true},
            },
        })
    );
}

fn file(eci: &str) -> String {
    format!(r#"{{"configurationFileVersion": 2, "enhancedContainerIsolation": {eci}}}"#)
}

#[test]
fn load_fails_on_any_file_that_counts() {
    let invalid = file(r#"{"iechorSocketMount": {"commandList": {"commands": ["pushh"]}}}"#);
    let locked = file(ADMIN_LOCKED_FULL);
    let unlocked = file(r#"{"value": true}"#);
    let user_warned =
        file(r#"{"iechorSocketMount": {"imageList": {"images": ["busybox", "busybox"]}}}"#);
    // Ok(whether the user file was ignored) or Err(the files that failed).
    type Outcome = Result<bool, Vec<Origin>>;
    let cases: Vec<(&str, Option<&str>, Option<&str>, Outcome)> = vec![
        (
            "admin invalid",
            Some(&invalid),
            None,
            Err(vec![Origin::Admin]),
        ),
        (
            "both invalid",
            Some(&invalid),
            Some(&invalid),
            Err(vec![Origin::Admin, Origin::User]),
        ),
        (
            "admin truncated",
            Some("{\"configurationFileVersion\": 2,"),
            Some(&unlocked),
            Err(vec![Origin::Admin]),
        ),
        (
            "unlocked admin, user invalid",
            Some(&unlocked),
            Some(&invalid),
            Err(vec![Origin::User]),
        ),
        (
            "no admin, user invalid",
            None,
            Some(&invalid),
            Err(vec![Origin::User]),
        ),
        (
            "locked admin, user invalid: user not read",
            Some(&locked),
            Some(&invalid),
            Ok(true),
        ),
        (
            "locked admin, user not JSON",
            Some(&locked),
            Some("{"),
            Ok(true),
        ),
        ("locked admin, no user file", Some(&locked), None, Ok(false)),
        (
            "unlocked admin, user with warnings",
            Some(&unlocked),
            Some(&user_warned),
            Ok(false),
        ),
    ];
    for (what, admin, user, want) in cases {
        let got = load(admin, user)
            .map(|l| l.user_ignored)
            .map_err(|e| e.files.iter().map(|f| f.origin).collect::<Vec<_>>());
        assert_eq!(got, want, "{what}");
    }
    let loaded = load(Some(&unlocked), Some(&user_warned)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].origin, Origin::User);
    assert_eq!(loaded.policy.provenance.images, U);
    let err = load(Some(&invalid), None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("admin settings have 1 error(s), first at"),
        "{err}"
    );
    assert!(err.contains("unknown command \"pushh\""), "{err}");
}
