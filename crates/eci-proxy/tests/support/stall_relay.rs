//! A relay of the engine's socket that can be held: while held, every new connection through it
//! waits before it reaches the engine, while connections already open (the enforcer's event
//! stream, a client's kept-alive connection) go on. It stands for an engine that is slow to
//! answer the enforcer's own questions, so a test can stall a check at will.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

pub struct StallRelay {
    path: PathBuf,
    held: Arc<(Mutex<bool>, Condvar)>,
    _dir: tempfile::TempDir,
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
        let engine = engine.to_path_buf();
        let gate = held.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let engine = engine.clone();
                let gate = gate.clone();
                thread::spawn(move || {
                    let (lock, cvar) = &*gate;
                    let mut h = lock.lock().unwrap();
                    while *h {
                        h = cvar.wait(h).unwrap();
                    }
                    drop(h);
                    if let Ok(upstream) = UnixStream::connect(&engine) {
                        splice(client, upstream);
                    }
                });
            }
        });
        StallRelay {
            path,
            held,
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
}

impl Drop for StallRelay {
    fn drop(&mut self) {
        self.release();
    }
}

/// Copies both ways until each side ends, passing half-closes on.
fn splice(a: UnixStream, b: UnixStream) {
    let (a2, b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let one = thread::spawn(move || copy(a, b2));
    copy(b, a2);
    let _ = one.join();
}

fn copy(mut from: UnixStream, mut to: UnixStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
