//! The admin and user settings files as the app edits them. The reading, rendering and atomic
//! save are eci-proxy's (`settings_files`, shared with the control socket and the polkit
//! helper); here they answer in the app's error shape.

use std::path::Path;

use eci_policy::settings::EciSection;
pub use eci_proxy::settings_files::{
    may_write, write_route, FileError, FileView, Mode, Target, WriteRoute,
};
use serde::Serialize;

use crate::error::{AppError, ErrorCode};

impl From<FileError> for AppError {
    fn from(e: FileError) -> AppError {
        match e {
            FileError::Invalid {
                message,
                diagnostics,
            } => AppError::invalid(message, diagnostics),
            FileError::Conflict(message) => AppError::new(ErrorCode::Conflict, message),
            FileError::Io { what, source } => AppError::io(what, &source),
        }
    }
}

/// Reads a settings file for the editor (see [`eci_proxy::settings_files::read_view`]).
pub fn read_view(path: &Path, writable: bool) -> Result<FileView, AppError> {
    Ok(eci_proxy::settings_files::read_view(path, writable)?)
}

/// The text a save would write, and the etag it was built on.
pub fn render(path: &Path, section: &EciSection) -> Result<(String, String), AppError> {
    Ok(eci_proxy::settings_files::render(path, section)?)
}

/// Saves `section` into the file if it still has `etag`; atomic, unknown keys kept.
pub fn save(path: &Path, section: &EciSection, etag: &str) -> Result<(), AppError> {
    Ok(eci_proxy::settings_files::save(path, section, etag)?)
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
    let before = read_view(path, false)?.text.unwrap_or_default();
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
