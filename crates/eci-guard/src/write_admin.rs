//! `eci-guard write-admin-settings --from FILE`: the privileged step of an admin save from the
//! desktop app, run through `pkexec` (polkit action `com.eci-guard.write-admin-settings`). It
//! takes the ECI section of FILE, refuses it when eci-policy finds errors, and writes it into
//! the admin file atomically, keeping every other key the admin file holds.
//!
//! Run through pkexec (`PKEXEC_UID` set) it is root on a user's word, and polkit may keep the
//! authorisation for a while (`auth_admin_keep`) for any process of the session: then it reads
//! the settings only from its stdin (`--from -`), never a path root could read for the user,
//! and writes only the system's admin file, never a `--to` of the caller's choosing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use eci_proxy::settings_files::{self, FileError};

#[derive(Debug, clap::Args)]
pub struct WriteAdminArgs {
    /// The settings file to take the `enhancedContainerIsolation` section from; `-` for stdin
    /// (the only source through pkexec).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The admin settings file to write (default: the system's).
    #[arg(long, value_name = "PATH")]
    pub to: Option<PathBuf>,
    /// Write only if the admin file still has this etag (the one the change was made on).
    #[arg(long)]
    pub etag: Option<String>,
}

/// Exit 0 written, 1 the settings have errors, 2 a file cannot be read or written, 3 the admin
/// file changed since the change was made on it.
pub fn run(args: WriteAdminArgs) -> ExitCode {
    let system = eci_proxy::ServeConfig::default_admin_settings();
    let to = args.to.clone().unwrap_or_else(|| system.clone());
    if let Some(uid) = std::env::var_os("PKEXEC_UID") {
        if let Err(refusal) = through_pkexec(&args, &to, &system) {
            eprintln!(
                "eci-guard: run through pkexec for uid {}: {refusal}; nothing was written",
                uid.to_string_lossy()
            );
            return ExitCode::from(2);
        }
    }
    match write(&args.from, &to, args.etag.as_deref()) {
        Ok(()) => {
            eprintln!("eci-guard: wrote {}", to.display());
            ExitCode::SUCCESS
        }
        Err(FileError::Invalid {
            message,
            diagnostics,
        }) => {
            eprintln!("eci-guard: {message}");
            for d in diagnostics.iter().filter(|d| d.is_error()) {
                eprintln!("  {d}");
            }
            ExitCode::from(1)
        }
        Err(e @ FileError::Io { .. }) => {
            eprintln!("eci-guard: {e}");
            ExitCode::from(2)
        }
        Err(e @ FileError::Conflict(_)) => {
            eprintln!("eci-guard: {e}");
            ExitCode::from(3)
        }
    }
}

/// What a run through pkexec may do: read stdin, write the system's admin file.
fn through_pkexec(args: &WriteAdminArgs, to: &Path, system: &Path) -> Result<(), &'static str> {
    if args.from != Path::new("-") {
        return Err("the settings must come on stdin (--from -)");
    }
    if to != system {
        return Err("only the system's admin settings file may be written");
    }
    Ok(())
}

fn read_from(from: &Path) -> std::io::Result<String> {
    if from == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(from)
}

fn write(from: &Path, to: &Path, etag: Option<&str>) -> Result<(), FileError> {
    let text = read_from(from).map_err(|source| FileError::Io {
        what: format!("cannot read {}", from.display()),
        source,
    })?;
    let invalid = |diagnostics| FileError::Invalid {
        message: format!("{} has errors; nothing was written", from.display()),
        diagnostics,
    };
    let diagnostics = eci_policy::validate::validate(&text);
    if diagnostics.iter().any(|d| d.is_error()) {
        return Err(invalid(diagnostics));
    }
    let section = eci_policy::validate::read_settings(&text)
        .map_err(invalid)?
        .eci
        .ok_or_else(|| FileError::Invalid {
            message: format!(
                "{} has no enhancedContainerIsolation section; nothing was written",
                from.display()
            ),
            diagnostics: Vec::new(),
        })?;
    let etag = match etag {
        Some(e) => e.to_owned(),
        None => settings_files::read_view(to, true)?.etag,
    };
    settings_files::save(to, &section, &etag)
}
