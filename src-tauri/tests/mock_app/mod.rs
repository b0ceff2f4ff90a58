//! The app on Tauri's mock runtime, for tests that drive its commands through the IPC as the
//! frontend does (`commands.rs`, `attached.rs`): its state opened from a config, managed, and
//! a main window to invoke from.

use std::sync::Arc;

use eci_guard_desktop::{AppConfig, AppState};
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
