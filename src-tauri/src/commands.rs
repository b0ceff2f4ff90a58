//! The commands of the app contract (`/work/notes/app-contract.md`, `ui/src/api.ts`). Each one
//! checks its arguments, calls a core crate (or [`crate::files`]), and returns; no policy logic
//! lives here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eci_history::{AuditCount, Filter, Format, Page, QueryPage, Timestamp};
use eci_policy::settings::EciSection;
use eci_policy::validate::Diagnostic;
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime, State};

use crate::backend::blocking;
use crate::error::{AppError, ErrorCode};
use crate::files::{self, FileView, Target};
use crate::state::{AppState, AppStatus};

type AppResult<T> = Result<T, AppError>;

/// Both settings files as the editor needs them, the effective policy, and who may change what
/// (the same view embedded or attached).
pub use eci_proxy::control::SettingsView;

#[tauri::command]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn load_settings(state: State<'_, Arc<AppState>>) -> AppResult<SettingsView> {
    state.settings_view().await
}

#[tauri::command]
pub async fn validate_section(
    state: State<'_, Arc<AppState>>,
    target: Target,
    section: EciSection,
) -> AppResult<Vec<Diagnostic>> {
    state.validate_section(target, section).await
}

#[tauri::command]
pub async fn preview_settings(
    state: State<'_, Arc<AppState>>,
    target: Target,
    section: EciSection,
) -> AppResult<String> {
    state.preview(target, section).await
}

#[tauri::command]
pub async fn save_settings(
    state: State<'_, Arc<AppState>>,
    target: Target,
    section: EciSection,
    etag: String,
) -> AppResult<FileView> {
    state.save(target, section, etag).await
}

/// What saving `section` into the `target` file would change, from the same rendering the save
/// uses; pass the returned etag to `save_settings` so exactly what was shown is written.
#[tauri::command]
pub async fn settings_diff(
    state: State<'_, Arc<AppState>>,
    target: Target,
    section: EciSection,
) -> AppResult<files::SettingsDiff> {
    let path = state.path_of(target);
    blocking(move || files::diff(&path, &section)).await
}

/// The image-list entries that would allow `image` (History's "Allow this image"): exact tag,
/// any tag, and the digest the engine has for it (none when the engine does not answer or the
/// image is on no registry).
#[tauri::command]
pub async fn image_entry_forms(
    state: State<'_, Arc<AppState>>,
    image: String,
) -> AppResult<eci_policy::entry_forms::EntryForms> {
    let repo_digests = match eci_proxy::inspect_image(&state.config.enforcer.upstream, &image).await
    {
        Ok(Some(facts)) => facts.repo_digests,
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::debug!(error = %e, %image, "no digests for the image");
            Vec::new()
        }
    };
    eci_policy::entry_forms::entry_forms(&image, &repo_digests).map_err(|e| {
        AppError::new(
            ErrorCode::Invalid,
            format!("{image:?} is not an image name: {e}"),
        )
    })
}

/// Stops enforcing for ten minutes (the tray's Pause); returns when it resumes, unix ms.
#[tauri::command]
pub async fn pause_enforcing<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Arc<AppState>>,
) -> AppResult<u64> {
    state.pause(&app).await
}

/// Ends a pause now; `false` when none was in force.
#[tauri::command]
pub async fn resume_enforcing<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, Arc<AppState>>,
) -> AppResult<bool> {
    state.resume(&app).await
}

/// The tray's menu for the status now, as the tray shows it.
#[tauri::command]
pub async fn tray_menu(state: State<'_, Arc<AppState>>) -> AppResult<crate::tray::TrayModel> {
    Ok(crate::tray::model(
        &state.status().await,
        crate::unix_ms_now(),
    ))
}

fn autolaunch<R: Runtime>(
    app: &AppHandle<R>,
) -> AppResult<tauri::State<'_, tauri_plugin_autostart::AutoLaunchManager>> {
    app.try_state::<tauri_plugin_autostart::AutoLaunchManager>()
        .ok_or_else(|| AppError::new(ErrorCode::Internal, "autostart is not available here"))
}

/// Whether the app starts at login (off unless the user turned it on).
#[tauri::command]
pub fn autostart_enabled<R: Runtime>(app: AppHandle<R>) -> AppResult<bool> {
    autolaunch(&app)?.is_enabled().map_err(|e| {
        AppError::new(
            ErrorCode::Io,
            format!("cannot read the autostart entry: {e}"),
        )
    })
}

/// Turns starting at login on or off; returns the state now.
#[tauri::command]
pub fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> AppResult<bool> {
    let manager = autolaunch(&app)?;
    let done = if enabled {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(|e| {
        AppError::new(
            ErrorCode::Io,
            format!("cannot change the autostart entry: {e}"),
        )
    })?;
    manager.is_enabled().map_err(|e| {
        AppError::new(
            ErrorCode::Io,
            format!("cannot read the autostart entry: {e}"),
        )
    })
}

#[tauri::command]
pub async fn probe_image(
    state: State<'_, Arc<AppState>>,
    entry: String,
    request_id: String,
) -> AppResult<eci_registry::ProbeReport> {
    if entry.trim().is_empty() {
        return Err(AppError::new(
            ErrorCode::Invalid,
            "the image entry is empty",
        ));
    }
    let (serial, token) = state.begin_probe(&request_id);
    let report = eci_registry::probe(&entry, &state.registries, &token)
        .await
        .with_matches(&state.digests.service().snapshot());
    state.end_probe(&request_id, serial);
    if token.is_cancelled() {
        return Err(AppError::new(
            ErrorCode::Cancelled,
            format!("the probe of {entry} was cancelled"),
        ));
    }
    Ok(report)
}

#[tauri::command]
pub fn cancel_probe(state: State<'_, Arc<AppState>>, request_id: String) -> bool {
    state.cancel_probe(&request_id)
}

#[tauri::command]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn history_query(
    state: State<'_, Arc<AppState>>,
    filter: Filter,
    page: Page,
) -> AppResult<QueryPage> {
    state.history_query(filter, page).await
}

/// Requests forwarded in audit mode since `since`, by kind: what "Enforce now" would refuse.
#[tauri::command]
pub async fn history_audit_count(
    state: State<'_, Arc<AppState>>,
    since: Timestamp,
) -> AppResult<AuditCount> {
    state.history_audit_count(since).await
}

#[tauri::command]
pub async fn history_export(
    state: State<'_, Arc<AppState>>,
    filter: Filter,
    format: Format,
    path: String,
) -> AppResult<u64> {
    state
        .history_export(filter, format, absolute(&path, "export")?)
        .await
}

fn absolute(path: &str, what: &str) -> AppResult<PathBuf> {
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(AppError::new(
            ErrorCode::Invalid,
            format!("{what} to an absolute path, not {}", path.display()),
        ));
    }
    Ok(path)
}

#[tauri::command]
pub async fn history_clear(state: State<'_, Arc<AppState>>) -> AppResult<u64> {
    state.history_clear().await
}

#[tauri::command]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn status(state: State<'_, Arc<AppState>>) -> AppResult<AppStatus> {
    Ok(state.status().await)
}

#[tauri::command]
pub async fn docker_host_line(state: State<'_, Arc<AppState>>) -> AppResult<String> {
    Ok(format!(
        "export DOCKER_HOST=unix://{}",
        state.client_socket().await.display()
    ))
}

/// A name `docker context create` accepts (the CLI's own rule: `^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$`).
fn valid_context_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c))
}

#[tauri::command]
pub async fn create_docker_context(
    state: State<'_, Arc<AppState>>,
    name: String,
) -> AppResult<String> {
    if !valid_context_name(&name) {
        return Err(AppError::new(
            ErrorCode::Invalid,
            format!(
                "{name:?} is not a valid context name: letters, digits and _.+- only, starting \
                 with a letter or digit, at least two characters"
            ),
        ));
    }
    let host = format!("host=unix://{}", state.client_socket().await.display());
    let output = tokio::process::Command::new("docker")
        .args(["context", "create", &name, "--docker", &host])
        .output()
        .await
        .map_err(|e| AppError::io("cannot run the docker CLI", &e))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        Ok(text.trim().to_owned())
    } else {
        Err(AppError::new(
            ErrorCode::Io,
            format!("docker context create failed: {}", text.trim()),
        ))
    }
}

/// "Try a command": what the enforcer would do with a `docker run`/`create` line under the
/// settings as edited (the `target` file's section replaced by `section`, the other file as it is
/// on disk), from the enforcer's own judge. Nothing is sent to the engine but its inspects.
#[tauri::command]
pub async fn try_command(
    state: State<'_, Arc<AppState>>,
    target: Target,
    section: EciSection,
    line: String,
) -> AppResult<eci_proxy::Explanation> {
    let args = shlex::split(&line).ok_or_else(|| {
        AppError::new(ErrorCode::Invalid, "the command line has an unclosed quote")
    })?;
    let request = eci_policy::docker_line::translate(&args)
        .map_err(|e| AppError::new(ErrorCode::Invalid, e.to_string()))?;
    let (admin_path, user_path) = (state.config.admin_path(), state.config.user_path());
    let edited = state.path_of(target);
    let policy = blocking(move || {
        let text = |path: &Path| -> AppResult<Option<String>> {
            if path == edited {
                return Ok(Some(files::render(path, &section)?.0));
            }
            Ok(files::read_view(path, false)?.text)
        };
        let (admin, user) = (text(&admin_path)?, text(&user_path)?);
        eci_policy::settings::load(admin.as_deref(), user.as_deref())
            .map(|l| l.policy)
            .map_err(|e| {
                AppError::new(
                    ErrorCode::Invalid,
                    format!("the edited settings have errors: {e}"),
                )
            })
    })
    .await?;
    let enforcer = &state.config.enforcer;
    let explainer = eci_proxy::Explainer::new(
        &eci_proxy::ExplainConfig {
            upstream: enforcer.upstream.clone(),
            settings: enforcer.settings.clone(),
            state_dir: enforcer.state_dir.clone(),
            protect: enforcer
                .listen
                .iter()
                .chain(&enforcer.protect)
                .cloned()
                .collect(),
        },
        state.digests.clone(),
    );
    let body = serde_json::to_vec(&request.body)
        .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(explainer
        .explain_with(
            &policy,
            eci_proxy::Socket::Main,
            request.method,
            &request.target,
            &body,
        )
        .await)
}

/// A settings file picked in the import dialog: its ECI section and diagnostics, for the editor
/// to take over and the user to review (the diff) and save. Nothing is written here.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ImportedSettings {
    pub path: PathBuf,
    pub section: Option<EciSection>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads a settings file the user picked (the native dialog only chooses the path).
#[tauri::command]
pub async fn import_settings(path: String) -> AppResult<ImportedSettings> {
    let path = absolute(&path, "import from")?;
    blocking(move || {
        let view = files::read_view(&path, false)?;
        if !view.exists {
            return Err(AppError::new(
                ErrorCode::NotFound,
                format!("{} does not exist", path.display()),
            ));
        }
        Ok(ImportedSettings {
            path,
            section: view.section,
            diagnostics: view.diagnostics,
        })
    })
    .await
}

/// Copies the target settings file, as it is now, to `path` (picked in the save dialog); the
/// number of bytes written.
#[tauri::command]
pub async fn export_settings(
    state: State<'_, Arc<AppState>>,
    target: Target,
    path: String,
) -> AppResult<u64> {
    let to = absolute(&path, "export")?;
    let view = state.settings_view().await?;
    let file = match target {
        Target::Admin => view.admin,
        Target::User => view.user,
    };
    let text = file.text.ok_or_else(|| {
        AppError::new(
            ErrorCode::NotFound,
            format!("there is no {} to export", file.path.display()),
        )
    })?;
    blocking(move || {
        crate::backend::write_atomically(&to, |mut out| {
            std::io::Write::write_all(&mut out, text.as_bytes())
                .map_err(|e| AppError::io(format!("cannot write {}", to.display()), &e))
        })?;
        Ok(text.len() as u64)
    })
    .await
}

/// How an admin save is written for this user: directly, or through polkit.
#[tauri::command]
pub fn admin_write_route(state: State<'_, Arc<AppState>>) -> files::WriteRoute {
    state.admin_write_route()
}

/// Saves the admin section the way [`admin_write_route`] says: directly when this user may
/// write the admin file, otherwise through `pkexec eci-guard write-admin-settings`, which asks
/// for an administrator's password (polkit action `com.eci-guard.write-admin-settings`) and
/// validates and writes the file itself.
#[tauri::command]
pub async fn save_admin_settings_elevated(
    state: State<'_, Arc<AppState>>,
    section: EciSection,
    etag: String,
) -> AppResult<FileView> {
    if state.admin_write_route() == files::WriteRoute::Direct {
        return state.save(Target::Admin, section, etag).await;
    }
    let text = state.preview(Target::Admin, section).await?;
    let admin = state.settings_view().await?.admin.path;
    crate::elevate::write_admin_settings(&admin, &text, &etag).await?;
    let writable = files::may_write(&admin);
    blocking(move || files::read_view(&admin, writable)).await
}
