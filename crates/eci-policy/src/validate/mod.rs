//! The one validator of settings files, for the app (live, per field), the CLI (`validate`) and
//! the reloader: diagnostics with a severity, a JSON pointer, a message a person can act on, and
//! the line and column when they come from file text.
//!
//! What is checked is SPEC §1. Beyond it: a repeated key anywhere in the file is an error (readers
//! disagree on which copy counts), and so is a key that differs from a known one only in case
//! (`"Locked": true` would silently leave the section unlocked). Unknown keys inside the ECI
//! section are warnings (typo protection); outside it they are other settings and not ours.

mod json;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::commands::{CommandEntry, CommandError};
use crate::reference::ImageEntry;
use crate::settings::{
    AuditSettings, CommandList, CommandListSettings, EciGuardSection, EciSection,
    HostAccessSettings, ImageList, ListKind, MountKey, SettingsDoc, SocketMount, ECI_KEY,
    SUPPORTED_VERSIONS, VERSION_KEY,
};

/// Where the host-access image list lives in a settings file.
const HOST_ACCESS_POINTER: &str = "/enhancedContainerIsolation/eciGuard/hostAccess/images";

pub(crate) use json::push_token;

/// How bad a diagnostic is: an error means the file cannot become a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// What kind of problem a diagnostic reports, for code that must branch on it (never on the
/// message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "DiagnosticCode"))]
pub enum Code {
    /// Not JSON (including a truncated file).
    Syntax,
    /// A key repeated in one object.
    DuplicateKey,
    /// A value of the wrong JSON type.
    WrongType,
    /// `configurationFileVersion` is not a supported version.
    Version,
    /// `configurationFileVersion` is absent.
    MissingVersion,
    /// Both `iechorSocketMount` and `dockerSocketMount`.
    AliasClash,
    /// A key the ECI section does not know.
    UnknownKey,
    /// A key that differs from a known one only in case.
    KeyCase,
    /// `commandList.type` other than `allow` or `deny`.
    ListType,
    /// An image-list entry that is not a valid reference.
    ImageReference,
    /// An image-list entry equal to an earlier one after normalisation.
    DuplicateImage,
    /// `"*"` beside other image-list entries.
    WildcardBesideEntries,
    /// A command the seed lists as not supported in the command list.
    UnsupportedCommand,
    /// A command that never reaches the engine.
    ClientOnlyCommand,
    /// A name that is no command.
    UnknownCommand,
    /// A wildcard that is not one of the six groups.
    BadWildcard,
    /// A command-list entry equal to an earlier one (`image` and `image*` are one group).
    DuplicateCommand,
}

/// One problem in a settings file. JSON: `{severity, code, pointer, message, line?, column?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    /// JSON pointer (RFC 6901) of the value concerned, in the file's own spelling of the keys;
    /// `""` is the whole document.
    pub pointer: String,
    pub message: String,
    /// 1-based line of the value (of the failure, for syntax errors) when read from text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "{line}:{column}: ")?;
        }
        let pointer = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(f, "{} at {pointer}: {}", self.severity, self.message)
    }
}

/// Every diagnostic of a settings file's text, in document order (empty: valid, no warnings).
pub fn validate(text: &str) -> Vec<Diagnostic> {
    match read(text) {
        Ok((_, _, diagnostics)) => diagnostics,
        Err(diagnostics) => diagnostics,
    }
}

/// A settings file read leniently, for an editor: the document and what could be typed of its
/// ECI section (values of the wrong type left out), with every diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub doc: SettingsDoc,
    /// `None`: the file has no usable `enhancedContainerIsolation` object.
    pub eci: Option<EciSection>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads a file for editing. Fails only when the text is not one JSON object.
pub fn read_settings(text: &str) -> Result<Reading, Vec<Diagnostic>> {
    let (doc, walked, diagnostics) = read(text)?;
    Ok(Reading {
        doc,
        eci: walked.map(|w| w.section),
        diagnostics,
    })
}

/// A settings file without errors.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSettings {
    pub doc: SettingsDoc,
    /// `None`: the file has no ECI section.
    pub eci: Option<CheckedEci>,
    pub warnings: Vec<Diagnostic>,
}

/// Reads a file for enforcing: any error fails it, with every diagnostic (warnings included).
pub fn parse_settings(text: &str) -> Result<ParsedSettings, Vec<Diagnostic>> {
    let (doc, walked, diagnostics) = read(text)?;
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let eci_pointer = format!("/{ECI_KEY}");
    let eci = walked.map(|w| CheckedEci {
        section: w.section,
        images: w.images,
        command_list: w.command_list,
        host_access: w.host_access,
        warnings: diagnostics
            .iter()
            .filter(|d| d.pointer.starts_with(&eci_pointer))
            .cloned()
            .collect(),
    });
    Ok(ParsedSettings {
        doc,
        eci,
        warnings: diagnostics,
    })
}

/// The diagnostics of a section the app holds (no file text, so no lines), with pointers under
/// the given spelling of the socket-mount key.
pub fn validate_section(section: &EciSection, mount_key: MountKey) -> Vec<Diagnostic> {
    let mut walker = Walker::new(None);
    walker.check_section(section, mount_key);
    walker.diagnostics
}

/// An ECI section without errors, its entries parsed. The only input [`crate::settings::merge`]
/// takes, so a policy cannot be built from settings with errors.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedEci {
    section: EciSection,
    images: Option<Vec<ImageEntry>>,
    command_list: Option<CommandList>,
    host_access: Option<Vec<ImageEntry>>,
    warnings: Vec<Diagnostic>,
}

impl CheckedEci {
    /// Checks a section, reporting under the given spelling of the socket-mount key.
    pub fn new(section: EciSection, mount_key: MountKey) -> Result<CheckedEci, Vec<Diagnostic>> {
        let mut walker = Walker::new(None);
        let (images, command_list) = walker.check_section(&section, mount_key);
        let host_access = section.host_access_images().map(|images| {
            let items: Vec<(usize, &str)> = images.iter().map(String::as_str).enumerate().collect();
            walker.check_images(&items, HOST_ACCESS_POINTER)
        });
        if walker.diagnostics.iter().any(Diagnostic::is_error) {
            return Err(walker.diagnostics);
        }
        Ok(CheckedEci {
            section,
            images,
            command_list,
            host_access,
            warnings: walker.diagnostics,
        })
    }

    pub fn section(&self) -> &EciSection {
        &self.section
    }

    /// `locked: true`.
    pub fn locked(&self) -> bool {
        self.section.locked == Some(true)
    }

    /// The image list, parsed, if the section sets one.
    pub fn images(&self) -> Option<&[ImageEntry]> {
        self.images.as_deref()
    }

    /// The images allowed host privileges through the main socket, parsed, if the section sets
    /// them.
    pub fn host_access_images(&self) -> Option<&[ImageEntry]> {
        self.host_access.as_deref()
    }

    /// The command list with its defaults applied, if the section has one.
    pub fn command_list(&self) -> Option<&CommandList> {
        self.command_list.as_ref()
    }

    /// Warnings about this section.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
}

/// Checks the section under the canonical spelling `iechorSocketMount`.
impl TryFrom<EciSection> for CheckedEci {
    type Error = Vec<Diagnostic>;

    fn try_from(section: EciSection) -> Result<CheckedEci, Vec<Diagnostic>> {
        CheckedEci::new(section, MountKey::Iechor)
    }
}

impl TryFrom<&EciSection> for CheckedEci {
    type Error = Vec<Diagnostic>;

    fn try_from(section: &EciSection) -> Result<CheckedEci, Vec<Diagnostic>> {
        CheckedEci::new(section.clone(), MountKey::Iechor)
    }
}

/// What the walk of an ECI object yields: the typed section and its parsed entries.
struct Walked {
    section: EciSection,
    images: Option<Vec<ImageEntry>>,
    command_list: Option<CommandList>,
    host_access: Option<Vec<ImageEntry>>,
}

type Read = (SettingsDoc, Option<Walked>, Vec<Diagnostic>);

fn read(text: &str) -> Result<Read, Vec<Diagnostic>> {
    let value = json::parse_strict(text).map_err(|e| {
        vec![Diagnostic {
            severity: Severity::Error,
            code: if e.duplicate_key.is_some() {
                Code::DuplicateKey
            } else {
                Code::Syntax
            },
            pointer: e.pointer,
            message: e.message,
            line: Some(e.line),
            column: Some(e.column),
        }]
    })?;
    let positions = json::Positions::index(text);
    let mut walker = Walker::new(Some(&positions));
    let Value::Object(root) = value else {
        walker.error(
            Code::WrongType,
            String::new(),
            format!(
                "a settings file must be a JSON object ({{ … }}), not {}",
                type_name(&value)
            ),
        );
        return Err(walker.diagnostics);
    };
    let walked = walker.walk_root(&root);
    Ok((SettingsDoc::from_root(root), walked, walker.diagnostics))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn versions() -> String {
    SUPPORTED_VERSIONS
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

struct Walker<'p> {
    positions: Option<&'p json::Positions>,
    diagnostics: Vec<Diagnostic>,
}

impl<'p> Walker<'p> {
    fn new(positions: Option<&'p json::Positions>) -> Walker<'p> {
        Walker {
            positions,
            diagnostics: Vec::new(),
        }
    }

    fn push(&mut self, severity: Severity, code: Code, pointer: String, message: String) {
        let (line, column) = self
            .positions
            .and_then(|p| p.get(&pointer))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        self.diagnostics.push(Diagnostic {
            severity,
            code,
            pointer,
            message,
            line,
            column,
        });
    }

    fn error(&mut self, code: Code, pointer: String, message: String) {
        self.push(Severity::Error, code, pointer, message);
    }

    fn warning(&mut self, code: Code, pointer: String, message: String) {
        self.push(Severity::Warning, code, pointer, message);
    }

    fn walk_root(&mut self, root: &Map<String, Value>) -> Option<Walked> {
        let version_pointer = push_token("", VERSION_KEY);
        match root.get(VERSION_KEY) {
            None => self.warning(
                Code::MissingVersion,
                version_pointer,
                format!(
                    "{VERSION_KEY} is missing; the file is read as version {} (supported versions: {})",
                    SUPPORTED_VERSIONS[0],
                    versions()
                ),
            ),
            Some(v) if v.as_u64().is_some_and(|n| SUPPORTED_VERSIONS.contains(&n)) => {}
            Some(v @ Value::Number(_)) => self.error(
                Code::Version,
                version_pointer,
                format!(
                    "{VERSION_KEY} {v} is not supported; supported versions: {}",
                    versions()
                ),
            ),
            Some(v) => self.error(
                Code::WrongType,
                version_pointer,
                format!(
                    "{VERSION_KEY} must be a number (supported versions: {}), not {}",
                    versions(),
                    type_name(v)
                ),
            ),
        }
        self.case_variants(root, "", &[VERSION_KEY, ECI_KEY]);
        let pointer = push_token("", ECI_KEY);
        match root.get(ECI_KEY)? {
            Value::Object(eci) => Some(self.walk_eci(eci, &pointer)),
            other => {
                self.wrong_type(pointer, ECI_KEY, "an object", other);
                None
            }
        }
    }

    /// Keys that are a known key in another case: readers that match keys exactly (this one)
    /// ignore them, readers that do not (Go's `encoding/json`) honour them.
    fn case_variants(&mut self, obj: &Map<String, Value>, pointer: &str, known: &[&str]) {
        for key in obj.keys() {
            if let Some(k) = known
                .iter()
                .find(|k| **k != key && k.eq_ignore_ascii_case(key))
            {
                self.error(
                    Code::KeyCase,
                    push_token(pointer, key),
                    format!(
                        "key {key:?} differs from {k:?} only in case; keys are case-sensitive, \
                         so it would be ignored: write {k:?}"
                    ),
                );
            }
        }
    }

    /// Case variants (errors), then other keys not in `known` (warnings).
    fn unknown_keys(&mut self, obj: &Map<String, Value>, pointer: &str, known: &[&str]) {
        self.case_variants(obj, pointer, known);
        let name = pointer.rsplit('/').next().unwrap_or_default();
        for key in obj.keys() {
            if known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                continue;
            }
            self.warning(
                Code::UnknownKey,
                push_token(pointer, key),
                format!(
                    "unknown key {key:?} in {name} is ignored; known keys: {}",
                    known.join(", ")
                ),
            );
        }
    }

    fn wrong_type(&mut self, pointer: String, what: &str, expected: &str, found: &Value) {
        self.error(
            Code::WrongType,
            pointer,
            format!("{what} must be {expected}, not {}", type_name(found)),
        );
    }

    fn boolean(&mut self, obj: &Map<String, Value>, key: &str, pointer: &str) -> Option<bool> {
        match obj.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.wrong_type(push_token(pointer, key), key, "true or false", other);
                None
            }
        }
    }

    /// The string items of an array with their indexes; other items are type errors.
    fn strings<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        pointer: &str,
    ) -> Option<Vec<(usize, &'v str)>> {
        let pointer = push_token(pointer, key);
        match obj.get(key)? {
            Value::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| match item {
                        Value::String(s) => Some((i, s.as_str())),
                        other => {
                            let what = format!("each entry of {key}");
                            self.wrong_type(
                                push_token(&pointer, &i.to_string()),
                                &what,
                                "a string",
                                other,
                            );
                            None
                        }
                    })
                    .collect(),
            ),
            other => {
                self.wrong_type(pointer, key, "an array of strings", other);
                None
            }
        }
    }

    fn walk_eci(&mut self, obj: &Map<String, Value>, pointer: &str) -> Walked {
        let mounts: Vec<(&String, MountKey)> = obj
            .keys()
            .filter_map(|k| MountKey::from_key(k).map(|m| (k, m)))
            .collect();
        self.unknown_keys(
            obj,
            pointer,
            &[
                "locked",
                "value",
                MountKey::Iechor.as_str(),
                MountKey::Docker.as_str(),
                "eciGuard",
            ],
        );
        let locked = self.boolean(obj, "locked", pointer);
        let value = self.boolean(obj, "value", pointer);
        self.alias_clash(&mounts, pointer);
        let mut walked = Walked {
            section: EciSection {
                locked,
                value,
                socket_mount: None,
                eci_guard: None,
            },
            images: None,
            command_list: None,
            host_access: None,
        };
        match obj.get("eciGuard") {
            None => {}
            Some(Value::Object(ext)) => {
                self.walk_extension(ext, &push_token(pointer, "eciGuard"), &mut walked)
            }
            Some(other) => self.wrong_type(
                push_token(pointer, "eciGuard"),
                "eciGuard",
                "an object",
                other,
            ),
        }
        if let Some((key, _)) = mounts.first() {
            let mount_pointer = push_token(pointer, key);
            match &obj[key.as_str()] {
                Value::Object(mount) => self.walk_mount(mount, &mount_pointer, &mut walked),
                other => self.wrong_type(mount_pointer, key, "an object", other),
            }
        }
        walked
    }

    /// Both spellings of the socket-mount key in one section: the second is reported.
    fn alias_clash(&mut self, mounts: &[(&String, MountKey)], pointer: &str) {
        if let [(first, _), (second, _)] = mounts {
            self.error(
                Code::AliasClash,
                push_token(pointer, second),
                format!(
                    "both {first:?} and {second:?} are present; {} is an alias of {}, keep only one",
                    MountKey::Docker.as_str(),
                    MountKey::Iechor.as_str()
                ),
            );
        }
    }

    /// `eciGuard`: eci-guard's own keys; `hostAccess.images` in the image-list grammar, `audit`
    /// as one boolean per rule family.
    fn walk_extension(&mut self, obj: &Map<String, Value>, pointer: &str, walked: &mut Walked) {
        self.unknown_keys(obj, pointer, &["hostAccess", "audit"]);
        let mut ext = EciGuardSection::default();
        match obj.get("hostAccess") {
            None => {}
            Some(Value::Object(host)) => {
                let host_pointer = push_token(pointer, "hostAccess");
                self.unknown_keys(host, &host_pointer, &["images"]);
                let images = self.strings(host, "images", &host_pointer);
                if let Some(images) = &images {
                    walked.host_access =
                        Some(self.check_images(images, &push_token(&host_pointer, "images")));
                }
                ext.host_access = Some(HostAccessSettings {
                    images: images.map(|v| v.into_iter().map(|(_, s)| s.to_owned()).collect()),
                });
            }
            Some(other) => self.wrong_type(
                push_token(pointer, "hostAccess"),
                "hostAccess",
                "an object",
                other,
            ),
        }
        match obj.get("audit") {
            None => {}
            Some(Value::Object(audit)) => {
                let audit_pointer = push_token(pointer, "audit");
                self.unknown_keys(
                    audit,
                    &audit_pointer,
                    &["socketMounts", "commands", "hostAccess"],
                );
                ext.audit = Some(AuditSettings {
                    socket_mounts: self.boolean(audit, "socketMounts", &audit_pointer),
                    commands: self.boolean(audit, "commands", &audit_pointer),
                    host_access: self.boolean(audit, "hostAccess", &audit_pointer),
                });
            }
            Some(other) => {
                self.wrong_type(push_token(pointer, "audit"), "audit", "an object", other)
            }
        }
        walked.section.eci_guard = Some(ext);
    }

    fn walk_mount(&mut self, obj: &Map<String, Value>, pointer: &str, walked: &mut Walked) {
        self.unknown_keys(obj, pointer, &["imageList", "commandList"]);
        let mut mount = SocketMount::default();
        match obj.get("imageList") {
            None => {}
            Some(Value::Object(list)) => {
                mount.image_list = Some(self.walk_image_list(list, pointer, walked));
            }
            Some(other) => self.wrong_type(
                push_token(pointer, "imageList"),
                "imageList",
                "an object",
                other,
            ),
        }
        match obj.get("commandList") {
            None => {}
            Some(Value::Object(list)) => {
                mount.command_list = Some(self.walk_command_list(list, pointer, walked));
            }
            Some(other) => self.wrong_type(
                push_token(pointer, "commandList"),
                "commandList",
                "an object",
                other,
            ),
        }
        walked.section.socket_mount = Some(mount);
    }

    /// `imageList`: `images` in the image-list grammar, `allowDerivedImages` a boolean.
    fn walk_image_list(
        &mut self,
        list: &Map<String, Value>,
        pointer: &str,
        walked: &mut Walked,
    ) -> ImageList {
        let list_pointer = push_token(pointer, "imageList");
        self.unknown_keys(list, &list_pointer, &["images", "allowDerivedImages"]);
        let allow_derived_images = self.boolean(list, "allowDerivedImages", &list_pointer);
        let images = self.strings(list, "images", &list_pointer);
        if let Some(images) = &images {
            walked.images = Some(self.check_images(images, &push_token(&list_pointer, "images")));
        }
        ImageList {
            images: images.map(|v| v.into_iter().map(|(_, s)| s.to_owned()).collect()),
            allow_derived_images,
        }
    }

    /// `commandList`: `type` allow or deny, `commands` in the command grammar.
    fn walk_command_list(
        &mut self,
        list: &Map<String, Value>,
        pointer: &str,
        walked: &mut Walked,
    ) -> CommandListSettings {
        let list_pointer = push_token(pointer, "commandList");
        self.unknown_keys(list, &list_pointer, &["type", "commands"]);
        let kind = match list.get("type") {
            None => None,
            Some(Value::String(s)) => ListKind::from_name(s).or_else(|| {
                self.error(
                    Code::ListType,
                    push_token(&list_pointer, "type"),
                    format!("unknown command list type {s:?}; expected \"allow\" or \"deny\""),
                );
                None
            }),
            Some(other) => {
                self.wrong_type(
                    push_token(&list_pointer, "type"),
                    "type",
                    "\"allow\" or \"deny\"",
                    other,
                );
                None
            }
        };
        let commands = self.strings(list, "commands", &list_pointer);
        let entries = commands
            .as_ref()
            .map(|c| self.check_commands(c, &push_token(&list_pointer, "commands")));
        walked.command_list = Some(CommandList {
            kind: kind.unwrap_or_default(),
            entries: entries.unwrap_or_default(),
        });
        CommandListSettings {
            kind,
            commands: commands.map(|v| v.into_iter().map(|(_, s)| s.to_owned()).collect()),
        }
    }

    /// The entry checks of a typed section (no JSON types to check).
    fn check_section(
        &mut self,
        section: &EciSection,
        mount_key: MountKey,
    ) -> (Option<Vec<ImageEntry>>, Option<CommandList>) {
        let mount_pointer = mount_key.pointer();
        let images = section.images().map(|images| {
            let items: Vec<(usize, &str)> = images.iter().map(String::as_str).enumerate().collect();
            self.check_images(&items, &format!("{mount_pointer}/imageList/images"))
        });
        let command_list = section.command_list().map(|list| {
            let items: Vec<(usize, &str)> = list
                .commands
                .iter()
                .flatten()
                .map(String::as_str)
                .enumerate()
                .collect();
            CommandList {
                kind: list.kind.unwrap_or_default(),
                entries: self
                    .check_commands(&items, &format!("{mount_pointer}/commandList/commands")),
            }
        });
        (images, command_list)
    }

    /// Parses image-list entries; `pointer` is the array's.
    fn check_images(&mut self, items: &[(usize, &str)], pointer: &str) -> Vec<ImageEntry> {
        let beside_others = items.iter().any(|(_, s)| *s != "*");
        let mut seen: Vec<(String, usize, &str)> = Vec::new();
        let mut entries = Vec::new();
        for &(index, raw) in items {
            let item_pointer = push_token(pointer, &index.to_string());
            let entry = match ImageEntry::parse(raw) {
                Ok(entry) => entry,
                Err(e) => {
                    self.error(
                        Code::ImageReference,
                        item_pointer,
                        format!("invalid image-list entry {raw:?}: {e}"),
                    );
                    continue;
                }
            };
            let canonical = entry.to_string();
            if let Some((_, first_index, first)) = seen.iter().find(|(c, ..)| *c == canonical) {
                self.warning(
                    Code::DuplicateImage,
                    item_pointer,
                    format!(
                        "{raw:?} repeats entry {first_index} ({first:?}): both are {canonical}; \
                         remove one"
                    ),
                );
            } else {
                if entry == ImageEntry::All && beside_others {
                    self.warning(
                        Code::WildcardBesideEntries,
                        item_pointer,
                        "\"*\" allows every image, so the other entries of the list have no \
                         effect; remove them, or remove \"*\" to allow only them"
                            .to_owned(),
                    );
                }
                seen.push((canonical, index, raw));
            }
            entries.push(entry);
        }
        entries
    }

    /// Parses command-list entries; `pointer` is the array's.
    fn check_commands(&mut self, items: &[(usize, &str)], pointer: &str) -> Vec<CommandEntry> {
        let mut seen: Vec<(&'static str, usize, &str)> = Vec::new();
        let mut entries = Vec::new();
        for &(index, raw) in items {
            let item_pointer = push_token(pointer, &index.to_string());
            let entry = match CommandEntry::parse(raw) {
                Ok(entry) => entry,
                Err(e) => {
                    let code = match e {
                        CommandError::Unsupported { .. } => Code::UnsupportedCommand,
                        CommandError::ClientOnly(_) => Code::ClientOnlyCommand,
                        CommandError::UnknownWildcard(_) => Code::BadWildcard,
                        CommandError::Unknown(_) => Code::UnknownCommand,
                    };
                    if e.ignorable() {
                        self.warning(
                            code,
                            item_pointer,
                            format!(
                                "{e}; it is ignored, and the rest of the command list is enforced"
                            ),
                        );
                    } else {
                        self.error(code, item_pointer, e.to_string());
                    }
                    continue;
                }
            };
            let canonical = entry.as_str();
            if let Some((_, first_index, first)) = seen.iter().find(|(c, ..)| *c == canonical) {
                self.warning(
                    Code::DuplicateCommand,
                    item_pointer,
                    format!(
                        "{raw:?} repeats entry {first_index} ({first:?}): both mean {canonical}; \
                         remove one"
                    ),
                );
            } else {
                seen.push((canonical, index, raw));
            }
            entries.push(entry);
        }
        entries
    }
}

#[cfg(test)]
mod tests;
