//! The one privileged step the app can ask for: writing the admin settings through polkit
//! (`pkexec eci-guard write-admin-settings`, action `com.eci-guard.write-admin-settings` in
//! `deploy/`). The app never runs as root; the helper validates what it is given before writing.

use std::path::{Path, PathBuf};

use crate::error::{AppError, ErrorCode};

/// The `eci-guard` CLI beside the app's binary (`/usr/bin` when installed from the package,
/// the path the polkit action names), else from `PATH`.
fn cli() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("eci-guard")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("eci-guard"))
}

/// Writes `text` (a whole settings file, as rendered for the diff) into the admin file at
/// `admin` through pkexec, if the admin file still has `etag`.
pub async fn write_admin_settings(admin: &Path, text: &str, etag: &str) -> Result<(), AppError> {
    let what = "cannot hand the settings to the admin helper";
    // The text goes on the helper's stdin: through pkexec it reads nothing else, and writes only
    // the system's admin file (a `--to` other than that is refused).
    let mut child = tokio::process::Command::new("pkexec")
        .arg(cli())
        .arg("write-admin-settings")
        .args(["--from", "-"])
        .arg("--to")
        .arg(admin)
        .arg("--etag")
        .arg(etag)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| AppError::io("cannot run pkexec (install Debian's pkexec)", &e))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| AppError::io(what, &e))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| AppError::io(what, &e))?;
    let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    // The helper's exit statuses; pkexec's own: 126 not authorised or dismissed, 127 no agent.
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(AppError::new(ErrorCode::Invalid, said)),
        Some(3) => Err(AppError::new(ErrorCode::Conflict, said)),
        Some(126) | Some(127) => Err(AppError::new(
            ErrorCode::Forbidden,
            format!("the administrator's authorisation was not given: {said}"),
        )),
        _ => Err(AppError::new(ErrorCode::Io, said)),
    }
}
