//! `cargo xtask package`: the `.deb` of eci-guard, made by Tauri's own bundler (the
//! `tauri-bundler` crate, so nothing but crates.io is needed): the desktop app, the CLI, the
//! systemd unit, the polkit action of the admin-settings helper, a desktop entry and the icons.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use tauri_bundler::bundle::{
    BundleBinary, BundleSettings, DebianSettings, PackageSettings, PackageType, SettingsBuilder,
};

/// The cargo profile the binaries are built with: `release` for the package users install,
/// `dev` for the package test, which reuses the test build's artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Release,
    Dev,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "dev",
        }
    }

    /// The directory under the target directory cargo writes this profile's binaries to.
    fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "debug",
        }
    }
}

/// The desktop app's binary (the package's main binary: the desktop entry runs it).
pub const APP_BINARY: &str = "eci-guard-desktop";
/// The command line, `serve` for the system service and `write-admin-settings` for polkit.
pub const CLI_BINARY: &str = "eci-guard";

/// Files the package carries besides the binaries, icons and desktop entry: where they are
/// installed (Debian paths, relative to `/`) and where they come from in the workspace.
pub const EXTRA_FILES: &[(&str, &str)] = &[
    (
        "usr/lib/systemd/system/eci-guard.service",
        "deploy/eci-guard.service",
    ),
    (
        "usr/share/polkit-1/actions/com.eci-guard.write-admin-settings.policy",
        "deploy/com.eci-guard.write-admin-settings.policy",
    ),
    (
        "usr/share/doc/eci-guard/dockerd-override.conf",
        "deploy/dockerd-override.conf",
    ),
];

/// The workspace root: xtask lives directly under it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Where cargo puts build outputs (`CARGO_TARGET_DIR` or `target/` of the workspace).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target"),
    }
}

/// Builds both binaries with `profile` (the frontend in `ui/dist` must be built: the app embeds
/// it) and bundles them into a `.deb`; returns the package's path, under the profile's target
/// directory (`bundle/deb/`).
pub fn build_deb(profile: Profile) -> Result<PathBuf> {
    let root = workspace_root();
    if !root.join("ui/dist/index.html").exists() {
        bail!("ui/dist is not built; run `npm run --prefix ui build` (cargo xtask setup does)");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--profile", profile.name()])
        .args(["-p", CLI_BINARY, "--bin", CLI_BINARY])
        .args(["-p", APP_BINARY, "--bin", APP_BINARY])
        .current_dir(&root)
        .status()
        .context("cannot start cargo")?;
    if !status.success() {
        bail!("building the binaries failed ({status})");
    }
    bundle(&target_dir().join(profile.dir()))
}

/// Bundles the binaries found in `out_dir` into `out_dir/bundle/deb/eci-guard_VERSION_ARCH.deb`.
pub fn bundle(out_dir: &Path) -> Result<PathBuf> {
    let root = workspace_root();
    let conf = tauri_conf(&root)?;
    let files: HashMap<PathBuf, PathBuf> = EXTRA_FILES
        .iter()
        .map(|(to, from)| (PathBuf::from(to), root.join(from)))
        .collect();
    let icons = conf.icons.iter().map(|i| {
        root.join("src-tauri")
            .join(i)
            .to_string_lossy()
            .into_owned()
    });
    let settings = SettingsBuilder::new()
        .project_out_directory(out_dir)
        .package_types(vec![PackageType::Deb])
        .package_settings(PackageSettings {
            product_name: conf.product_name.clone(),
            version: conf.version.clone(),
            description: "Enhanced Container Isolation for the Docker Engine: which images may \
                          mount the engine socket, and what they may do with it"
                .into(),
            homepage: None,
            authors: Some(vec!["eci-guard developers".into()]),
            default_run: Some(APP_BINARY.into()),
        })
        .bundle_settings(BundleSettings {
            identifier: Some(conf.identifier.clone()),
            publisher: Some("eci-guard".into()),
            icon: Some(icons.collect()),
            license: Some("Apache-2.0".into()),
            short_description: Some("Engine-socket mount permissions (ECI)".into()),
            long_description: Some(
                "A filtering proxy in front of the Docker Engine API socket (eci-guard serve, \
                 a systemd service) and a desktop app to edit its settings and see what it blocked."
                    .into(),
            ),
            category: Some(tauri_bundler::bundle::AppCategory::DeveloperTool),
            deb: DebianSettings {
                depends: Some(vec![
                    "libwebkit2gtk-4.1-0".into(),
                    "libgtk-3-0".into(),
                ]),
                // The admin-settings helper is run through pkexec; the enforcer needs an engine.
                recommends: Some(vec!["pkexec".into(), "docker.io | docker-ce".into()]),
                files,
                section: Some("admin".into()),
                post_install_script: Some(root.join("deploy/deb/postinst")),
                ..DebianSettings::default()
            },
            ..BundleSettings::default()
        })
        .binaries(vec![
            BundleBinary::new(APP_BINARY.into(), true),
            BundleBinary::new(CLI_BINARY.into(), false),
        ])
        // Patching marks the main binary with the bundle type for Tauri's updater, which this
        // app does not use; it would also rewrite the binary cargo built in place.
        .binary_patching(false)
        .build()
        .context("bundler settings")?;
    let bundles = tauri_bundler::bundle_project(&settings).context("bundling the .deb")?;
    bundles
        .into_iter()
        .flat_map(|b| b.bundle_paths)
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("the bundler made no .deb")
}

/// What the package takes from `src-tauri/tauri.conf.json`, so the app and its package agree.
struct TauriConf {
    product_name: String,
    version: String,
    identifier: String,
    icons: Vec<String>,
}

fn tauri_conf(root: &Path) -> Result<TauriConf> {
    let path = root.join("src-tauri/tauri.conf.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let conf: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let field = |name: &str| -> Result<String> {
        conf.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .with_context(|| format!("{} has no {name}", path.display()))
    };
    let icons = conf
        .pointer("/bundle/icon")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(TauriConf {
        product_name: field("productName")?,
        version: field("version")?,
        identifier: field("identifier")?,
        icons,
    })
}
