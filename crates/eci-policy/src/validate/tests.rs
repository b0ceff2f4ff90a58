//! Validator cases: each diagnostic kind at its pointer, positions, and the typed results.

use super::*;
use crate::settings::ListKind;

/// The seed's `admin-settings.json` example, verbatim.
const SEED: &str = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": {
    "locked": true,
    "value": true,
    "iechorSocketMount": {
      "imageList": {
        "images": [
          "iechor.io/localstack/localstack:*",
          "iechor.io/testcontainers/ryuk:*",
          "iechor:cli"
        ]
      },
      "commandList": {
        "type": "deny",
        "commands": ["push"]
      }
    }
  }
}"#;

/// SPEC §1's example, which adds `allowDerivedImages`.
const SPEC: &str = r#"{
  "configurationFileVersion": 2,
  "enhancedContainerIsolation": {
    "locked": true,
    "value": true,
    "iechorSocketMount": {
      "imageList": {
        "images": ["iechor.io/localstack/localstack:*", "iechor.io/testcontainers/ryuk:*", "iechor:cli"],
        "allowDerivedImages": true
      },
      "commandList": { "type": "deny", "commands": ["push"] }
    }
  }
}"#;

const ECI: &str = "/enhancedContainerIsolation";
const MOUNT: &str = "/enhancedContainerIsolation/iechorSocketMount";
const IMAGES: &str = "/enhancedContainerIsolation/iechorSocketMount/imageList/images";
const COMMANDS: &str = "/enhancedContainerIsolation/iechorSocketMount/commandList/commands";

fn file(eci: &str) -> String {
    format!(r#"{{"configurationFileVersion": 2, "enhancedContainerIsolation": {eci}}}"#)
}

fn mount(body: &str) -> String {
    file(&format!(r#"{{"iechorSocketMount": {body}}}"#))
}

fn images(list: &str) -> String {
    mount(&format!(r#"{{"imageList": {{"images": {list}}}}}"#))
}

fn commands(list: &str) -> String {
    mount(&format!(r#"{{"commandList": {{"commands": {list}}}}}"#))
}

use Code::*;
use Severity::{Error as E, Warning as W};

/// (what, text, expected diagnostics: severity, code, pointer, a piece of the message).
type Case = (
    &'static str,
    String,
    Vec<(Severity, Code, String, &'static str)>,
);

fn at(pointer: &str, suffix: &str) -> String {
    format!("{pointer}{suffix}")
}

fn cases() -> Vec<Case> {
    vec![
        ("seed example", SEED.into(), vec![]),
        ("spec example", SPEC.into(), vec![]),
        ("other settings only", r#"{"configurationFileVersion": 2, "autoStart": true}"#.into(), vec![]),
        (
            "unsupported command",
            commands(r#"["compose"]"#),
            vec![(W, UnsupportedCommand, at(COMMANDS, "/0"), "cannot be enforced; it is ignored")],
        ),
        (
            "unsupported command behind a valid one",
            commands(r#"["push", "scout"]"#),
            vec![(W, UnsupportedCommand, at(COMMANDS, "/1"), "cannot be enforced; it is ignored")],
        ),
        (
            "alias spelling kept in pointers",
            file(r#"{"dockerSocketMount": {"commandList": {"commands": ["trust"]}}}"#),
            vec![(
                W,
                UnsupportedCommand,
                "/enhancedContainerIsolation/dockerSocketMount/commandList/commands/0".into(),
                "cannot be enforced",
            )],
        ),
        (
            "alias alone is accepted",
            file(r#"{"dockerSocketMount": {"imageList": {"images": ["iechor:cli"]}}}"#),
            vec![],
        ),
        (
            "alias clash",
            file(r#"{"iechorSocketMount": {}, "dockerSocketMount": {}}"#),
            vec![(E, AliasClash, at(ECI, "/dockerSocketMount"), "alias")],
        ),
        (
            "unsupported version",
            r#"{"configurationFileVersion": 3}"#.into(),
            vec![(E, Version, "/configurationFileVersion".into(), "supported versions: 2")],
        ),
        (
            "fractional version",
            r#"{"configurationFileVersion": 2.5}"#.into(),
            vec![(E, Version, "/configurationFileVersion".into(), "supported versions: 2")],
        ),
        (
            "version as a string",
            r#"{"configurationFileVersion": "2"}"#.into(),
            vec![(E, WrongType, "/configurationFileVersion".into(), "not a string")],
        ),
        (
            "missing version",
            r#"{"enhancedContainerIsolation": {"value": true}}"#.into(),
            vec![(W, MissingVersion, "/configurationFileVersion".into(), "read as version 2")],
        ),
        (
            "locked as a string",
            file(r#"{"locked": "yes"}"#),
            vec![(E, WrongType, at(ECI, "/locked"), "true or false")],
        ),
        (
            "value as a number",
            file(r#"{"value": 1}"#),
            vec![(E, WrongType, at(ECI, "/value"), "not a number")],
        ),
        (
            "locked null",
            file(r#"{"locked": null}"#),
            vec![(E, WrongType, at(ECI, "/locked"), "not null")],
        ),
        (
            "section not an object",
            file(r#"[]"#),
            vec![(E, WrongType, ECI.into(), "must be an object")],
        ),
        (
            "socket mount not an object",
            file(r#"{"iechorSocketMount": "iechor:cli"}"#),
            vec![(E, WrongType, MOUNT.into(), "must be an object")],
        ),
        (
            "images not an array",
            images(r#""iechor:cli""#),
            vec![(E, WrongType, IMAGES.into(), "array of strings")],
        ),
        (
            "image entry not a string",
            images(r#"["iechor:cli", 7]"#),
            vec![(E, WrongType, at(IMAGES, "/1"), "must be a string")],
        ),
        (
            "allowDerivedImages as a string",
            mount(r#"{"imageList": {"allowDerivedImages": "false"}}"#),
            vec![(E, WrongType, at(MOUNT, "/imageList/allowDerivedImages"), "true or false")],
        ),
        (
            "commandList as an array",
            mount(r#"{"commandList": ["push"]}"#),
            vec![(E, WrongType, at(MOUNT, "/commandList"), "must be an object")],
        ),
        (
            "commands as a string",
            commands(r#""push""#),
            vec![(E, WrongType, COMMANDS.into(), "array of strings")],
        ),
        (
            "list type not a string",
            mount(r#"{"commandList": {"type": true}}"#),
            vec![(E, WrongType, at(MOUNT, "/commandList/type"), "\"allow\" or \"deny\"")],
        ),
        (
            "unknown list type",
            mount(r#"{"commandList": {"type": "block"}}"#),
            vec![(E, ListType, at(MOUNT, "/commandList/type"), "\"allow\" or \"deny\"")],
        ),
        (
            "list type in another case",
            mount(r#"{"commandList": {"type": "Allow"}}"#),
            vec![(E, ListType, at(MOUNT, "/commandList/type"), "\"Allow\"")],
        ),
        (
            "uppercase repository",
            images(r#"["iechor:cli", "Library/Iechor:cli"]"#),
            vec![(E, ImageReference, at(IMAGES, "/1"), "lowercase")],
        ),
        (
            "wildcard inside a tag",
            images(r#"["iechor:v*"]"#),
            vec![(E, ImageReference, at(IMAGES, "/0"), "whole tag")],
        ),
        (
            "malformed digest",
            images(r#"["iechor@sha256:abc"]"#),
            vec![(E, ImageReference, at(IMAGES, "/0"), "invalid digest")],
        ),
        (
            "empty entry",
            images(r#"[""]"#),
            vec![(E, ImageReference, at(IMAGES, "/0"), "empty")],
        ),
        (
            "duplicate after normalisation",
            images(r#"["iechor:cli", "docker.io/library/iechor:cli", "iechor.io/library/iechor:cli"]"#),
            vec![
                (W, DuplicateImage, at(IMAGES, "/1"), "iechor.io/library/iechor:cli"),
                (W, DuplicateImage, at(IMAGES, "/2"), "repeats entry 0"),
            ],
        ),
        (
            "default tag is latest",
            images(r#"["busybox", "busybox:latest"]"#),
            vec![(W, DuplicateImage, at(IMAGES, "/1"), "repeats entry 0")],
        ),
        (
            "different tags are not duplicates",
            images(r#"["busybox:1", "busybox:*", "busybox"]"#),
            vec![],
        ),
        (
            "star beside other entries",
            images(r#"["iechor:cli", "*"]"#),
            vec![(W, WildcardBesideEntries, at(IMAGES, "/1"), "allows every image")],
        ),
        ("star alone", images(r#"["*"]"#), vec![]),
        (
            "unknown command",
            commands(r#"["pushh"]"#),
            vec![(E, UnknownCommand, at(COMMANDS, "/0"), "pull, push, images")],
        ),
        (
            "command in another case",
            commands(r#"["Push"]"#),
            vec![(E, UnknownCommand, at(COMMANDS, "/0"), "unknown command \"Push\"")],
        ),
        (
            "bad wildcard",
            commands(r#"["swarm*"]"#),
            vec![(E, BadWildcard, at(COMMANDS, "/0"), "container*, image*")],
        ),
        (
            "client-only command",
            commands(r#"["logout"]"#),
            vec![(W, ClientOnlyCommand, at(COMMANDS, "/0"), "never reaches the engine")],
        ),
        (
            "management command and its wildcard",
            commands(r#"["image", "push", "image*"]"#),
            vec![(W, DuplicateCommand, at(COMMANDS, "/2"), "both mean image*")],
        ),
        (
            "unknown key in the section",
            file(r#"{"lockd": true, "value": true}"#),
            vec![(W, UnknownKey, at(ECI, "/lockd"), "known keys: locked, value")],
        ),
        (
            "unknown key in the image list",
            mount(r#"{"imageList": {"images": [], "allowDerived": false}}"#),
            vec![(W, UnknownKey, at(MOUNT, "/imageList/allowDerived"), "allowDerivedImages")],
        ),
        (
            "unknown key in the command list",
            mount(r#"{"commandList": {"kind": "allow"}}"#),
            vec![(W, UnknownKey, at(MOUNT, "/commandList/kind"), "type, commands")],
        ),
        (
            "unknown key in the socket mount",
            mount(r#"{"imagesList": {}}"#),
            vec![(W, UnknownKey, at(MOUNT, "/imagesList"), "imageList, commandList")],
        ),
        (
            "unknown keys outside the section are other settings",
            r#"{"configurationFileVersion": 2, "autoStart": {"locked": true, "value": "x"}, "enhancedContainerIsolation": {"value": true}, "exposeDockerAPIOnTCP2375": {"value": false}}"#.into(),
            vec![],
        ),
        (
            "locked in another case would leave the section unlocked",
            file(r#"{"Locked": true}"#),
            vec![(E, KeyCase, at(ECI, "/Locked"), "write \"locked\"")],
        ),
        (
            "section key in another case",
            r#"{"configurationFileVersion": 2, "EnhancedContainerIsolation": {"locked": true}}"#.into(),
            vec![(E, KeyCase, "/EnhancedContainerIsolation".into(), "only in case")],
        ),
        (
            "socket mount key in another case",
            file(r#"{"IechorSocketMount": {}}"#),
            vec![(E, KeyCase, at(ECI, "/IechorSocketMount"), "only in case")],
        ),
        (
            "duplicate key in the section",
            file(r#"{"locked": true, "locked": false}"#),
            vec![(E, DuplicateKey, at(ECI, "/locked"), "duplicate key \"locked\"")],
        ),
        (
            "duplicate key in other settings",
            r#"{"configurationFileVersion": 2, "theme": "dark", "theme": "light"}"#.into(),
            vec![(E, DuplicateKey, "/theme".into(), "duplicate key")],
        ),
        (
            "duplicate entry key in an image list's parent",
            images(r#"[], "images": ["*"]"#),
            vec![(E, DuplicateKey, at(MOUNT, "/imageList/images"), "duplicate key")],
        ),
        (
            "not an object",
            r#"["configurationFileVersion", 2]"#.into(),
            vec![(E, WrongType, "".into(), "must be a JSON object")],
        ),
        ("empty file", "".into(), vec![(E, Syntax, "".into(), "EOF")]),
        (
            "trailing comma",
            r#"{"configurationFileVersion": 2,}"#.into(),
            vec![(E, Syntax, "".into(), "trailing comma")],
        ),
        (
            "truncated",
            SEED[..SEED.find("\"iechor:cli\"").unwrap_or_default()].into(),
            vec![(E, Syntax, IMAGES.into(), "EOF")],
        ),
    ]
}

#[test]
fn every_case_reports_exactly_its_diagnostics() {
    for (what, text, expected) in cases() {
        let got = validate(&text);
        let got_keys: Vec<(Severity, Code, &str)> = got
            .iter()
            .map(|d| (d.severity, d.code, d.pointer.as_str()))
            .collect();
        let want_keys: Vec<(Severity, Code, &str)> = expected
            .iter()
            .map(|(s, c, p, _)| (*s, *c, p.as_str()))
            .collect();
        assert_eq!(got_keys, want_keys, "{what}: {got:#?}");
        for (d, (.., piece)) in got.iter().zip(&expected) {
            assert!(
                d.message.contains(piece),
                "{what}: {:?} lacks {piece:?}",
                d.message
            );
        }
    }
}

#[test]
fn errors_refuse_the_file_and_warnings_do_not() {
    for (what, text, expected) in cases() {
        let has_error = expected.iter().any(|(s, ..)| *s == E);
        assert_eq!(parse_settings(&text).is_err(), has_error, "{what}");
        let lenient = read_settings(&text);
        let not_an_object = expected
            .iter()
            .any(|(_, c, ..)| matches!(c, Syntax | DuplicateKey))
            || text.trim_start().starts_with('[');
        assert_eq!(lenient.is_err(), not_an_object, "{what}");
    }
}

#[test]
fn positions_are_line_and_character_column() {
    let truncated = "{\n  \"configurationFileVersion\": 2,\n  \"enhancedContainerIsolation\": {\n    \"locked\": true,\n";
    let cases: Vec<(&str, String, Code, usize, usize)> = vec![
        ("truncated after a newline", truncated.into(), Syntax, 4, 20),
        (
            "truncated mid-line",
            "{\"configurationFileVersion\": 2, \"enhanced".into(),
            Syntax,
            1,
            41,
        ),
        (
            "bad literal",
            "{\n  \"configurationFileVersion\": tru\n}".into(),
            Syntax,
            2,
            34,
        ),
        // At the second key's closing quote, where serde_json stands when the key is complete.
        (
            "duplicate key",
            "{\n \"a\": 1,\n \"a\": 2\n}".into(),
            DuplicateKey,
            3,
            4,
        ),
        // The seed's "push" is on line 16 and starts at column 22.
        (
            "semantic error in the seed",
            SEED.replace("[\"push\"]", "[\"compose\"]"),
            UnsupportedCommand,
            16,
            22,
        ),
        (
            "image entry",
            SEED.replace("\"iechor:cli\"", "\"Iechor:cli\""),
            ImageReference,
            11,
            11,
        ),
        // Columns count characters: "é" is two bytes.
        (
            "after non-ASCII",
            "{\"é\": \"ééé\", \"configurationFileVersion\": 3}".into(),
            Version,
            1,
            42,
        ),
        (
            "syntax after non-ASCII",
            "{\"é\": \"ééé\", x}".into(),
            Syntax,
            1,
            14,
        ),
        (
            "after escaped quotes and braces in a string",
            r#"{"x": "q\"}\\", "configurationFileVersion": 3}"#.into(),
            Version,
            1,
            45,
        ),
        (
            "inside an array of objects",
            "{\"other\": [{\"a\": [1, {}]}, {}],\n\"configurationFileVersion\": 1}".into(),
            Version,
            2,
            29,
        ),
    ];
    for (what, text, code, line, column) in cases {
        let got = validate(&text);
        let d = got
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("{what}: no {code:?} in {got:#?}"));
        assert_eq!(
            (d.line, d.column),
            (Some(line), Some(column)),
            "{what}: {d:?}"
        );
    }
}

#[test]
fn diagnostics_display_as_position_severity_pointer_message() {
    let text = SEED.replace("[\"push\"]", "[\"compose\"]");
    let shown = validate(&text)[0].to_string();
    assert!(
        shown.starts_with("16:22: warning at /enhancedContainerIsolation/iechorSocketMount/commandList/commands/0: command \"compose\""),
        "{shown}"
    );
}

#[test]
fn a_byte_order_mark_is_not_an_error() {
    assert_eq!(validate(&format!("\u{feff}{SEED}")), vec![]);
}

#[test]
fn diagnostics_serialise_as_the_documented_shape() {
    let d = &validate(&commands(r#"["compose"]"#))[0];
    let json = serde_json::to_value(d).unwrap_or_default();
    assert_eq!(json["severity"], "warning");
    assert_eq!(json["code"], "unsupported-command");
    assert_eq!(json["pointer"], at(COMMANDS, "/0"));
    assert_eq!(json["line"], 1);
    assert!(json["column"].is_u64());
    let section = EciSection {
        value: Some(true),
        socket_mount: Some(SocketMount {
            image_list: Some(ImageList {
                images: Some(vec!["Bad".into()]),
                allow_derived_images: None,
            }),
            command_list: None,
        }),
        locked: None,
        eci_guard: None,
    };
    let d = &validate_section(&section, MountKey::Iechor)[0];
    let json = serde_json::to_value(d).unwrap_or_default();
    let keys: Vec<&str> = json
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["severity", "code", "pointer", "message"]);
}

#[test]
fn parsed_settings_carry_typed_entries() {
    let parsed = parse_settings(SEED).unwrap_or_else(|d| panic!("{d:#?}"));
    let eci = parsed.eci.unwrap_or_else(|| panic!("no section"));
    assert!(eci.locked());
    let parsed_images: Vec<String> = eci
        .images()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        parsed_images,
        [
            "iechor.io/localstack/localstack:*",
            "iechor.io/testcontainers/ryuk:*",
            "iechor.io/library/iechor:cli"
        ]
    );
    let list = eci.command_list().cloned().unwrap_or_default();
    assert_eq!(list.kind, ListKind::Deny);
    assert_eq!(list.entries, [CommandEntry::Name("push")]);
    assert_eq!(eci.section().images().map(<[String]>::len), Some(3));
    assert_eq!(
        eci.section()
            .images()
            .and_then(|i| i.get(2))
            .map(String::as_str),
        Some("iechor:cli")
    );

    let allow = parse_settings(&mount(r#"{"commandList": {"type": "allow"}}"#))
        .ok()
        .and_then(|p| p.eci)
        .and_then(|e| e.command_list().cloned());
    assert_eq!(
        allow,
        Some(CommandList {
            kind: ListKind::Allow,
            entries: vec![]
        })
    );

    let warned =
        parse_settings(&images(r#"["busybox", "busybox"]"#)).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(warned.warnings.len(), 1);
    assert_eq!(warned.eci.map(|e| e.warnings().len()), Some(1));
}

#[test]
fn lenient_reading_keeps_what_is_typed() {
    let text =
        mount(r#"{"imageList": {"images": ["Bad", 3, "iechor:cli"], "allowDerivedImages": "no"}}"#);
    let reading = read_settings(&text).unwrap_or_else(|d| panic!("{d:#?}"));
    let eci = reading.eci.unwrap_or_default();
    assert_eq!(
        eci.images(),
        Some(&["Bad".to_owned(), "iechor:cli".to_owned()][..])
    );
    assert_eq!(eci.allow_derived_images(), None);
    let pointers: Vec<&str> = reading
        .diagnostics
        .iter()
        .map(|d| d.pointer.as_str())
        .collect();
    assert_eq!(
        pointers,
        [
            at(MOUNT, "/imageList/allowDerivedImages"),
            at(IMAGES, "/1"),
            at(IMAGES, "/0")
        ]
    );
}

#[test]
fn a_typed_section_is_checked_like_a_file() {
    let section = |images: &[&str], commands: &[&str]| EciSection {
        locked: None,
        value: None,
        socket_mount: Some(SocketMount {
            image_list: Some(ImageList {
                images: Some(images.iter().map(|s| s.to_string()).collect()),
                allow_derived_images: None,
            }),
            command_list: Some(CommandListSettings {
                kind: None,
                commands: Some(commands.iter().map(|s| s.to_string()).collect()),
            }),
        }),
        eci_guard: None,
    };
    type Outcome = Result<(), Vec<(Code, String)>>;
    let cases: Vec<(EciSection, MountKey, Outcome)> = vec![
        (
            section(&["iechor:cli"], &["push"]),
            MountKey::Iechor,
            Ok(()),
        ),
        (
            section(&["iechor:cli", "a:*:b"], &["compose"]),
            MountKey::Iechor,
            Err(vec![
                (ImageReference, at(IMAGES, "/1")),
                (UnsupportedCommand, at(COMMANDS, "/0")),
            ]),
        ),
        // Unsupported commands alone are warnings: the section is enforced without them.
        (section(&[], &["push", "dev"]), MountKey::Docker, Ok(())),
        (
            section(&[], &["push", "dev", "pusher"]),
            MountKey::Docker,
            Err(vec![
                (
                    UnsupportedCommand,
                    "/enhancedContainerIsolation/dockerSocketMount/commandList/commands/1".into(),
                ),
                (
                    UnknownCommand,
                    "/enhancedContainerIsolation/dockerSocketMount/commandList/commands/2".into(),
                ),
            ]),
        ),
    ];
    for (section, key, want) in cases {
        let got = CheckedEci::new(section.clone(), key)
            .map(|_| ())
            .map_err(|ds| {
                ds.into_iter()
                    .map(|d| (d.code, d.pointer))
                    .collect::<Vec<_>>()
            });
        assert_eq!(got, want, "{section:?}");
        if key == MountKey::Iechor {
            assert_eq!(CheckedEci::try_from(&section).is_ok(), want.is_ok());
        }
    }
}

#[test]
fn pointer_tokens_are_escaped() {
    let got = validate(&file(r#"{"a/b~c": 1}"#));
    assert_eq!(got[0].pointer, "/enhancedContainerIsolation/a~1b~0c");
    assert_eq!(got[0].line, Some(1));
}
