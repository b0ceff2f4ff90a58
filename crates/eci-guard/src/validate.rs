//! `eci-guard validate FILE [--strict]`: every diagnostic of a settings file, for people or for
//! tools; `--strict` fails on warnings too.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use eci_policy::validate::validate;

use crate::Format;

pub fn run(file: &Path, format: Format, strict: bool) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("eci-guard: cannot read {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let diagnostics = validate(&text);
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not turn a verdict into a panic.
    let _ = match format {
        Format::Json => serde_json::to_writer_pretty(&mut out, &diagnostics)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        Format::Human => diagnostics
            .iter()
            // `path:line:col: …` like compilers when there is a position, so editors can jump.
            .try_for_each(|d| match d.line {
                Some(_) => writeln!(out, "{}:{d}", file.display()),
                None => writeln!(out, "{}: {d}", file.display()),
            })
            .and_then(|()| {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                let warnings = diagnostics.len() - errors;
                writeln!(
                    out,
                    "{}: {errors} error(s), {warnings} warning(s)",
                    file.display()
                )
            }),
    };
    if diagnostics.iter().any(|d| d.is_error() || strict) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
