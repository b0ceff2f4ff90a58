//! Every block an enforcer records, kept for the test to read (the blocks of the sweep at
//! connect come before any subscription could see them), and the checks made on them.

use std::sync::{Arc, Mutex};

use eci_e2e::Engine;
use eci_policy::decide::BlockKind;
use eci_proxy::{BlockEvent, BlockSink};

use super::{Guard, MOUNT_DENIED_TAIL};

#[derive(Default)]
pub struct Collect(Mutex<Vec<BlockEvent>>);

impl BlockSink for Collect {
    fn record(&self, block: &BlockEvent) {
        self.0.lock().unwrap().push(block.clone());
    }
}

impl Collect {
    /// Every block recorded so far, in order.
    pub fn all(&self) -> Vec<BlockEvent> {
        self.0.lock().unwrap().clone()
    }

    /// The blocks recorded about container `id`.
    pub fn about(&self, id: &str) -> Vec<BlockEvent> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b.path.contains(id))
            .cloned()
            .collect()
    }

    /// The one block recorded about container `id`; fails on none or more. The engine shows a
    /// container disarmed before the enforcer has read the engine's answer and recorded the
    /// block, so a block not there yet is waited for (a few seconds at most).
    pub fn only_block_about(&self, id: &str, case: &str) -> BlockEvent {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.about(id).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut blocks = self.about(id);
        assert_eq!(blocks.len(), 1, "{case}: {blocks:#?}");
        blocks.remove(0)
    }
}

/// The block is a socket-mount denial with the exact message tail.
pub fn assert_mount_denied(block: &BlockEvent) {
    assert_eq!(block.kind, BlockKind::SocketMount);
    assert!(
        block.message.ends_with(MOUNT_DENIED_TAIL),
        "{}",
        block.message
    );
}

/// The block's reason says every one of `parts`.
pub fn assert_reason_says(block: &BlockEvent, parts: &[&str], case: &str) {
    assert!(
        parts.iter().all(|p| block.reason.contains(p)),
        "{case}: {}",
        block.reason
    );
}

impl Guard {
    /// An enforcer in front of `engine` whose blocks are all kept in the returned sink.
    pub fn start_collecting_on(engine: &'static Engine, admin: &str) -> (Guard, Arc<Collect>) {
        let sink = Arc::new(Collect::default());
        let g = Guard::start_recording_on(engine, admin, sink.clone());
        (g, sink)
    }
}
