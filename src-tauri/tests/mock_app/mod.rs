//! The app on Tauri's mock runtime, for tests that drive its commands through the IPC as the
//! frontend does (`commands.rs`, `attached.rs`): its state opened from a config, managed, and
//! a main window to invoke from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eci_guard_desktop::{AppConfig, AppState};
use eci_proxy::{EnforcerConfig, Limits, SettingsPaths};
use serde_json::Value;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

/// The state, the app holding it, and its main window.
pub struct MockApp {
    pub state: Arc<AppState>,
    pub app: App<MockRuntime>,
    pub webview: WebviewWindow<MockRuntime>,
}

/// The app's config on this layout under `dir`: listening on `dir/run/docker.sock`, settings in
/// `dir/admin/admin-settings.json` and `dir/user/settings.json`, state under `dir/state`.
pub fn app_config(dir: &Path, upstream: PathBuf, force_user_mode: bool) -> AppConfig {
    AppConfig {
        attach: None,
        enforcer: EnforcerConfig {
            listen: vec![dir.join("run/docker.sock")],
            upstream,
            settings: SettingsPaths {
                admin: Some(dir.join("admin/admin-settings.json")),
                user: Some(dir.join("user/settings.json")),
            },
            state_dir: dir.join("state"),
            protect: Vec::new(),
            limits: Limits::default(),
            watch_settings: true,
        },
        registries: None,
        force_user_mode,
    }
}

/// Opens the state for `config` and builds the app around it (nothing started yet).
pub fn mock_app(config: AppConfig) -> MockApp {
    let state = Arc::new(AppState::open(config).unwrap());
    let app = eci_guard_desktop::builder(mock_builder())
        .manage(state.clone())
        .build(tauri::generate_context!("tauri.conf.json", test = true))
        .unwrap();
    let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    MockApp {
        state,
        app,
        webview,
    }
}

/// Invokes `cmd` from `webview` as the frontend does: the answer, or the error it rejects with.
pub fn invoke(
    webview: &WebviewWindow<MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    get_ipc_response(
        webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}
