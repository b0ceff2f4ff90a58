//! The settings model: the ECI section of a settings file as written (editable, serialisable), the
//! document that carries it with every key it does not understand, and the effective [`Policy`].
//!
//! Three layers, each built only from the one before:
//! - [`SettingsDoc`]: the whole file as JSON, order kept; [`SettingsDoc::set_eci`] writes back only
//!   the keys this crate owns.
//! - [`EciSection`]: the `enhancedContainerIsolation` section as typed fields holding what the file
//!   says (strings for image and command entries, so the app shows them as written). Every field
//!   is optional because the merge needs to know which file set it.
//! - [`CheckedEci`](crate::validate::CheckedEci) (entries parsed, no errors) and then [`Policy`]
//!   through [`merge`]: typed data only, the one thing the enforcer reads.

mod doc;
mod policy;

pub use doc::SettingsDoc;
pub use policy::{
    load, merge, CommandList, FileDiagnostics, LoadError, Loaded, Origin, Policy, Provenance,
    Source,
};

use serde::{Deserialize, Serialize};

/// Top-level key of the file format version.
pub const VERSION_KEY: &str = "configurationFileVersion";
/// The only file format versions this crate reads.
pub const SUPPORTED_VERSIONS: &[u64] = &[2];
/// Top-level key of the ECI section.
pub const ECI_KEY: &str = "enhancedContainerIsolation";

/// The two spellings of the socket-mount key. `dockerSocketMount` is accepted so that a Docker
/// Desktop `admin-settings.json` works unchanged; pointers and saves keep the file's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum MountKey {
    #[default]
    #[serde(rename = "iechorSocketMount")]
    Iechor,
    #[serde(rename = "dockerSocketMount")]
    Docker,
}

impl MountKey {
    pub const ALL: [MountKey; 2] = [MountKey::Iechor, MountKey::Docker];

    pub fn as_str(self) -> &'static str {
        match self {
            MountKey::Iechor => "iechorSocketMount",
            MountKey::Docker => "dockerSocketMount",
        }
    }

    pub fn from_key(key: &str) -> Option<MountKey> {
        MountKey::ALL.into_iter().find(|k| k.as_str() == key)
    }

    /// JSON pointer of the socket-mount object under this spelling.
    pub fn pointer(self) -> String {
        format!("/{ECI_KEY}/{}", self.as_str())
    }
}

/// The `enhancedContainerIsolation` section as written. `None` means the file does not set the
/// field; the merge then takes it from the other file or the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct EciSection {
    /// Admin file only: users cannot change the section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// ECI on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<bool>,
    #[serde(
        rename = "iechorSocketMount",
        alias = "dockerSocketMount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub socket_mount: Option<SocketMount>,
    /// eci-guard's own extension (Docker Desktop has no such key and ignores it).
    #[serde(rename = "eciGuard", default, skip_serializing_if = "Option::is_none")]
    pub eci_guard: Option<EciGuardSection>,
}

/// `eciGuard`: settings of eci-guard beyond Docker's ECI section, locked with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct EciGuardSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_access: Option<HostAccessSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditSettings>,
}

/// `eciGuard.audit`: rule families whose refusals are recorded and forwarded instead of enforced
/// (observe before enforcing). Each absent flag is `false`: enforce.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct AuditSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_mounts: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_access: Option<bool>,
}

/// `eciGuard.hostAccess`: images that may be given host privileges (privileged, host namespaces,
/// host devices, …) through the main socket; never through a filtered one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct HostAccessSettings {
    /// Entries in the image-list grammar, verified by digest the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
}

/// `iechorSocketMount` (alias `dockerSocketMount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct SocketMount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_list: Option<ImageList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_list: Option<CommandListSettings>,
}

/// `imageList`: which images may mount the engine socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(rename = "ImageListSettings", optional_fields)
)]
pub struct ImageList {
    /// Entries as written (`iechor:cli`, `name:*`, `name@sha256:…`, `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<String>>,
    /// Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_derived_images: Option<bool>,
}

/// `commandList`: which commands containers may issue through a filtered socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
pub struct CommandListSettings {
    /// Default `deny`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ListKind>,
    /// Entries as written (`push`, `image*`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
}

/// Whether the command list names what is denied or what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ListKind {
    Allow,
    #[default]
    Deny,
}

impl ListKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Allow => "allow",
            ListKind::Deny => "deny",
        }
    }

    pub fn from_name(name: &str) -> Option<ListKind> {
        match name {
            "allow" => Some(ListKind::Allow),
            "deny" => Some(ListKind::Deny),
            _ => None,
        }
    }
}

impl EciSection {
    /// `images` as written, if the file sets them.
    pub fn images(&self) -> Option<&[String]> {
        self.socket_mount
            .as_ref()?
            .image_list
            .as_ref()?
            .images
            .as_deref()
    }

    /// `allowDerivedImages` as written, if the file sets it.
    pub fn allow_derived_images(&self) -> Option<bool> {
        self.socket_mount
            .as_ref()?
            .image_list
            .as_ref()?
            .allow_derived_images
    }

    /// `eciGuard.hostAccess.images` as written, if the file sets them.
    pub fn host_access_images(&self) -> Option<&[String]> {
        self.eci_guard
            .as_ref()?
            .host_access
            .as_ref()?
            .images
            .as_deref()
    }

    /// `eciGuard.audit` as written, if the file has it.
    pub fn audit(&self) -> Option<&AuditSettings> {
        self.eci_guard.as_ref()?.audit.as_ref()
    }

    /// `commandList` as written, if the file has one.
    pub fn command_list(&self) -> Option<&CommandListSettings> {
        self.socket_mount.as_ref()?.command_list.as_ref()
    }
}

#[cfg(test)]
mod tests;
