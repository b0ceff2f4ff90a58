//! eci-guard-desktop: the Tauri shell over the enforcer (SPEC §8). Thin: commands check their
//! arguments and call eci-policy, eci-registry, eci-history or eci-proxy; events forward the
//! enforcer's and the history's subscriptions.
//!
//! [`builder`] is generic over the runtime, so tests drive the commands with
//! `tauri::test::mock_builder()`-style builders and a directly managed [`AppState`]; [`run`] adds
//! what only the real app does (the state from the environment, background tasks, clean stop),
//! and the desktop product around it (issue 14): one instance, closing the window hides it while
//! the enforcer keeps guarding, a tray with the state and Open / Pause / Quit, notifications of
//! blocks, and start at login when the user asks for it.

mod backend;
pub mod bindings;
pub mod commands;
mod elevate;
pub mod error;
pub mod files;
pub mod notify;
pub mod state;
pub mod tray;
pub mod webview;

use std::sync::Arc;

use tauri::{Manager, Runtime};

pub use error::{AppError, ErrorCode};
pub use files::{FileView, Mode, Target};
pub use state::{attach_target, AppConfig, AppState, AppStatus, Enforcement, StartError};

/// Every command the app registers, as named in `build.rs` (which generates their permissions)
/// and in the capability (tests check the three agree).
pub const COMMANDS: &[&str] = include!("command_names.rs");

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
        commands::history_audit_count,
        commands::history_export,
        commands::history_clear,
        commands::status,
        commands::docker_host_line,
        commands::create_docker_context,
        commands::try_command,
        commands::settings_diff,
        commands::image_entry_forms,
        commands::pause_enforcing,
        commands::resume_enforcing,
        commands::tray_menu,
        commands::autostart_enabled,
        commands::set_autostart,
        commands::import_settings,
        commands::export_settings,
        commands::admin_write_route,
        commands::save_admin_settings_elevated,
    ])
}

/// Shows the main window and brings it to the front (the tray's Open, a second launch, a click
/// on a notification).
pub fn show_main<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Now, in unix milliseconds.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Keeps the tray in step with the status: on every new status, and each half minute for the
/// minutes left of a pause.
async fn follow_status<R: Runtime>(
    state: Arc<AppState>,
    app: tauri::AppHandle<R>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut statuses = state.subscribe_status();
    let mut shown: Option<tray::TrayModel> = None;
    loop {
        let status = statuses.borrow_and_update().clone();
        if let Some(status) = status {
            let model = tray::model(&status, unix_ms_now());
            if shown.as_ref() != Some(&model) {
                if let Err(e) = tray::glue::apply(&app, &model) {
                    tracing::warn!(error = %e, "cannot update the tray");
                }
                shown = Some(model);
            }
        }
        tokio::select! {
            changed = statuses.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Runs the desktop app until its last window closes: state from the `ECI_GUARD_*` variables,
/// the embedded enforcer in the background, everything stopped cleanly on exit.
///
/// Start-up (issue 5) is traced as `debug` spans and events (`RUST_LOG=eci_guard_desktop=debug`):
/// `state_open`, `build`, `setup`, the page load, and the first commands.
pub fn run(context: tauri::Context<tauri::Wry>) -> std::process::ExitCode {
    webview::prepare_environment();
    init_tracing();
    tracing::debug!("run");
    let config = match AppConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("eci-guard-desktop: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Opening the history runs a retention pass with an fsync (tens of milliseconds at 100,000
    // rows, more on a busy disk): it runs while GTK starts instead of before it.
    let opening = std::thread::Builder::new()
        .name("eci-state-open".into())
        .spawn(move || {
            let _span = tracing::debug_span!("state_open").entered();
            AppState::open(config)
        });
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("eci-guard-desktop: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tauri::async_runtime::set(runtime.handle().clone());
    let app = build_app(context);
    let opened = match opening {
        Ok(thread) => thread.join().unwrap_or(Err(StartError::Panicked)),
        Err(e) => Err(StartError::Thread(e)),
    };
    let state = match opened {
        Ok(state) => Arc::new(state),
        Err(e) => {
            eprintln!("eci-guard-desktop: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("eci-guard-desktop: cannot start the app: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Managed before the event loop runs: the window is created, and commands can arrive, only
    // from then on.
    app.manage(state);
    let code = app.run_return(move |handle, event| {
        if let tauri::RunEvent::Exit = event {
            let state = handle.state::<Arc<AppState>>().inner().clone();
            tauri::async_runtime::block_on(state.stop());
        }
    });
    drop(runtime);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The app with its plugins, its window's behaviour and its setup hook, not running yet.
fn build_app(context: tauri::Context<tauri::Wry>) -> tauri::Result<tauri::App> {
    let _span = tracing::debug_span!("build").entered();
    // The single-instance plugin first: a second launch hands over to the first (which shows its
    // window) and exits before anything else of it starts, its enforcer above all.
    builder(tauri::Builder::default())
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            tracing::info!("a second launch: showing this instance");
            show_main(app);
        }))
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .plugin(tauri_plugin_notification::init())
        // Native open/save dialogs for importing and exporting settings files; the capability
        // grants only open and save (no message boxes, no file system access).
        .plugin(tauri_plugin_dialog::init())
        .on_page_load(|_, payload| tracing::debug!(event = ?payload.event(), "page load"))
        // Closing the window hides it: the enforcer keeps guarding. Quit is the tray's.
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
                tracing::info!("window closed; the enforcer keeps running (Quit from the tray)");
            }
        })
        .setup(|app| {
            setup(app);
            Ok(())
        })
        .build(context)
}

/// Logs to stderr, `info` and up unless `RUST_LOG` says otherwise, spans timed as they close.
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .try_init();
}

/// Once the app is built: the enforcer started, the tray and the notifications following its
/// status, the window tuned, and termination signals quitting like the window's close.
fn setup(app: &mut tauri::App) {
    let _span = tracing::debug_span!("setup").entered();
    let state = app.state::<Arc<AppState>>().inner().clone();
    state.start(app.handle().clone());
    // The tray starts as "unreachable" until the enforcer's first status arrives.
    let first = tray::model(
        &AppStatus {
            enforcer: None,
            enforcer_error: Some("starting".into()),
            history: state.history.status(),
            digests: Vec::new(),
            docker_host: String::new(),
            attached_to: state.config.attach.clone(),
        },
        unix_ms_now(),
    );
    match tray::glue::install(app.handle(), &first) {
        Ok(_) => {
            let (s, handle) = (state.clone(), app.handle().clone());
            state.spawn(move |stop| follow_status(s, handle, stop));
        }
        Err(e) => {
            tracing::warn!(error = %e, "no tray icon; closing the window still hides it")
        }
    }
    let (s, handle) = (state.clone(), app.handle().clone());
    state.spawn(move |stop| notify::glue::run(s, handle, stop));
    if let Some(window) = app.get_webview_window("main") {
        webview::tune(&window);
    }
    // SIGINT/SIGTERM quit like closing the window, so the enforcer's sockets are removed
    // and the history written out.
    let handle = app.handle().clone();
    tauri::async_runtime::spawn(async move {
        eci_proxy::termination_signal().await;
        handle.exit(0);
    });
}

/// The app's async runtime: two workers, not Tauri's default of one per core. Its tasks are a
/// few event forwarders, the enforcer's connections and commands that wait on files, SQLite
/// (on the blocking pool) or a registry; an idle worker per core only holds a stack and a malloc
/// arena.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("eci-guard-rt")
        .enable_all()
        .build()
}
