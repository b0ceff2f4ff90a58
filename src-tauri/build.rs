//! Build script: checks that the frontend was built, and generates the app's command permissions
//! and the capability schemas (checked in under `permissions/` and `gen/schemas/`).

use std::path::Path;

/// Every command the app registers, the same list `src/lib.rs` exports as `COMMANDS`.
const COMMANDS: &[&str] = include!("src/command_names.rs");

fn main() {
    // The app embeds the built frontend at compile time. A missing build is an error, not an
    // empty window: CI must never ship or test an app without its UI.
    let dist = Path::new("../ui/dist");
    println!("cargo:rerun-if-changed=../ui/dist");
    println!("cargo:rerun-if-changed=src/command_names.rs");
    if !dist.join("index.html").is_file() {
        eprintln!(
            "error: ui/dist/index.html is missing; the desktop app embeds the built frontend.\n\
             Run `cargo xtask setup` (it runs `npm ci` and `npm run build` in ui/) first."
        );
        std::process::exit(1);
    }
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        eprintln!("error: tauri build step failed: {e:#}");
        std::process::exit(1);
    }
}
