//! One engine, one plain registry and the standard test images per test process, started on
//! first use and built at most once, for the many tests that only need something to pull.

use std::sync::OnceLock;

use crate::images::{push_image, push_index, ImageSpec, IndexFormat, Platform};
use crate::{Engine, PushedImage, PushedIndex, Registry, RegistryConfig};

/// The process-wide fixture returned by [`shared`]. Tests must not stop, kill or restart its
/// engine or registry; start a private [`Engine`] or [`Registry`] for that.
#[derive(Debug)]
pub struct Shared {
    engine: Engine,
    registry: Registry,
    busybox: OnceLock<PushedImage>,
    cli: OnceLock<PushedImage>,
    multi_platform: OnceLock<PushedIndex>,
}

/// The process-wide engine and plain registry, started on first call. Panics with the harness
/// error (which names any missing package) if they cannot start: a test that needs them cannot
/// run without them and must fail, not skip.
///
/// Statics are never dropped; the daemons die with the process (parent-death signal) and the
/// next run's janitor removes their directories.
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared {
        engine: Engine::start().unwrap_or_else(|e| panic!("starting the shared engine: {e}")),
        registry: Registry::start(RegistryConfig::plain())
            .unwrap_or_else(|e| panic!("starting the shared registry: {e}")),
        busybox: OnceLock::new(),
        cli: OnceLock::new(),
        multi_platform: OnceLock::new(),
    })
}

impl Shared {
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A plain-HTTP registry; every engine can pull from it without setup.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// `eci-e2e/busybox:latest`: busybox only, the host's platform.
    pub fn busybox(&self) -> &PushedImage {
        self.busybox
            .get_or_init(|| self.push(ImageSpec::new("busybox"), "eci-e2e/busybox", "latest"))
    }

    /// `eci-e2e/cli:latest`: busybox plus the static docker CLI at
    /// [`crate::images::DOCKER_CLI_PATH`].
    pub fn cli(&self) -> &PushedImage {
        self.cli.get_or_init(|| {
            self.push(
                ImageSpec::new("cli").with_docker_cli(),
                "eci-e2e/cli",
                "latest",
            )
        })
    }

    /// `eci-e2e/multi:latest`: an OCI index over `eci-e2e/multi:amd64` (linux/amd64) and
    /// `eci-e2e/multi:arm64` (linux/arm64/v8).
    pub fn multi_platform(&self) -> &PushedIndex {
        self.multi_platform.get_or_init(|| {
            let amd64 = self.push(
                ImageSpec::new("multi").platform(Platform::linux_amd64()),
                "eci-e2e/multi",
                "amd64",
            );
            let arm64 = self.push(
                ImageSpec::new("multi").platform(Platform::linux_arm64()),
                "eci-e2e/multi",
                "arm64",
            );
            push_index(
                &self.registry,
                "eci-e2e/multi",
                "latest",
                &[&amd64, &arm64],
                IndexFormat::Oci,
            )
            .unwrap_or_else(|e| panic!("pushing eci-e2e/multi:latest: {e}"))
        })
    }

    fn push(&self, spec: ImageSpec, repository: &str, tag: &str) -> PushedImage {
        push_image(&self.engine, &self.registry, &spec, repository, tag)
            .unwrap_or_else(|e| panic!("pushing {repository}:{tag}: {e}"))
    }
}
