//! The harness's one error type: each variant says which part failed and carries what a person
//! needs to fix it (the package to install, the daemon's last log lines, the command's stderr).

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Why a harness operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A program the harness runs is not installed.
    #[error("`{program}` not found on PATH or in the sbin directories: install the Debian package `{package}`")]
    MissingProgram {
        program: &'static str,
        package: &'static str,
    },

    /// A file the harness copies into images is not installed.
    #[error("{path} not found: install the Debian package `{package}`")]
    MissingFile {
        path: PathBuf,
        package: &'static str,
    },

    /// A binary that must run inside a `FROM scratch` image is dynamically linked.
    #[error("{path} is dynamically linked, but a FROM scratch image has no loader: {remedy}")]
    NotStatic { path: PathBuf, remedy: &'static str },

    /// The engine and registries need root (namespaces, mounts, containers).
    #[error("the end-to-end harness must run as root (dockerd, mounts and namespaces need it)")]
    NotRoot,

    /// A file-system or process operation failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },

    /// A daemon exited while it was starting or serving.
    #[error("{what} exited ({status}); last lines of {log}:\n{tail}")]
    Exited {
        what: &'static str,
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },

    /// A daemon did not answer in time.
    #[error("{what} did not become ready within {seconds}s; last lines of {log}:\n{tail}")]
    NotReady {
        what: &'static str,
        seconds: u64,
        log: PathBuf,
        tail: String,
    },

    /// No free loopback port could be bound by the registry.
    #[error("the registry could not bind a free loopback port after {attempts} attempts")]
    NoFreePort { attempts: u32 },

    /// A command (usually the docker CLI) exited unsuccessfully.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Command {
        command: String,
        status: ExitStatus,
        stdout: String,
        stderr: String,
    },

    /// The registry API could not be reached.
    #[error("registry request {what}: {source}")]
    Http {
        what: String,
        #[source]
        source: Box<ureq::Error>,
    },

    /// The registry answered with an unexpected status.
    #[error("registry answered {what} with HTTP {status}: {body}")]
    HttpStatus {
        what: String,
        status: u16,
        body: String,
    },

    /// An answer (CLI output, registry document) did not have the expected shape or content.
    #[error("unexpected answer from {what}: {detail}")]
    Unexpected { what: String, detail: String },

    /// Generating the test CA or server certificate failed.
    #[error("generating the registry's certificates: {0}")]
    Certificate(#[from] rcgen::Error),

    /// Hashing the htpasswd password failed.
    #[error("hashing the registry password: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
}

impl HarnessError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> HarnessError {
        let what = what.into();
        move |source| HarnessError::Io { what, source }
    }

    pub(crate) fn unexpected(what: impl Into<String>, detail: impl Into<String>) -> HarnessError {
        HarnessError::Unexpected {
            what: what.into(),
            detail: detail.into(),
        }
    }
}
