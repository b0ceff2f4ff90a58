//! The eci-guard command line. Thin: parses arguments, calls the core crates, prints, and maps
//! outcomes to exit statuses.

mod explain;
mod history;
mod probe;
mod serve;
mod validate;
mod write_admin;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "eci-guard",
    version,
    about = "Enhanced Container Isolation: engine-socket mount permissions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a settings file; exit 0 without errors (warnings allowed), 1 with errors, 2 unreadable.
    Validate {
        /// The admin or user settings file.
        file: std::path::PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Warnings fail too (exit 1): for CI pipelines that want files without any.
        #[arg(long)]
        strict: bool,
    },
    /// Run the enforcer: a filtering proxy in front of the engine socket.
    Serve(eci_proxy::ServeConfig),
    /// What the enforcer would do with a request or a docker command line, and why.
    /// Exit 0 allow, 1 deny, 2 cannot tell.
    Explain(Box<explain::ExplainArgs>),
    /// Write the ECI section of a settings file into the admin settings (run through pkexec by
    /// the desktop app). Exit 0 written, 1 errors, 2 unreadable or unwritable, 3 changed since.
    WriteAdminSettings(write_admin::WriteAdminArgs),
    /// Print the history of blocked requests (JSON array or CSV), newest first.
    History(history::HistoryArgs),
    /// Ask the registry about an image reference: digest and platforms, any-tag count, or why not.
    /// Exit 0 found, 1 not found or invalid, 2 the registry could not be asked.
    Probe {
        /// An image reference or image-list entry (`busybox`, `name:*`, `name@sha256:…`).
        reference: String,
        /// Registry settings (endpoints, plain HTTP, extra CAs), JSON.
        #[arg(long, env = "ECI_GUARD_REGISTRIES")]
        registries: Option<std::path::PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate {
            file,
            format,
            strict,
        } => validate::run(&file, format, strict),
        Command::Serve(config) => serve::run(config),
        Command::History(args) => history::run(args),
        Command::WriteAdminSettings(args) => write_admin::run(args),
        Command::Explain(args) => explain::run(*args),
        Command::Probe {
            reference,
            registries,
            format,
        } => probe::run(&reference, registries.as_deref(), format),
    }
}
