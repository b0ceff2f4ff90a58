//! Project automation, the one place for it: `cargo xtask setup|test|run|bench`.
//! Every command installs what it needs first, so a fresh Debian machine needs nothing else.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};

/// Debian packages the tests and the app need: the real engine, the real registry, the image
/// payload, certificate and password tools.
const DEBIAN_PACKAGES: &[&str] = &[
    "docker.io",
    "docker-registry",
    "busybox-static",
    "openssl",
    "apache2-utils",
    "ca-certificates",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => setup().and_then(|()| test()),
        Some("run") => setup().and_then(|()| run(&args[1..])),
        _ => {
            eprintln!("usage: cargo xtask <setup|test|run [-- ARGS]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command in the workspace root, failing with the command line when it fails.
fn sh(program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs the Debian packages and toolchain components that are missing; does nothing when
/// everything is there, so it is cheap to call before every command.
fn setup() -> Result<()> {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask: installing {}", missing.join(" "));
        sh("apt-get", &["update", "-q"])?;
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(&missing);
        let status = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot start apt-get")?;
        if !status.success() {
            bail!("apt-get install {} failed", missing.join(" "));
        }
    }
    for component in ["rustfmt", "clippy"] {
        let probe = Command::new("cargo")
            .arg(if component == "rustfmt" {
                "fmt"
            } else {
                "clippy"
            })
            .arg("--version")
            .output();
        if !probe.map(|o| o.status.success()).unwrap_or(false) {
            sh("rustup", &["component", "add", component])?;
        }
    }
    Ok(())
}

/// fmt check, clippy with warnings as errors, then every test of the workspace.
fn test() -> Result<()> {
    sh("cargo", &["fmt", "--all", "--check"])?;
    sh(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    sh("cargo", &["test", "--workspace"])
}

/// Builds and runs the eci-guard binary with the given arguments.
fn run(args: &[String]) -> Result<()> {
    let mut full = vec!["run", "--release", "-p", "eci-guard", "--"];
    full.extend(args.iter().map(String::as_str).filter(|a| *a != "--"));
    sh("cargo", &full)
}
