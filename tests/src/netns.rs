//! The engines' private network namespaces and the host loopback ports they reach through them.
//!
//! An engine in the host's network namespace changes the host's network (with `--bridge=none`
//! dockerd deletes the host's `docker0`, and a system engine's containers no longer start). So
//! each engine gets a network namespace of its own, holding only `lo`. What it must reach on the
//! host's loopback — the registries — is forwarded: a listener is created on `127.0.0.1:PORT`
//! inside the namespace (a socket keeps the namespace it was made in, so only the thread that
//! makes it enters the namespace) and relays each connection to the same port on the host.
//! Every port published here is forwarded into every namespace registered here, whichever is
//! made first.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};

use crate::{HarnessError, Result};

/// Host loopback ports every engine reaches (the registries'), and the live namespaces.
/// Lock order: `PORTS` before `NAMESPACES`.
static PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
static NAMESPACES: Mutex<Vec<Weak<NetNamespace>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes `127.0.0.1:port` of the host reachable as `127.0.0.1:port` inside every engine's
/// namespace, until the returned handle is dropped.
pub(crate) fn publish(port: u16) -> Result<Published> {
    let mut ports = lock(&PORTS);
    ports.insert(port);
    let namespaces = lock(&NAMESPACES);
    for ns in namespaces.iter().filter_map(Weak::upgrade) {
        ns.forward(port)?;
    }
    Ok(Published(port))
}

/// A published port; dropping it ends its forwarders.
#[derive(Debug)]
pub(crate) struct Published(u16);

impl Drop for Published {
    fn drop(&mut self) {
        lock(&PORTS).remove(&self.0);
        for ns in lock(&NAMESPACES).iter().filter_map(Weak::upgrade) {
            if let Some(forward) = lock(&ns.forwards).remove(&self.0) {
                forward.stop();
            }
        }
    }
}

/// A process's network namespace with the published ports forwarded into it. Dropping it ends
/// the forwarders, so nothing of this process keeps the namespace alive.
#[derive(Debug)]
pub(crate) struct NetNamespace {
    /// `/proc/PID/ns/net`, open: the namespace stays the same even if the process ends.
    ns: File,
    forwards: Mutex<HashMap<u16, Forward>>,
}

impl NetNamespace {
    /// The network namespace of process `pid`, with every published port forwarded into it.
    pub(crate) fn of_process(pid: u32) -> Result<Arc<NetNamespace>> {
        let path = format!("/proc/{pid}/ns/net");
        let ns = Arc::new(NetNamespace {
            ns: File::open(&path).map_err(HarnessError::io(format!("opening {path}")))?,
            forwards: Mutex::new(HashMap::new()),
        });
        let ports = lock(&PORTS);
        for &port in ports.iter() {
            ns.forward(port)?;
        }
        let mut namespaces = lock(&NAMESPACES);
        namespaces.retain(|w| w.strong_count() > 0);
        namespaces.push(Arc::downgrade(&ns));
        Ok(ns)
    }

    fn forward(&self, port: u16) -> Result<()> {
        let mut forwards = lock(&self.forwards);
        if forwards.contains_key(&port) {
            return Ok(());
        }
        let listener = self.bind_inside(port)?;
        forwards.insert(port, Forward::start(listener, port)?);
        Ok(())
    }

    /// Binds `127.0.0.1:port` inside the namespace, from a thread that enters it and ends.
    fn bind_inside(&self, port: u16) -> Result<TcpListener> {
        let ns = self
            .ns
            .try_clone()
            .map_err(HarnessError::io("duplicating the namespace handle"))?;
        thread::spawn(move || -> io::Result<TcpListener> {
            rustix::thread::move_into_link_name_space(
                ns.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            TcpListener::bind(("127.0.0.1", port))
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the binding thread panicked")))
        .map_err(HarnessError::io(format!(
            "binding 127.0.0.1:{port} in the engine's network namespace"
        )))
    }
}

impl Drop for NetNamespace {
    fn drop(&mut self) {
        for (_, forward) in lock(&self.forwards).drain() {
            forward.stop();
        }
    }
}

/// One forwarded port: an accept loop in the namespace, relaying to the host.
#[derive(Debug)]
struct Forward {
    listener: Arc<TcpListener>,
    accepts: JoinHandle<()>,
}

impl Forward {
    fn start(listener: TcpListener, port: u16) -> Result<Forward> {
        let listener = Arc::new(listener);
        let accepting = listener.clone();
        let accepts = thread::Builder::new()
            .name(format!("netns-fwd-{port}"))
            .spawn(move || {
                // Ends when `stop` shuts the listener down: accept then fails.
                while let Ok((inside, _)) = accepting.accept() {
                    // A registry that is stopped refuses the host connection; the engine then
                    // sees its connection closed at once, as good as refused.
                    if let Ok(host) = TcpStream::connect(("127.0.0.1", port)) {
                        relay(inside, host);
                    }
                }
            })
            .map_err(HarnessError::io("spawning a forwarder"))?;
        Ok(Forward { listener, accepts })
    }

    fn stop(self) {
        // On Linux, shutting a listening socket down wakes a blocked accept with an error.
        let _ = rustix::net::shutdown(&*self.listener, rustix::net::Shutdown::Both);
        let _ = self.accepts.join();
    }
}

/// Copies both ways until each side has finished sending, passing each half-close on.
fn relay(a: TcpStream, b: TcpStream) {
    let pairs = [
        (a.try_clone(), b.try_clone()),
        (b.try_clone(), a.try_clone()),
    ];
    for (from, to) in pairs {
        let (Ok(mut from), Ok(mut to)) = (from, to) else {
            continue;
        };
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        });
    }
}
