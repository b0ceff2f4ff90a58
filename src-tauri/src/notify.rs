//! Desktop notifications of blocks: which to raise ([`Grouper`], pure and unit-tested: at most one
//! per interval, the blocks in between folded into one "and K more") and the thin glue that shows
//! them through Tauri's notification plugin and opens the History entry a click names.

use std::time::{Duration, Instant};

/// At most one notification per this interval.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Event asking the UI to show one History entry (payload: its id).
pub const OPEN_BLOCK: &str = "app://open-block";

/// What a notification says about one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub id: i64,
    pub image: Option<String>,
    pub reason: String,
}

impl From<&eci_history::StoredBlock> for Blocked {
    fn from(b: &eci_history::StoredBlock) -> Blocked {
        Blocked {
            id: b.id,
            image: b.record.image.clone(),
            reason: b.record.reason.clone(),
        }
    }
}

/// One notification to show: about `block`, with `more` further blocks folded into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub block: Blocked,
    pub more: usize,
}

impl Note {
    pub fn title(&self) -> String {
        match &self.block.image {
            Some(image) => format!("eci-guard blocked {image}"),
            None => "eci-guard blocked a request".to_owned(),
        }
    }

    pub fn body(&self) -> String {
        match self.more {
            0 => self.block.reason.clone(),
            n => format!(
                "{}\nand {n} more block{} (see History)",
                self.block.reason,
                if n == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The rate limit: a block is shown at once when no notification was shown within the interval;
/// otherwise it is held, and the ones after it are counted, until the interval has passed.
#[derive(Debug)]
pub struct Grouper {
    interval: Duration,
    last_shown: Option<Instant>,
    held: Option<Note>,
}

impl Grouper {
    pub fn new(interval: Duration) -> Grouper {
        Grouper {
            interval,
            last_shown: None,
            held: None,
        }
    }

    /// A block at `now`: the note to show now, or `None` when it is held (see [`Grouper::due`]).
    pub fn push(&mut self, now: Instant, block: Blocked) -> Option<Note> {
        if let Some(held) = &mut self.held {
            held.more += 1;
            return None;
        }
        let note = Note { block, more: 0 };
        match self.last_shown {
            Some(last) if now < last + self.interval => {
                self.held = Some(note);
                None
            }
            _ => {
                self.last_shown = Some(now);
                Some(note)
            }
        }
    }

    /// When the held blocks may be shown; `None` when none are held.
    pub fn due(&self) -> Option<Instant> {
        self.held.as_ref()?;
        self.last_shown.map(|last| last + self.interval)
    }

    /// The note folding the held blocks, once they are due at `now`.
    pub fn flush(&mut self, now: Instant) -> Option<Note> {
        if self.due().is_some_and(|due| now >= due) {
            self.last_shown = Some(now);
            return self.held.take();
        }
        None
    }
}

/// The Tauri side: shows notes, and turns a click into the History entry.
pub mod glue {
    use std::sync::Arc;
    use std::time::Instant;

    use tauri::{AppHandle, Emitter, Manager, Runtime};
    use tauri_plugin_notification::{Notification, NotificationExt};
    use tokio_util::sync::CancellationToken;

    use super::{Blocked, Grouper, Note, INTERVAL, OPEN_BLOCK};
    use crate::state::AppState;

    const BLOCK_ID: &str = "blockId";

    fn show<R: Runtime>(app: &AppHandle<R>, note: &Note) {
        let shown = app
            .notification()
            .builder()
            .title(note.title())
            .body(note.body())
            .extra(BLOCK_ID, note.block.id)
            .show();
        match shown {
            Ok(()) => tracing::debug!(block = note.block.id, more = note.more, "notified"),
            Err(e) => tracing::warn!(error = %e, "cannot show a notification"),
        }
    }

    /// Raises notifications for the history's blocks until `shutdown`; a click on one shows the
    /// window on its History entry. Does nothing without the notification plugin.
    pub async fn run<R: Runtime>(
        state: Arc<AppState>,
        app: AppHandle<R>,
        shutdown: CancellationToken,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        if app.try_state::<Notification<R>>().is_none() {
            return;
        }
        let clicked = app.clone();
        let _ = app.notification().on_action(move |performed| {
            if performed.action_id() != "tap" {
                return;
            }
            let id = performed
                .notification()
                .and_then(|n| n.extra().get(BLOCK_ID))
                .and_then(serde_json::Value::as_i64);
            crate::show_main(&clicked);
            if let Some(id) = id {
                let _ = clicked.emit(OPEN_BLOCK, id);
            }
        });
        let mut blocks = state.history.subscribe();
        let mut grouper = Grouper::new(INTERVAL);
        loop {
            let due = grouper.due();
            tokio::select! {
                block = blocks.recv() => match block {
                    Ok(block) => {
                        if let Some(note) = grouper.push(Instant::now(), Blocked::from(&block)) {
                            show(&app, &note);
                        }
                    }
                    // Missed blocks are in the History; the next one is notified.
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                () = async {
                    match due {
                        Some(due) => tokio::time::sleep_until(due.into()).await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some(note) = grouper.flush(Instant::now()) {
                        show(&app, &note);
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(id: i64) -> Blocked {
        Blocked {
            id,
            image: Some(format!("team/app-{id}")),
            reason: format!("reason {id}"),
        }
    }

    #[test]
    fn the_first_block_is_shown_at_once_with_its_image_and_reason() {
        let mut g = Grouper::new(Duration::from_secs(10));
        let note = g.push(Instant::now(), block(1)).expect("shown at once");
        assert_eq!(note.title(), "eci-guard blocked team/app-1");
        assert_eq!(note.body(), "reason 1");
        assert_eq!(g.due(), None);
    }

    #[test]
    fn blocks_within_the_interval_fold_into_one_note_when_it_has_passed() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut g = Grouper::new(10 * s);
        assert!(g.push(t0, block(1)).is_some());
        assert_eq!(g.push(t0 + s, block(2)), None);
        assert_eq!(g.push(t0 + 2 * s, block(3)), None);
        assert_eq!(g.push(t0 + 3 * s, block(4)), None);
        assert_eq!(g.due(), Some(t0 + 10 * s));
        assert_eq!(g.flush(t0 + 9 * s), None, "not before the interval");
        let note = g.flush(t0 + 10 * s).expect("due");
        assert_eq!(note.block, block(2), "the first held block heads the note");
        assert_eq!(note.more, 2);
        assert_eq!(note.body(), "reason 2\nand 2 more blocks (see History)");
        assert_eq!(g.flush(t0 + 11 * s), None, "nothing twice");
        // The fold counts as shown: the next block within the interval is held again.
        assert_eq!(g.push(t0 + 12 * s, block(5)), None);
        let note = g.flush(t0 + 20 * s).unwrap();
        assert_eq!((note.block.id, note.more), (5, 0));
        assert_eq!(note.body(), "reason 5");
        // After a quiet interval a block is shown at once again.
        assert!(g.push(t0 + 31 * s, block(6)).is_some());
    }

    #[test]
    fn one_folded_block_reads_in_the_singular_and_no_image_is_said_so() {
        let note = Note {
            block: Blocked {
                id: 1,
                image: None,
                reason: "invalid request".into(),
            },
            more: 1,
        };
        assert_eq!(note.title(), "eci-guard blocked a request");
        assert_eq!(
            note.body(),
            "invalid request\nand 1 more block (see History)"
        );
    }
}
