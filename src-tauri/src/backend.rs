//! The answers the commands give, embedded or attached ([`Enforcement`]): the settings files
//! through eci-proxy's `settings_files` and the app's own history when embedded, or the same
//! views from a running `eci-guard serve` through its control socket when attached. Commands
//! call these and stay a few lines whichever way the app runs.

use std::path::{Path, PathBuf};

use eci_history::{Filter, Format, Page, QueryPage};
use eci_policy::settings::EciSection;
use eci_policy::validate::Diagnostic;
use eci_proxy::control::{ApiError, ClientError, ErrorKind, SettingsView};

use crate::error::{AppError, ErrorCode};
use crate::files::{self, FileView, Mode, Target};
use crate::state::{AppState, Enforcement};

type AppResult<T> = Result<T, AppError>;

impl From<ClientError> for AppError {
    fn from(e: ClientError) -> AppError {
        match e {
            ClientError::Api(ApiError {
                code,
                message,
                diagnostics,
            }) => AppError {
                code: match code {
                    ErrorKind::Invalid => ErrorCode::Invalid,
                    ErrorKind::Conflict => ErrorCode::Conflict,
                    ErrorKind::Forbidden => ErrorCode::Forbidden,
                    ErrorKind::NotFound => ErrorCode::NotFound,
                    ErrorKind::Io => ErrorCode::Io,
                    ErrorKind::Internal => ErrorCode::Internal,
                },
                message,
                diagnostics,
            },
            other => AppError::new(ErrorCode::Enforcer, other.to_string()),
        }
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> AppResult<T> + Send + 'static,
) -> AppResult<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| AppError::new(ErrorCode::Internal, format!("a worker failed: {e}")))?
}

fn forbidden_admin(path: &Path) -> AppError {
    AppError::new(
        ErrorCode::Forbidden,
        format!(
            "only whoever can write {} can change the admin settings; the app does not ask for \
             more rights",
            path.display()
        ),
    )
}

impl AppState {
    pub fn path_of(&self, target: Target) -> PathBuf {
        match target {
            Target::Admin => self.config.admin_path(),
            Target::User => self.config.user_path(),
        }
    }

    /// Both files, the effective policy, and the mode (`ECI_GUARD_USER_MODE` only lowers it).
    pub async fn settings_view(&self) -> AppResult<SettingsView> {
        if let Enforcement::Attached(client) = &self.enforcement {
            let mut view = client.settings().await?;
            if self.config.force_user_mode {
                view.mode = Mode::User;
                view.admin.writable = false;
            }
            return Ok(view);
        }
        let mode = self.mode();
        let (admin_path, user_path) = (self.config.admin_path(), self.config.user_path());
        let (admin, user) = blocking(move || {
            let admin = files::read_view(&admin_path, mode == Mode::Admin)?;
            let user = files::read_view(&user_path, files::may_write(&user_path))?;
            Ok((admin, user))
        })
        .await?;
        let effective = match self.enforced_policy().await {
            Some(policy) => (*policy).clone(),
            None => eci_policy::settings::load(admin.text.as_deref(), user.text.as_deref())
                .map(|l| l.policy)
                .unwrap_or_default(),
        };
        SettingsView::new(mode, admin, user, &effective)
            .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))
    }

    pub async fn validate_section(
        &self,
        target: Target,
        section: EciSection,
    ) -> AppResult<Vec<Diagnostic>> {
        if let Enforcement::Attached(client) = &self.enforcement {
            return Ok(client.validate(target, &section).await?);
        }
        let path = self.path_of(target);
        let view = blocking(move || files::read_view(&path, false)).await?;
        Ok(eci_policy::validate::validate_section(
            &section,
            view.mount_key,
        ))
    }

    /// The text a save would write (the diff the app shows before saving is made from it).
    pub async fn preview(&self, target: Target, section: EciSection) -> AppResult<String> {
        if let Enforcement::Attached(client) = &self.enforcement {
            return Ok(client.preview(target, &section).await?);
        }
        let path = self.path_of(target);
        blocking(move || files::render(&path, &section).map(|(text, _)| text)).await
    }

    /// Saves `section` into the target file if it still has `etag`. Attached, the daemon
    /// decides with this user's credentials whether the save is allowed.
    pub async fn save(
        &self,
        target: Target,
        section: EciSection,
        etag: String,
    ) -> AppResult<FileView> {
        let path = self.path_of(target);
        if let Enforcement::Attached(client) = &self.enforcement {
            if target == Target::Admin && self.config.force_user_mode {
                return Err(forbidden_admin(&path));
            }
            return Ok(client.save(target, &section, &etag).await?);
        }
        match target {
            Target::Admin if self.mode() != Mode::Admin => return Err(forbidden_admin(&path)),
            Target::User => {
                let admin_path = self.config.admin_path();
                let admin = blocking(move || files::read_view(&admin_path, false)).await?;
                if admin.locks_eci() {
                    return Err(AppError::new(
                        ErrorCode::Forbidden,
                        "locked by your administrator: the ECI settings cannot be changed here",
                    ));
                }
            }
            Target::Admin => {}
        }
        let _one_at_a_time = self.save_lock.lock().await;
        let writable = match target {
            Target::Admin => true,
            Target::User => files::may_write(&path),
        };
        blocking(move || {
            files::save(&path, &section, &etag)?;
            files::read_view(&path, writable)
        })
        .await
    }

    pub async fn history_query(&self, filter: Filter, page: Page) -> AppResult<QueryPage> {
        if let Enforcement::Attached(client) = &self.enforcement {
            return Ok(client.history_query(&filter, &page).await?);
        }
        let history = self.history.clone();
        blocking(move || Ok(history.query(&filter, &page)?)).await
    }

    /// Audited rows since `since`, by kind (the History view's audit banner).
    pub async fn history_audit_count(
        &self,
        since: eci_history::Timestamp,
    ) -> AppResult<eci_history::AuditCount> {
        if let Enforcement::Attached(client) = &self.enforcement {
            return Ok(client.history_audit_count(since).await?);
        }
        let history = self.history.clone();
        blocking(move || Ok(history.audited_since(since)?)).await
    }

    /// Writes the matching rows to `path` (next to it first, then renamed into place, so a
    /// failed export never leaves half a file under the chosen name); the number of rows.
    pub async fn history_export(
        &self,
        filter: Filter,
        format: Format,
        path: PathBuf,
    ) -> AppResult<u64> {
        if let Enforcement::Attached(client) = &self.enforcement {
            let (rows, bytes) = client.history_export(&filter, format).await?;
            blocking(move || {
                write_atomically(&path, |mut out| {
                    std::io::Write::write_all(&mut out, &bytes)
                        .map_err(|e| AppError::io(format!("cannot write {}", path.display()), &e))
                })
            })
            .await?;
            return Ok(rows);
        }
        let history = self.history.clone();
        blocking(move || {
            let target = path.clone();
            let mut rows = 0;
            write_atomically(&target, |out| {
                rows = history.export(&filter, format, std::io::BufWriter::new(out))?;
                Ok(())
            })?;
            Ok(rows)
        })
        .await
    }

    pub async fn history_clear(&self) -> AppResult<u64> {
        if let Enforcement::Attached(client) = &self.enforcement {
            if self.config.force_user_mode {
                return Err(AppError::new(
                    ErrorCode::Forbidden,
                    "only an administrator (who can write the admin settings) can clear the history",
                ));
            }
            return Ok(client.history_clear().await?);
        }
        if self.mode() != Mode::Admin {
            return Err(AppError::new(
                ErrorCode::Forbidden,
                "only an administrator (who can write the admin settings) can clear the history",
            ));
        }
        let history = self.history.clone();
        blocking(move || Ok(history.clear()?)).await
    }

    /// How an admin save reaches the file for this user (`ECI_GUARD_USER_MODE` counts as not
    /// permitted: it shows what users see, polkit included).
    pub fn admin_write_route(&self) -> files::WriteRoute {
        files::write_route(
            !self.config.force_user_mode && files::may_write(&self.config.admin_path()),
        )
    }

    /// The socket clients should use: the daemon's first when attached, else the embedded
    /// enforcer's.
    pub async fn client_socket(&self) -> PathBuf {
        if let Enforcement::Attached(client) = &self.enforcement {
            if let Ok(status) = client.status().await {
                if let Some(first) = status.enforcer.listening.first() {
                    return first.clone();
                }
            }
        }
        self.config.client_socket()
    }
}

/// Writes through `fill` to a temporary file beside `path`, synced, mode 0644, then renamed
/// over `path`.
pub(crate) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&std::fs::File) -> AppResult<()>,
) -> AppResult<()> {
    let what = || format!("cannot write {}", path.display());
    let dir = path
        .parent()
        .ok_or_else(|| AppError::new(ErrorCode::Invalid, what()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".eci-guard-export-")
        .tempfile_in(dir)
        .map_err(|e| AppError::io(what(), &e))?;
    fill(tmp.as_file())?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| AppError::io(what(), &e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path)
        .map_err(|e| AppError::io(what(), &e.error))?;
    Ok(())
}
