//! The admin and user settings files as the app, the control socket and the admin-settings
//! helper edit them: a lenient read with diagnostics and an etag, who may write which, and the
//! save — atomic, unknown keys kept, refused when the file changed since it was loaded. The
//! settings model itself is eci-policy's.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use eci_policy::settings::{EciSection, MountKey, SettingsDoc};
use eci_policy::validate::{self, Diagnostic};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Why a settings file could not be read, rendered or saved.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The input or the result has errors; `diagnostics` says where.
    #[error("{message}")]
    Invalid {
        message: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// The file changed on disk since it was loaded.
    #[error("{0}")]
    Conflict(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl FileError {
    fn io(what: impl std::fmt::Display, source: std::io::Error) -> FileError {
        FileError::Io {
            what: what.to_string(),
            source,
        }
    }

    fn invalid(message: impl Into<String>, diagnostics: Vec<Diagnostic>) -> FileError {
        FileError::Invalid {
            message: message.into(),
            diagnostics,
        }
    }
}

/// Which settings file a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Admin,
    User,
}

/// Admin mode: this user can write the admin file. Never gained any other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Admin,
    User,
}

/// One settings file as loaded for editing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FileView {
    pub path: PathBuf,
    pub exists: bool,
    /// This process may write it (or create it, when absent).
    pub writable: bool,
    /// The file's text; `None` when absent.
    pub text: Option<String>,
    /// The ECI section as far as it could be typed; `None` without a usable one.
    pub section: Option<EciSection>,
    /// The spelling of the socket-mount key that saves keep.
    pub mount_key: MountKey,
    pub diagnostics: Vec<Diagnostic>,
    /// Identity of the bytes read (mtime, length, SHA-256); `""` when absent. A save names the
    /// etag it was based on and is refused if the file no longer has it.
    pub etag: String,
}

impl FileView {
    /// This (admin) file locks the ECI settings: users cannot change them.
    pub fn locks_eci(&self) -> bool {
        self.section.as_ref().and_then(|s| s.locked) == Some(true)
    }
}

/// The bytes of a file and its etag, read from one open handle so that the two agree.
struct Snapshot {
    bytes: Option<Vec<u8>>,
    etag: String,
}

fn snapshot(path: &Path) -> Result<Snapshot, FileError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Snapshot {
                bytes: None,
                etag: String::new(),
            })
        }
        Err(e) => return Err(FileError::io(format!("cannot read {}", path.display()), e)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| FileError::io(format!("cannot read {}", path.display()), e))?;
    let meta = file
        .metadata()
        .map_err(|e| FileError::io(format!("cannot stat {}", path.display()), e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Snapshot {
        etag: format!("{mtime}-{}-{sha}", bytes.len()),
        bytes: Some(bytes),
    })
}

/// Whether this process may write `path`: the file itself, or, when absent, the nearest
/// existing directory above it (a save creates the missing ones). Asks the kernel (`access`),
/// so ACLs and read-only mounts count.
pub fn may_write(path: &Path) -> bool {
    use rustix::fs::{access, Access};
    if path.symlink_metadata().is_ok() {
        return access(path, Access::WRITE_OK).is_ok();
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.as_os_str().is_empty() {
            return access(".", Access::WRITE_OK).is_ok();
        }
        // The nearest entry that exists decides: a directory if this process may add to it, and
        // never anything else (nothing can be created below a file).
        if let Ok(meta) = std::fs::metadata(d) {
            return meta.is_dir() && access(d, Access::WRITE_OK | Access::EXEC_OK).is_ok();
        }
        dir = d.parent();
    }
    false
}

/// Reads a settings file for the editor. Never fails on content: a broken file comes back with
/// its text and diagnostics so it can be shown and fixed.
pub fn read_view(path: &Path, writable: bool) -> Result<FileView, FileError> {
    let snap = snapshot(path)?;
    let Some(bytes) = snap.bytes else {
        return Ok(FileView {
            path: path.to_owned(),
            exists: false,
            writable,
            text: None,
            section: None,
            mount_key: MountKey::default(),
            diagnostics: Vec::new(),
            etag: snap.etag,
        });
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (section, mount_key, diagnostics) = match validate::read_settings(&text) {
        Ok(reading) => (reading.eci, reading.doc.mount_key(), reading.diagnostics),
        Err(diagnostics) => (None, MountKey::default(), diagnostics),
    };
    Ok(FileView {
        path: path.to_owned(),
        exists: true,
        writable,
        text: Some(text),
        section,
        mount_key,
        diagnostics,
        etag: snap.etag,
    })
}

/// The text a save of `section` into the file at `path` would write, and the etag of the file
/// it was built on. Refused (`invalid`) when the section or the result has errors, or when the
/// file on disk is not a JSON object (saving over it would lose what it holds).
pub fn render(path: &Path, section: &EciSection) -> Result<(String, String), FileError> {
    let snap = snapshot(path)?;
    let mut doc = match &snap.bytes {
        None => SettingsDoc::new(),
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            SettingsDoc::parse(&text).map_err(|d| {
                FileError::invalid(
                    format!(
                        "{} is not a JSON object; fix or remove it before saving from the app, \
                         so nothing it holds is lost",
                        path.display()
                    ),
                    d,
                )
            })?
        }
    };
    let errors: Vec<Diagnostic> = validate::validate_section(section, doc.mount_key());
    if errors.iter().any(Diagnostic::is_error) {
        return Err(FileError::invalid(
            "the settings have errors; fix them before saving",
            errors,
        ));
    }
    doc.set_eci(section);
    let text = doc.to_json_string();
    let whole = validate::validate(&text);
    if whole.iter().any(Diagnostic::is_error) {
        return Err(FileError::invalid(
            format!("{} would not be valid after this change", path.display()),
            whole,
        ));
    }
    Ok((text, snap.etag))
}

/// Writes `section` into the file at `path`, keeping every other key, if the file still has
/// `etag`. Atomic: a temporary file in the same directory, synced, renamed over the old one, and
/// the directory synced; the old file's permissions are kept (a new file gets 0644, since the
/// enforcer and every user read the settings).
pub fn save(path: &Path, section: &EciSection, etag: &str) -> Result<(), FileError> {
    let (text, current) = render(path, section)?;
    if current != etag {
        return Err(FileError::Conflict(format!(
            "{} changed on disk since it was loaded; reload it and apply your changes again",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let what = || format!("cannot write {}", path.display());
    std::fs::create_dir_all(&dir).map_err(|e| FileError::io(what(), e))?;
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777)
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".eci-guard-save-")
        .tempfile_in(&dir)
        .map_err(|e| FileError::io(what(), e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| FileError::io(what(), e))?;
    }
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| FileError::io(what(), e))?;
    tmp.persist(path)
        .map_err(|e| FileError::io(what(), e.error))?;
    // The rename is durable only once the directory entry is.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// How a save reaches the admin file: written by this process, or through the polkit helper
/// (`pkexec eci-guard write-admin-settings`) when this user may not write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum WriteRoute {
    Direct,
    Polkit,
}

/// The route for a user who may (`may_write`) or may not write the file: never a silent
/// escalation — the polkit route asks the user for an administrator's password.
pub fn write_route(may_write: bool) -> WriteRoute {
    if may_write {
        WriteRoute::Direct
    } else {
        WriteRoute::Polkit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_route_asks_polkit_only_when_the_user_may_not_write() {
        assert_eq!(write_route(false), WriteRoute::Polkit);
        assert_eq!(write_route(true), WriteRoute::Direct);
    }

    #[test]
    fn an_absent_file_is_judged_by_its_nearest_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(may_write(&open.join("sub/deeper/admin-settings.json")));
        // A file where a directory should be: nothing can be created below it.
        std::fs::write(open.join("plain"), "").unwrap();
        assert!(!may_write(&open.join("plain/admin-settings.json")));
    }
}
