//! End-to-end harness: starts the real parts (a private Docker Engine, loopback registries) and
//! builds busybox test images on them, so suites can drive the real `docker` CLI against them.
//!
//! # Parts
//!
//! * [`Engine`] — Debian's `dockerd` on its own temp dir (`/tmp/eci-e2e-XXXXXX`): own data root,
//!   exec root, pid file, socket, containerd, `--bridge=none --iptables=false`. It runs in its own
//!   pid, mount and network namespaces, so `/etc/docker` (and with it `certs.d`) is private to the
//!   engine, its mounts never leak to the host, it changes nothing of the host's network (in the
//!   host's namespace `--bridge=none` deletes the host's `docker0`), and killing the namespace
//!   ends every process it started.
//!   [`Engine::docker`] gives a `std::process::Command` for the real CLI with `DOCKER_HOST` and a
//!   private `DOCKER_CONFIG`.
//! * [`Registry`] — Debian's `docker-registry` on `127.0.0.1:PORT` with a per-run config and
//!   storage; [`RegistryConfig::plain`] (HTTP, anonymous) or [`RegistryConfig::tls_with_auth`]
//!   (a fresh self-signed CA, a server certificate with `basicConstraints=CA:FALSE` and
//!   `IP:127.0.0.1`, htpasswd basic auth with [`Registry::credentials`]). It can be stopped and
//!   started again on the same port and storage.
//! * [`images`] — `FROM scratch` images holding the static busybox (optionally the static docker
//!   CLI), built on an engine and pushed to a registry ([`push_image`]), and multi-platform
//!   indexes assembled over the registry API ([`push_index`]), with every digest exposed.
//! * [`shared`] — one engine, one plain registry and the standard images per test process, built
//!   lazily and once.
//!
//! # Example
//!
//! ```no_run
//! use eci_e2e::{push_image, shared, Engine, ImageSpec, Registry, RegistryConfig};
//!
//! // Something to pull, built once per process.
//! let image = shared().busybox();
//! // A private engine for this test, free to restart or kill.
//! let engine = Engine::start()?;
//! engine.run_docker(["run", "--rm", "--network", "none", &image.pinned_reference(), "true"])?;
//!
//! // A registry that needs TLS and a login.
//! let registry = Registry::start(RegistryConfig::tls_with_auth())?;
//! engine.login(&registry)?;
//! let pushed = push_image(&engine, &registry, &ImageSpec::new("mine"), "team/mine", "1")?;
//! assert_eq!(registry.manifest("team/mine", "1")?.digest, pushed.manifest_digest);
//! # Ok::<(), eci_e2e::HarnessError>(())
//! ```
//!
//! # Lifetimes and cleanup
//!
//! Every daemon is spawned with `setpriv --pdeathsig KILL` from a thread that lives as long as the
//! process, so it dies with the test process even when nothing is dropped (statics, a panic in
//! another thread, a killed `cargo test`). Dropping an [`Engine`] or [`Registry`] kills it and
//! removes its directory; directories left by dead processes are removed by the next harness run.
//!
//! # Prerequisites
//!
//! Root, and the Debian packages `docker.io` (with `containerd`, `runc`, `tini`),
//! `docker-registry`, `busybox-static`, `util-linux`. A missing one is an error naming the
//! package, never a skipped test. The docker CLI is `$ECI_E2E_DOCKER_CLI`, else
//! `/usr/local/bin/docker`, else `docker` on `PATH`; images that carry the CLI need it static.
//!
//! # What differs from a system engine
//!
//! * Pids the engine reports (`State.Pid`) are in its pid namespace, not the host's; peer
//!   credentials seen on host sockets are host pids.
//! * The engine sees the host's file system (bind sources, sockets created later, mounts made
//!   later) except `/etc/docker` and `/run/containerd`, which are its own.
//! * The engine's network namespace holds only `lo`; each [`Registry`] of the test process is
//!   reachable in it on its own `127.0.0.1:PORT`, relayed to the host by the harness. A container
//!   on `--network host` shares the engine's namespace, not the host's.
//! * moby treats `127.0.0.0/8` as an insecure registry range: it pushes to and pulls from the
//!   harness registries over plain HTTP and skips certificate checks on the TLS ones.
//! * After [`Engine::kill`] the socket file stays, refusing connections, as after a crash.
//!
//! # Blocking
//!
//! Every call blocks (they start processes and wait for them). All handles are `Send + Sync` and
//! take `&self`, so async suites can share them in an `Arc` and call them from
//! `tokio::task::spawn_blocking`.

mod engine;
mod error;
pub mod host;
pub mod images;
mod netns;
mod process;
mod registry;
pub mod serve;
mod shared;

pub use engine::{Engine, EngineConfig};
pub use error::HarnessError;
pub use images::{
    build_image, push_image, push_index, ImageSpec, IndexFormat, Platform, PushedImage, PushedIndex,
};
pub use registry::{Credentials, Manifest, Registry, RegistryConfig};
pub use shared::{shared, Shared};

/// Result of every harness operation.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;
