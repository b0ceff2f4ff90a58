//! The `eci-guard-desktop` binary: the app with its window and the embedded enforcer.

fn main() -> std::process::ExitCode {
    // Answered before GTK starts, so it works without a display (package checks, scripts). Any
    // other argument is the window system's or the WebDriver's.
    if std::env::args_os().nth(1).is_some_and(|a| a == "--version") {
        println!("eci-guard-desktop {}", env!("CARGO_PKG_VERSION"));
        return std::process::ExitCode::SUCCESS;
    }
    eci_guard_desktop::run(tauri::generate_context!())
}
