//! A relay of the engine's socket that can be held: while held, every new connection through it
//! waits before it reaches the engine, and so does every question of the enforcer's own on a
//! kept-alive connection (its requests carry `User-Agent: eci-guard`), while other connections
//! already open (the enforcer's event stream, a client's kept-alive connection) go on. It stands
//! for an engine that is slow to answer the enforcer's own questions, so a test can stall a check
//! at will. The engine's event stream can be held apart (the events wait in the relay), and what
//! it carried is kept for the test to read.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

pub struct StallRelay {
    path: PathBuf,
    held: Arc<(Mutex<bool>, Condvar)>,
    events: Arc<Events>,
    _dir: tempfile::TempDir,
}

/// The engine's event streams through the relay: held or not, and what they carried.
#[derive(Default)]
struct Events {
    held: (Mutex<bool>, Condvar),
    carried: Mutex<Vec<u8>>,
}

impl StallRelay {
    /// Relays `relay.sock` in a new temporary directory to `engine`.
    pub fn start(engine: &Path) -> StallRelay {
        let dir = tempfile::Builder::new()
            .prefix("ecirelay")
            .tempdir_in("/tmp")
            .unwrap();
        let path = dir.path().join("relay.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let held = Arc::new((Mutex::new(false), Condvar::new()));
        let events = Arc::new(Events::default());
        let engine = engine.to_path_buf();
        let gate = held.clone();
        let streams = events.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let engine = engine.clone();
                let gate = gate.clone();
                let events = streams.clone();
                thread::spawn(move || {
                    let (lock, cvar) = &*gate;
                    let mut h = lock.lock().unwrap();
                    while *h {
                        h = cvar.wait(h).unwrap();
                    }
                    drop(h);
                    if let Ok(upstream) = UnixStream::connect(&engine) {
                        splice(client, upstream, gate.clone(), events);
                    }
                });
            }
        });
        StallRelay {
            path,
            held,
            events,
            _dir: dir,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// New connections wait from now on.
    pub fn hold(&self) {
        *self.held.0.lock().unwrap() = true;
    }

    /// Waiting connections go on, and new ones pass.
    pub fn release(&self) {
        *self.held.0.lock().unwrap() = false;
        self.held.1.notify_all();
    }

    /// The engine's events wait in the relay from now on.
    pub fn hold_events(&self) {
        *self.events.held.0.lock().unwrap() = true;
    }

    /// The events that waited go on, and new ones pass.
    pub fn release_events(&self) {
        *self.events.held.0.lock().unwrap() = false;
        self.events.held.1.notify_all();
    }

    /// What the engine's event streams have carried to the enforcer so far.
    pub fn events_carried(&self) -> String {
        String::from_utf8_lossy(&self.events.carried.lock().unwrap()).into_owned()
    }
}

impl Drop for StallRelay {
    fn drop(&mut self) {
        self.release();
    }
}

/// Copies both ways until each side ends, passing half-closes on; the enforcer's own questions
/// wait at `gate` while it is held, and an event stream's answer at `events`.
fn splice(a: UnixStream, b: UnixStream, gate: Arc<(Mutex<bool>, Condvar)>, events: Arc<Events>) {
    let (a2, b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let is_events = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asked = is_events.clone();
    let one = thread::spawn(move || copy(a, b2, Gate::Questions(gate, asked)));
    copy(b, a2, Gate::Events(events, is_events));
    let _ = one.join();
}

/// What a copy waits at.
enum Gate {
    /// The enforcer's own questions wait while held; an events request is noted.
    Questions(
        Arc<(Mutex<bool>, Condvar)>,
        Arc<std::sync::atomic::AtomicBool>,
    ),
    /// The answer of a connection that asked for the events waits while they are held, and is
    /// kept.
    Events(Arc<Events>, Arc<std::sync::atomic::AtomicBool>),
}

fn wait_while_held((lock, cvar): &(Mutex<bool>, Condvar)) {
    let mut h = lock.lock().unwrap();
    while *h {
        h = cvar.wait(h).unwrap();
    }
}

fn copy(mut from: UnixStream, mut to: UnixStream, gate: Gate) {
    use std::sync::atomic::Ordering;
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let bytes = &buf[..n];
                match &gate {
                    Gate::Questions(held, is_events) => {
                        if bytes.starts_with(b"GET /events") {
                            is_events.store(true, Ordering::SeqCst);
                        }
                        if own_question(bytes) {
                            wait_while_held(held);
                        }
                    }
                    Gate::Events(events, is_events) if is_events.load(Ordering::SeqCst) => {
                        wait_while_held(&events.held);
                        events.carried.lock().unwrap().extend_from_slice(bytes);
                    }
                    Gate::Events(..) => {}
                }
                if to.write_all(bytes).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Whether these bytes hold a request the enforcer asks for itself.
fn own_question(bytes: &[u8]) -> bool {
    let needle = format!("user-agent: {}\r\n", eci_proxy::OWN_USER_AGENT);
    bytes
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

impl super::Guard {
    /// An enforcer in front of `engine` through a relay the test can hold, with its blocks
    /// collected. The relay is created first, so the guard (dropped first) never outlives it.
    pub fn start_held(
        engine: &'static eci_e2e::Engine,
        admin: &str,
    ) -> (StallRelay, super::Guard, Arc<super::Collect>) {
        let relay = StallRelay::start(engine.socket_path());
        let collect = Arc::new(super::Collect::default());
        let guard = super::Guard::start_via(
            engine,
            relay.path(),
            admin,
            Arc::new(super::PushedDigests::of_shared_images()),
            Some(collect.clone()),
        );
        (relay, guard, collect)
    }
}

/// How long after `since` the engine reports container `name` not running (polled every 20 ms
/// for up to 20 s); `None` when it kept running.
pub fn stopped_since(
    engine: &eci_e2e::Engine,
    name: &str,
    since: std::time::Instant,
) -> Option<std::time::Duration> {
    while since.elapsed() < std::time::Duration::from_secs(20) {
        if super::inspect_container(engine, name)?["State"]["Running"] != true {
            return Some(since.elapsed());
        }
        thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}
