//! An empty Tauri 2 window, built the way the app builds its own: the baseline of the app's
//! memory bench (issue 14, `tests/app_memory.rs`).
//!
//! Same crate (so the same tauri version, features and lock file), the app's WebKit settings
//! from `eci_guard_desktop::webview` (so the baseline follows when they change), the same window
//! size and CSP, a one-paragraph static page, and nothing else: no commands, plugins, tray,
//! state, async runtime or enforcer. Build it with
//! `cargo build --release -p eci-guard-desktop --bins --examples`.

use tauri::Manager;

fn main() -> std::process::ExitCode {
    eci_guard_desktop::webview::prepare_environment();
    let app = tauri::Builder::default()
        .setup(|app| {
            if let Some(window) = app.get_webview_window("main") {
                eci_guard_desktop::webview::tune(&window);
            }
            Ok(())
        })
        .build(tauri::generate_context!(
            "examples/empty_window/tauri.conf.json"
        ));
    match app {
        Ok(app) => {
            app.run(|_, _| {});
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("empty_window: cannot start: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
