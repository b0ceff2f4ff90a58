//! The tray icon: what it shows for a status ([`model`], pure and unit-tested) and the thin glue
//! that builds Tauri's tray from that model and routes its menu items.

use serde::Serialize;

use crate::state::AppStatus;

/// How long "Pause" stops enforcing.
pub const PAUSE_MINUTES: u64 = 10;

/// Menu item ids (the glue routes on these).
pub const OPEN: &str = "open";
pub const PAUSE: &str = "pause";
pub const RESUME: &str = "resume";
pub const QUIT: &str = "quit";
pub const STATE: &str = "state";

/// What the enforcer is doing, as the tray shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum TrayState {
    Enforcing,
    /// Enforcing is paused until this time (unix ms).
    Paused {
        until_ms: u64,
    },
    EciOff,
    /// The settings on disk were rejected; the last good policy is still enforced.
    SettingsRejected,
    /// No enforcer running, or its engine does not answer.
    EngineUnreachable,
}

/// One menu item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct TrayItem {
    pub id: &'static str,
    pub label: String,
    pub enabled: bool,
}

/// Everything the tray shows: the state, a one-line title, and the menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct TrayModel {
    pub state: TrayState,
    pub title: String,
    pub items: Vec<TrayItem>,
}

/// The state a status stands for. An unreachable engine or rejected settings outrank a pause,
/// since they are what the user must act on.
pub fn state_of(status: &AppStatus) -> TrayState {
    let Some(enforcer) = &status.enforcer else {
        return TrayState::EngineUnreachable;
    };
    if !enforcer.upstream_reachable {
        return TrayState::EngineUnreachable;
    }
    let rejected = enforcer
        .last_reload
        .as_ref()
        .is_some_and(|r| !matches!(r.outcome, eci_proxy::ReloadOutcome::Applied { .. }));
    if rejected {
        return TrayState::SettingsRejected;
    }
    if let Some(until_ms) = enforcer.paused_until_ms {
        return TrayState::Paused { until_ms };
    }
    if enforcer.eci_enabled {
        TrayState::Enforcing
    } else {
        TrayState::EciOff
    }
}

/// The tray's first, disabled line: the state in words.
fn title(state: TrayState, now_ms: u64) -> String {
    match state {
        TrayState::Enforcing => "eci-guard: enforcing".to_owned(),
        TrayState::Paused { until_ms } => {
            // Rounded up: "1 minute" until the very end, never "0 minutes".
            let minutes = until_ms.saturating_sub(now_ms).div_ceil(60_000).max(1);
            format!(
                "eci-guard: paused, enforcing again in {minutes} minute{}",
                if minutes == 1 { "" } else { "s" }
            )
        }
        TrayState::EciOff => "eci-guard: ECI off".to_owned(),
        TrayState::SettingsRejected => {
            "eci-guard: settings rejected (last good policy enforced)".to_owned()
        }
        TrayState::EngineUnreachable => "eci-guard: engine unreachable".to_owned(),
    }
}

/// The tray for `status` at `now_ms`: a disabled line with the state, Open, Pause (or Resume
/// while paused) unless the settings are locked or the enforcer is a daemon the app is attached
/// to, and Quit.
pub fn model(status: &AppStatus, now_ms: u64) -> TrayModel {
    let state = state_of(status);
    let locked = status
        .enforcer
        .as_ref()
        .is_some_and(|e| eci_proxy::is_locked(&e.policy_provenance));
    let title = title(state, now_ms);
    let mut items = vec![
        TrayItem {
            id: STATE,
            label: title.clone(),
            enabled: false,
        },
        TrayItem {
            id: OPEN,
            label: "Open eci-guard".into(),
            enabled: true,
        },
    ];
    let attached = status.attached_to.is_some();
    if !locked && !attached {
        items.push(match state {
            TrayState::Paused { .. } => TrayItem {
                id: RESUME,
                label: "Resume enforcing now".into(),
                enabled: true,
            },
            _ => TrayItem {
                id: PAUSE,
                label: format!("Pause for {PAUSE_MINUTES} minutes"),
                // Only an enforcer that enforces can be paused.
                enabled: state == TrayState::Enforcing,
            },
        });
    }
    items.push(TrayItem {
        id: QUIT,
        label: if attached {
            "Quit (eci-guard serve keeps enforcing)".into()
        } else {
            "Quit (stops the enforcer)".into()
        },
        enabled: true,
    });
    TrayModel {
        state,
        title,
        items,
    }
}

/// RGBA `pixels` (`width` wide) with a dot of `rgb` in the lower right quarter, ringed in white,
/// so the state reads from the icon alone.
pub fn badge(pixels: &[u8], width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut out = pixels.to_vec();
    let r = f64::from(width.min(height)) * 0.22;
    let (cx, cy) = (f64::from(width) - r - 1.0, f64::from(height) - r - 1.0);
    for y in 0..height {
        for x in 0..width {
            let d = ((f64::from(x) + 0.5 - cx).powi(2) + (f64::from(y) + 0.5 - cy).powi(2)).sqrt();
            let colour = if d <= r * 0.75 {
                [rgb[0], rgb[1], rgb[2], 255]
            } else if d <= r {
                [255, 255, 255, 255]
            } else {
                continue;
            };
            let i = ((y * width + x) * 4) as usize;
            if let Some(px) = out.get_mut(i..i + 4) {
                px.copy_from_slice(&colour);
            }
        }
    }
    out
}

/// The badge colour of each state.
pub fn colour(state: TrayState) -> [u8; 3] {
    match state {
        TrayState::Enforcing => [0x2e, 0xa0, 0x43],
        TrayState::Paused { .. } | TrayState::EciOff => [0x8a, 0x8f, 0x98],
        TrayState::SettingsRejected => [0xe3, 0x8c, 0x00],
        TrayState::EngineUnreachable => [0xd0, 0x30, 0x30],
    }
}

/// The Tauri side: builds the tray, applies a [`TrayModel`] to it, routes the menu.
pub mod glue {
    use std::sync::Arc;

    use tauri::image::Image;
    use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
    use tauri::tray::{TrayIcon, TrayIconBuilder};
    use tauri::{AppHandle, Manager, Runtime};

    use super::{badge, colour, TrayModel, OPEN, PAUSE, QUIT, RESUME};
    use crate::state::AppState;

    pub const TRAY_ID: &str = "eci-guard";

    fn menu<R: Runtime>(app: &AppHandle<R>, model: &TrayModel) -> tauri::Result<Menu<R>> {
        let menu = Menu::new(app)?;
        for (i, item) in model.items.iter().enumerate() {
            menu.append(&MenuItem::with_id(
                app,
                item.id,
                &item.label,
                item.enabled,
                None::<&str>,
            )?)?;
            // The state line stands apart from the actions.
            if i == 0 {
                menu.append(&PredefinedMenuItem::separator(app)?)?;
            }
        }
        Ok(menu)
    }

    fn icon<R: Runtime>(app: &AppHandle<R>, model: &TrayModel) -> Option<Image<'static>> {
        let base = app.default_window_icon()?;
        let rgba = badge(
            base.rgba(),
            base.width(),
            base.height(),
            colour(model.state),
        );
        Some(Image::new_owned(rgba, base.width(), base.height()))
    }

    /// Creates the tray for `model`. Its menu's actions go to [`handle`].
    pub fn install<R: Runtime>(
        app: &AppHandle<R>,
        model: &TrayModel,
    ) -> tauri::Result<TrayIcon<R>> {
        let mut builder = TrayIconBuilder::with_id(TRAY_ID)
            .menu(&menu(app, model)?)
            .tooltip(&model.title)
            .on_menu_event(|app, event| handle(app, event.id().as_ref()));
        if let Some(icon) = icon(app, model) {
            builder = builder.icon(icon);
        }
        builder.build(app)
    }

    /// Shows `model` on the tray.
    pub fn apply<R: Runtime>(app: &AppHandle<R>, model: &TrayModel) -> tauri::Result<()> {
        let Some(tray) = app.tray_by_id(TRAY_ID) else {
            return Ok(());
        };
        tray.set_menu(Some(menu(app, model)?))?;
        tray.set_tooltip(Some(&model.title))?;
        tray.set_icon(icon(app, model))?;
        Ok(())
    }

    /// What a menu item does; the same as the commands behind the app's own buttons.
    pub fn handle<R: Runtime>(app: &AppHandle<R>, id: &str) {
        match id {
            OPEN => crate::show_main(app),
            PAUSE | RESUME => {
                let state = app.state::<Arc<AppState>>().inner().clone();
                let app = app.clone();
                let pause = id == PAUSE;
                tauri::async_runtime::spawn(async move {
                    let done = if pause {
                        state.pause(&app).await.map(|_| ())
                    } else {
                        state.resume(&app).await.map(|_| ())
                    };
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "the tray's {} failed", if pause { "pause" } else { "resume" });
                    }
                });
            }
            QUIT => app.exit(0),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eci_policy::settings::{Provenance, Source};

    fn status(edit: impl FnOnce(&mut eci_proxy::Status)) -> AppStatus {
        let mut enforcer = base_status();
        edit(&mut enforcer);
        AppStatus {
            enforcer: Some(enforcer),
            enforcer_error: None,
            attached_to: None,
            history: eci_history::Status {
                database: "/state/history.sqlite3".into(),
                healthy: true,
                recorded: 0,
                committed: 0,
                dropped: 0,
                lost: 0,
                pending: 0,
                last_error: None,
            },
            digests: Vec::new(),
            docker_host: "unix:///run/x.sock".into(),
        }
    }

    fn base_status() -> eci_proxy::Status {
        eci_proxy::Status {
            listening: Vec::new(),
            upstream: "/run/docker.sock".into(),
            upstream_reachable: true,
            engine_version: Some("26.1".into()),
            engine_api_version: Some("1.45".into()),
            settings: eci_proxy::SettingsPaths {
                admin: None,
                user: None,
            },
            eci_enabled: true,
            policy_version: "0011".into(),
            paused_until_ms: None,
            policy_provenance: Provenance::DEFAULT,
            last_reload: None,
            filtered_sockets: Vec::new(),
            digests: Vec::new(),
            protected: Vec::new(),
        }
    }

    fn ids(m: &TrayModel) -> Vec<(&str, bool)> {
        m.items.iter().map(|i| (i.id, i.enabled)).collect()
    }

    #[test]
    fn enforcing_offers_open_pause_and_quit() {
        let m = model(&status(|_| {}), 0);
        assert_eq!(m.state, TrayState::Enforcing);
        assert_eq!(m.title, "eci-guard: enforcing");
        assert_eq!(
            ids(&m),
            [(STATE, false), (OPEN, true), (PAUSE, true), (QUIT, true)]
        );
        assert_eq!(m.items[2].label, "Pause for 10 minutes");
    }

    #[test]
    fn attached_offers_no_pause_and_quit_leaves_the_daemon() {
        let mut attached = status(|_| {});
        attached.attached_to = Some("/run/eci-guard/control.sock".into());
        let m = model(&attached, 0);
        assert_eq!(m.state, TrayState::Enforcing);
        assert_eq!(ids(&m), [(STATE, false), (OPEN, true), (QUIT, true)]);
        assert_eq!(m.items[2].label, "Quit (eci-guard serve keeps enforcing)");
    }

    #[test]
    fn locked_settings_offer_no_pause() {
        let locked = Source::Admin { locked: true };
        let m = model(
            &status(|s| {
                s.policy_provenance = Provenance {
                    images: locked,
                    ..Provenance::DEFAULT
                }
            }),
            0,
        );
        assert_eq!(ids(&m), [(STATE, false), (OPEN, true), (QUIT, true)]);
        // An admin section that is not locked still lets users pause.
        let m = model(
            &status(|s| {
                s.policy_provenance = Provenance {
                    value: Source::Admin { locked: false },
                    ..Provenance::DEFAULT
                }
            }),
            0,
        );
        assert!(m.items.iter().any(|i| i.id == PAUSE && i.enabled));
    }

    #[test]
    fn a_pause_shows_the_minutes_left_and_offers_resume() {
        let m = model(
            &status(|s| {
                s.eci_enabled = false;
                s.paused_until_ms = Some(10 * 60_000);
            }),
            60_000 + 1,
        );
        assert_eq!(m.state, TrayState::Paused { until_ms: 600_000 });
        assert_eq!(m.title, "eci-guard: paused, enforcing again in 9 minutes");
        assert_eq!(
            ids(&m),
            [(STATE, false), (OPEN, true), (RESUME, true), (QUIT, true)]
        );
        let last = model(&status(|s| s.paused_until_ms = Some(600_000)), 599_000);
        assert!(last.title.ends_with("in 1 minute"), "{}", last.title);
    }

    #[test]
    fn eci_off_cannot_be_paused() {
        let m = model(&status(|s| s.eci_enabled = false), 0);
        assert_eq!(m.state, TrayState::EciOff);
        assert_eq!(m.title, "eci-guard: ECI off");
        assert!(m.items.iter().any(|i| i.id == PAUSE && !i.enabled));
    }

    #[test]
    fn rejected_settings_and_an_unreachable_engine_outrank_the_rest() {
        let rejected = eci_proxy::ReloadEvent {
            at: std::time::SystemTime::UNIX_EPOCH,
            outcome: eci_proxy::ReloadOutcome::Rejected {
                kept_version: "0011".into(),
                errors: Vec::new(),
            },
        };
        let m = model(
            &status(|s| {
                s.last_reload = Some(rejected.clone());
                s.paused_until_ms = Some(1);
            }),
            0,
        );
        assert_eq!(m.state, TrayState::SettingsRejected);
        assert!(m.title.contains("settings rejected"));
        let m = model(
            &status(|s| {
                s.upstream_reachable = false;
                s.last_reload = Some(rejected);
            }),
            0,
        );
        assert_eq!(m.state, TrayState::EngineUnreachable);
        let mut none = status(|_| {});
        none.enforcer = None;
        none.enforcer_error = Some("no engine socket".into());
        let m = model(&none, 0);
        assert_eq!(m.state, TrayState::EngineUnreachable);
        assert!(m.items.iter().any(|i| i.id == PAUSE && !i.enabled));
    }

    #[test]
    fn the_badge_colours_the_corner_only() {
        let (w, h) = (32u32, 32u32);
        let blank = vec![0u8; (w * h * 4) as usize];
        let out = badge(&blank, w, h, [1, 2, 3]);
        let px = |x: u32, y: u32| &out[((y * w + x) * 4) as usize..((y * w + x) * 4 + 4) as usize];
        assert_eq!(px(2, 2), [0, 0, 0, 0], "the top left is untouched");
        assert_eq!(px(w - 8, h - 8), [1, 2, 3, 255], "the dot's centre");
        assert_ne!(
            colour(TrayState::Enforcing),
            colour(TrayState::EngineUnreachable)
        );
    }
}
