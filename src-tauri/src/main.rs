//! The `eci-guard-desktop` binary: the app with its window and the embedded enforcer.

fn main() -> std::process::ExitCode {
    eci_guard_desktop::run(tauri::generate_context!())
}
