//! The admin and user settings files as the app edits them: a lenient read with diagnostics and
//! an etag, who may write which, and the save — atomic, unknown keys kept, refused when the file
//! changed since it was loaded. The settings model itself is eci-policy's.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use eci_policy::settings::{EciSection, MountKey, SettingsDoc};
use eci_policy::validate::{self, Diagnostic};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{AppError, ErrorCode};

/// Which settings file a command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Admin,
    User,
}

/// Admin mode: this user can write the admin file. Never gained any other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Admin,
    User,
}

/// One settings file as loaded for editing.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
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

/// The bytes of a file and its etag, read from one open handle so that the two agree.
struct Snapshot {
    bytes: Option<Vec<u8>>,
    etag: String,
}

fn snapshot(path: &Path) -> Result<Snapshot, AppError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Snapshot {
                bytes: None,
                etag: String::new(),
            })
        }
        Err(e) => return Err(AppError::io(format!("cannot read {}", path.display()), &e)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| AppError::io(format!("cannot read {}", path.display()), &e))?;
    let meta = file
        .metadata()
        .map_err(|e| AppError::io(format!("cannot stat {}", path.display()), &e))?;
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
        if d.is_dir() {
            return access(d, Access::WRITE_OK | Access::EXEC_OK).is_ok();
        }
        dir = d.parent();
    }
    false
}

/// Reads a settings file for the editor. Never fails on content: a broken file comes back with
/// its text and diagnostics so it can be shown and fixed.
pub fn read_view(path: &Path, writable: bool) -> Result<FileView, AppError> {
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
pub fn render(path: &Path, section: &EciSection) -> Result<(String, String), AppError> {
    let snap = snapshot(path)?;
    let mut doc = match &snap.bytes {
        None => SettingsDoc::new(),
        Some(bytes) => {
            let text = String::from_utf8_lossy(bytes);
            SettingsDoc::parse(&text).map_err(|d| {
                AppError::invalid(
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
        return Err(AppError::invalid(
            "the settings have errors; fix them before saving",
            errors,
        ));
    }
    doc.set_eci(section);
    let text = doc.to_json_string();
    let whole = validate::validate(&text);
    if whole.iter().any(Diagnostic::is_error) {
        return Err(AppError::invalid(
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
pub fn save(path: &Path, section: &EciSection, etag: &str) -> Result<(), AppError> {
    let (text, current) = render(path, section)?;
    if current != etag {
        return Err(AppError::new(
            ErrorCode::Conflict,
            format!(
                "{} changed on disk since it was loaded; reload it and apply your changes again",
                path.display()
            ),
        ));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let what = || format!("cannot write {}", path.display());
    std::fs::create_dir_all(&dir).map_err(|e| AppError::io(what(), &e))?;
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777)
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".eci-guard-save-")
        .tempfile_in(&dir)
        .map_err(|e| AppError::io(what(), &e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| AppError::io(what(), &e))?;
    }
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| AppError::io(what(), &e))?;
    tmp.persist(path)
        .map_err(|e| AppError::io(what(), &e.error))?;
    // The rename is durable only once the directory entry is.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Whether a diff line is kept, added or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum DiffOp {
    Equal,
    Insert,
    Delete,
}

/// One line of a settings diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct DiffLine {
    pub op: DiffOp,
    /// The line without its newline.
    pub text: String,
}

/// What a save of a section would change in its file, shown before it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct SettingsDiff {
    /// The file's text now (`""` when absent) and after the save.
    pub before: String,
    pub after: String,
    pub lines: Vec<DiffLine>,
    /// The file the diff was built on; a save with it fails if the file changed since, so what
    /// is written is what was shown.
    pub etag: String,
}

/// The diff between the file at `path` and what [`save`] would write there for `section`
/// (the same [`render`], so unknown keys are kept in both).
pub fn diff(path: &Path, section: &EciSection) -> Result<SettingsDiff, AppError> {
    let (after, etag) = render(path, section)?;
    let before = snapshot(path)?
        .bytes
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines = similar::TextDiff::from_lines(&before, &after)
        .iter_all_changes()
        .map(|c| DiffLine {
            op: match c.tag() {
                similar::ChangeTag::Equal => DiffOp::Equal,
                similar::ChangeTag::Insert => DiffOp::Insert,
                similar::ChangeTag::Delete => DiffOp::Delete,
            },
            text: c.value().trim_end_matches(['\n', '\r']).to_owned(),
        })
        .collect();
    Ok(SettingsDiff {
        before,
        after,
        lines,
        etag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = r#"{
  "configurationFileVersion": 2,
  "analyticsEnabled": { "locked": false, "value": false },
  "enhancedContainerIsolation": {
    "locked": false,
    "value": true,
    "iechorSocketMount": {
      "imageList": { "images": ["busybox:1"], "futureOption": "kept" }
    }
  }
}
"#;

    #[test]
    fn the_diff_adds_the_entry_keeps_unknown_keys_and_matches_the_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin-settings.json");
        std::fs::write(&path, ADMIN).unwrap();
        let view = read_view(&path, true).unwrap();
        let mut section = view.section.clone().unwrap();
        let list = section
            .socket_mount
            .get_or_insert_with(Default::default)
            .image_list
            .get_or_insert_with(Default::default);
        list.images
            .get_or_insert_with(Vec::new)
            .push("127.0.0.1:5000/team/tool:*".into());
        let d = diff(&path, &section).unwrap();
        assert_eq!(d.before, ADMIN);
        assert_eq!(d.etag, view.etag);
        let inserted: Vec<&str> = d
            .lines
            .iter()
            .filter(|l| l.op != DiffOp::Equal)
            .map(|l| l.text.as_str())
            .collect();
        assert!(
            inserted
                .iter()
                .any(|l| l.contains("127.0.0.1:5000/team/tool:*")),
            "{inserted:?}"
        );
        assert!(d.after.contains("futureOption") && d.after.contains("analyticsEnabled"));
        // What the diff showed is what the save writes, and only while the file is unchanged.
        save(&path, &section, &d.etag).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), d.after);
        assert_eq!(
            save(&path, &section, &d.etag).unwrap_err().code,
            ErrorCode::Conflict
        );
    }

    #[test]
    fn the_diff_of_a_new_file_is_all_insertions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/admin-settings.json");
        let section: EciSection = serde_json::from_str(
            r#"{"value": true, "iechorSocketMount": {"imageList": {"images": ["busybox:1"]}}}"#,
        )
        .unwrap();
        let d = diff(&path, &section).unwrap();
        assert_eq!(d.before, "");
        assert_eq!(d.etag, "");
        assert!(!d.lines.is_empty());
        assert!(d.lines.iter().all(|l| l.op == DiffOp::Insert));
    }
}
