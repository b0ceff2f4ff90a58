//! The effective policy: the admin's and the user's ECI sections merged under the lock rules of
//! SPEC §1, as parsed, typed data with where each value came from and a fingerprint.
//!
//! Lock rules: an admin section with `locked: true` is the whole truth (the user's section is not
//! read, and a field the admin leaves out takes the default, never the user's value). Otherwise the
//! admin's values are defaults that the user's own values override field by field. Fields: `value`,
//! `images`, `allowDerivedImages`, and `commandList` as one unit (a user's list replaces the
//! admin's with its own type, so an allow list never gets mixed with deny entries).
//!
//! Fail-closed default (no file sets a field): ECI on; empty image list, so no image may mount
//! the socket; derived images allowed (the seed's default, and moot with an empty list); a deny
//! command list with no entries.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::{AuditSettings, ListKind};
use crate::audit::Families;
use crate::commands::CommandEntry;
use crate::reference::ImageEntry;
use crate::validate::{parse_settings, CheckedEci, Diagnostic, Severity};

/// Where one field of the effective policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Source {
    /// The admin file; `locked` says whether users could have changed it.
    Admin {
        locked: bool,
    },
    User,
    /// No file sets it: the fail-closed default.
    Default,
}

/// The source of each field of a [`Policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Provenance {
    pub value: Source,
    pub images: Source,
    pub allow_derived_images: Source,
    pub command_list: Source,
}

impl Provenance {
    pub const DEFAULT: Provenance = Provenance {
        value: Source::Default,
        images: Source::Default,
        allow_derived_images: Source::Default,
        command_list: Source::Default,
    };
}

/// The effective command list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandList {
    pub kind: ListKind,
    pub entries: Vec<CommandEntry>,
}

/// The policy the enforcer applies. Holds parsed data only; obtained from settings through
/// [`merge`] or [`load`], which accept only sections without errors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(as = "PolicyJson"))]
pub struct Policy {
    /// ECI on; off means the enforcer passes everything through.
    pub eci_enabled: bool,
    /// Images allowed to mount the engine socket, without duplicates, in file order.
    pub images: Vec<ImageEntry>,
    pub allow_derived_images: bool,
    pub command_list: CommandList,
    /// Images that may be given host privileges through the main socket (eci-guard's
    /// `eciGuard.hostAccess.images`); empty: none.
    pub host_access_images: Vec<ImageEntry>,
    /// Rule families in audit mode (`eciGuard.audit`): their refusals are recorded and forwarded.
    pub audit: Families,
    /// Families whose refusal this request already had recorded as audited: they pass while it is
    /// judged again. Set only by [`crate::audit::refusal`]; never from settings.
    pub waived: Families,
    pub provenance: Provenance,
    /// Fingerprint of what is enforced (not of where it came from): the first 16 hex digits of
    /// the SHA-256 of [`Policy::canonical_json`]. Equal policies have equal versions whatever the
    /// order or spelling of their entries.
    pub version: String,
}

impl Policy {
    /// Builds a policy, dropping repeated entries and computing its version.
    pub fn new(
        eci_enabled: bool,
        images: Vec<ImageEntry>,
        allow_derived_images: bool,
        command_list: CommandList,
        provenance: Provenance,
    ) -> Policy {
        let mut policy = Policy {
            eci_enabled,
            images: dedup_by_key(images, |e| e.to_string()),
            allow_derived_images,
            command_list: CommandList {
                kind: command_list.kind,
                entries: dedup_by_key(command_list.entries, |e| e.as_str()),
            },
            host_access_images: Vec::new(),
            audit: Families::default(),
            waived: Families::default(),
            provenance,
            version: String::new(),
        };
        policy.seal();
        policy
    }

    /// The same policy with these images allowed host privileges through the main socket.
    pub fn with_host_access(mut self, images: Vec<ImageEntry>) -> Policy {
        self.host_access_images = dedup_by_key(images, |e| e.to_string());
        self.seal();
        self
    }

    /// The same policy with these rule families in audit mode.
    pub fn with_audit(mut self, audit: Families) -> Policy {
        self.audit = audit;
        self.seal();
        self
    }

    fn seal(&mut self) {
        let canonical = self.canonical_json().to_string();
        let digest = Sha256::digest(canonical.as_bytes());
        self.version = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    }

    /// What is enforced, order-independent: entries in canonical spelling, sorted. This is what
    /// [`Policy::version`] hashes.
    pub fn canonical_json(&self) -> Value {
        let mut images: Vec<String> = self.images.iter().map(ToString::to_string).collect();
        images.sort();
        let mut commands: Vec<&str> = self
            .command_list
            .entries
            .iter()
            .map(|c| c.as_str())
            .collect();
        commands.sort_unstable();
        let mut canonical = json!({
            "eciEnabled": self.eci_enabled,
            "images": images,
            "allowDerivedImages": self.allow_derived_images,
            "commandList": { "type": self.command_list.kind.as_str(), "commands": commands },
        });
        // Only when set, so that policies without it keep the versions they always had.
        if !self.host_access_images.is_empty() {
            let mut host: Vec<String> = self
                .host_access_images
                .iter()
                .map(ToString::to_string)
                .collect();
            host.sort();
            canonical["hostAccessImages"] = json!(host);
        }
        if !self.audit.is_empty() {
            canonical["audit"] = json!(self.audit);
        }
        canonical
    }
}

/// The fail-closed default: what applies when no settings file sets anything.
impl Default for Policy {
    fn default() -> Policy {
        Policy::new(
            true,
            Vec::new(),
            true,
            CommandList::default(),
            Provenance::DEFAULT,
        )
    }
}

/// The JSON form of a [`Policy`], for the app and the CLI: entries in canonical spelling, in
/// policy order. The policy serialises through it, so its TypeScript declaration (the `ts`
/// feature) is the JSON the app receives.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
struct PolicyJson {
    version: String,
    eci_enabled: bool,
    images: Vec<String>,
    allow_derived_images: bool,
    #[cfg_attr(feature = "ts", ts(inline))]
    command_list: CommandListJson,
    /// eci-guard's extension: images that may be given host privileges through the main socket.
    host_access_images: Vec<String>,
    audit: Families,
    provenance: Provenance,
}

#[derive(Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
struct CommandListJson {
    #[serde(rename = "type")]
    kind: ListKind,
    commands: Vec<String>,
}

impl From<&Policy> for PolicyJson {
    fn from(policy: &Policy) -> PolicyJson {
        let spelled = |entries: &[ImageEntry]| entries.iter().map(ToString::to_string).collect();
        PolicyJson {
            version: policy.version.clone(),
            eci_enabled: policy.eci_enabled,
            images: spelled(&policy.images),
            allow_derived_images: policy.allow_derived_images,
            command_list: CommandListJson {
                kind: policy.command_list.kind,
                commands: policy
                    .command_list
                    .entries
                    .iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
            },
            host_access_images: spelled(&policy.host_access_images),
            audit: policy.audit,
            provenance: policy.provenance,
        }
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PolicyJson::from(self).serialize(serializer)
    }
}

fn dedup_by_key<T, K: PartialEq>(items: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut kept: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        let k = key(&item);
        if !kept.iter().any(|seen| key(seen) == k) {
            kept.push(item);
        }
    }
    kept
}

/// The effective policy of an admin section and a user section (see the module documentation for
/// the rules). Either may be absent: a missing file or a file without an ECI section.
pub fn merge(admin: Option<&CheckedEci>, user: Option<&CheckedEci>) -> Policy {
    let locked = admin.is_some_and(CheckedEci::locked);
    let user = if locked { None } else { user };
    let admin_source = Source::Admin { locked };
    let pick = |from_user: Option<_>, from_admin: Option<_>, default| match (from_user, from_admin)
    {
        (Some(v), _) => (v, Source::User),
        (None, Some(v)) => (v, admin_source),
        (None, None) => (default, Source::Default),
    };

    let (eci_enabled, value_source) = pick(
        user.and_then(|u| u.section().value),
        admin.and_then(|a| a.section().value),
        true,
    );
    let (allow_derived_images, derived_source) = pick(
        user.and_then(|u| u.section().allow_derived_images()),
        admin.and_then(|a| a.section().allow_derived_images()),
        true,
    );
    let (images, images_source) = match (
        user.and_then(CheckedEci::images),
        admin.and_then(CheckedEci::images),
    ) {
        (Some(v), _) => (v.to_vec(), Source::User),
        (None, Some(v)) => (v.to_vec(), admin_source),
        (None, None) => (Vec::new(), Source::Default),
    };
    let (command_list, commands_source) = match (
        user.and_then(CheckedEci::command_list),
        admin.and_then(CheckedEci::command_list),
    ) {
        (Some(v), _) => (v.clone(), Source::User),
        (None, Some(v)) => (v.clone(), admin_source),
        (None, None) => (CommandList::default(), Source::Default),
    };

    let (host_access, audit) = eci_guard_settings(admin, user);
    Policy::new(
        eci_enabled,
        images,
        allow_derived_images,
        command_list,
        Provenance {
            value: value_source,
            images: images_source,
            allow_derived_images: derived_source,
            command_list: commands_source,
        },
    )
    .with_host_access(host_access)
    .with_audit(audit)
}

/// eci-guard's own settings, merged: the images allowed host access (the image list's rule: a
/// locked admin section alone decides, else the user's list replaces the admin's) and the
/// families in audit mode (the same rule, flag by flag). `user` is `None` when locked.
fn eci_guard_settings(
    admin: Option<&CheckedEci>,
    user: Option<&CheckedEci>,
) -> (Vec<ImageEntry>, Families) {
    let host_access = user
        .and_then(CheckedEci::host_access_images)
        .or_else(|| admin.and_then(CheckedEci::host_access_images))
        .map(<[ImageEntry]>::to_vec)
        .unwrap_or_default();
    let flag = |get: fn(&AuditSettings) -> Option<bool>| {
        user.and_then(|u| u.section().audit().and_then(get))
            .or_else(|| admin.and_then(|a| a.section().audit().and_then(get)))
            .unwrap_or(false)
    };
    let audit = Families {
        socket_mounts: flag(|a| a.socket_mounts),
        commands: flag(|a| a.commands),
        host_access: flag(|a| a.host_access),
    };
    (host_access, audit)
}

/// Which settings file a diagnostic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Origin {
    Admin,
    User,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Admin => "admin settings",
            Origin::User => "user settings",
        })
    }
}

/// The diagnostics of one settings file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FileDiagnostics {
    pub origin: Origin,
    pub diagnostics: Vec<Diagnostic>,
}

/// A policy built from settings texts, with the warnings of the files that were read.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub policy: Policy,
    pub warnings: Vec<FileDiagnostics>,
    /// There is a user file, but the admin section is locked, so it was not read.
    pub user_ignored: bool,
}

/// Settings that cannot become a policy: the caller keeps its last good policy (or, at start,
/// none: fail closed) and shows these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// Every diagnostic (errors and warnings) of each file that has an error.
    pub files: Vec<FileDiagnostics>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for file in &self.files {
            let errors: Vec<&Diagnostic> = file
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .collect();
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{} have {} error(s)", file.origin, errors.len())?;
            if let Some(d) = errors.first() {
                write!(f, ", first at {:?}: {}", d.pointer, d.message)?;
            }
        }
        Ok(())
    }
}

/// Reads the admin and user settings texts (`None`: no such file) and merges them. Any error in
/// a file that counts fails the whole load; a locked admin section means the user's file does not
/// count and is not read.
pub fn load(admin: Option<&str>, user: Option<&str>) -> Result<Loaded, LoadError> {
    let mut failed = Vec::new();
    let mut warnings = Vec::new();
    let mut read = |origin: Origin, text: Option<&str>| match text.map(parse_settings) {
        None => None,
        Some(Ok(parsed)) => {
            if !parsed.warnings.is_empty() {
                warnings.push(FileDiagnostics {
                    origin,
                    diagnostics: parsed.warnings,
                });
            }
            parsed.eci
        }
        Some(Err(diagnostics)) => {
            failed.push(FileDiagnostics {
                origin,
                diagnostics,
            });
            None
        }
    };
    let admin = read(Origin::Admin, admin);
    let locked = admin.as_ref().is_some_and(CheckedEci::locked);
    let user_ignored = locked && user.is_some();
    let user = if locked {
        None
    } else {
        read(Origin::User, user)
    };
    if !failed.is_empty() {
        return Err(LoadError { files: failed });
    }
    Ok(Loaded {
        policy: merge(admin.as_ref(), user.as_ref()),
        warnings,
        user_ignored,
    })
}
