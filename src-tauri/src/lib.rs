//! eci-guard-desktop: the Tauri shell over the enforcer (SPEC §8). Thin: commands check their
//! arguments and call eci-policy, eci-registry, eci-history or eci-proxy; events forward the
//! enforcer's and the history's subscriptions.
//!
//! [`builder`] is generic over the runtime, so tests drive the commands with
//! `tauri::test::mock_builder()`-style builders and a directly managed [`AppState`]; [`run`] adds
//! what only the real app does (the state from the environment, background tasks, clean stop).

pub mod commands;
pub mod error;
pub mod files;
pub mod state;

use std::sync::Arc;

use tauri::{Manager, Runtime};

pub use error::{AppError, ErrorCode};
pub use files::{FileView, Mode, Target};
pub use state::{AppConfig, AppState, AppStatus};

/// Every command the app registers, as named in `build.rs` (which generates their permissions)
/// and in the capability (tests check the three agree).
pub const COMMANDS: &[&str] = &[
    "load_settings",
    "validate_section",
    "preview_settings",
    "save_settings",
    "probe_image",
    "cancel_probe",
    "history_query",
    "history_export",
    "history_clear",
    "status",
    "docker_host_line",
    "create_docker_context",
];

/// The app's commands on a builder for any runtime. The caller manages an `Arc<AppState>`.
pub fn builder<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::load_settings,
        commands::validate_section,
        commands::preview_settings,
        commands::save_settings,
        commands::probe_image,
        commands::cancel_probe,
        commands::history_query,
        commands::history_export,
        commands::history_clear,
        commands::status,
        commands::docker_host_line,
        commands::create_docker_context,
    ])
}

/// Runs the desktop app until its last window closes: state from the `ECI_GUARD_*` variables,
/// the embedded enforcer in the background, everything stopped cleanly on exit.
pub fn run(context: tauri::Context<tauri::Wry>) -> std::process::ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let state = match AppConfig::from_env().and_then(AppState::open) {
        Ok(state) => Arc::new(state),
        Err(e) => {
            eprintln!("eci-guard-desktop: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let started = state.clone();
    let app = builder(tauri::Builder::default())
        .manage(state.clone())
        .setup(move |app| {
            started.start(app.handle().clone());
            // SIGINT/SIGTERM quit like closing the window, so the enforcer's sockets are removed
            // and the history written out.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                eci_proxy::termination_signal().await;
                handle.exit(0);
            });
            Ok(())
        })
        .build(context);
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("eci-guard-desktop: cannot start the app: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = app.run_return(move |handle, event| {
        if let tauri::RunEvent::Exit = event {
            let state = handle.state::<Arc<AppState>>().inner().clone();
            tauri::async_runtime::block_on(state.stop());
        }
    });
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
