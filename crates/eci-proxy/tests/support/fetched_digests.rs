//! Digests fetched from a real registry by eci-registry's digest service, as the product gets
//! them, for an enforcer in front of the engine.

use std::sync::Arc;

use eci_e2e::Engine;
use eci_proxy::RegistryDigests;
use eci_registry::{DigestService, RegistrySettings, ServiceOptions};

use super::Guard;

/// A digest service with a state directory of its own, reaching one registry over plain HTTP.
pub struct FetchedDigests {
    pub registries: RegistrySettings,
    pub service: DigestService,
    pub digests: Arc<RegistryDigests>,
    _state: tempfile::TempDir,
}

impl FetchedDigests {
    /// For the registry at `addr` (host:port), marked insecure.
    pub fn insecure(addr: &str) -> FetchedDigests {
        let registries =
            RegistrySettings::from_json(&format!(r#"{{"{addr}": {{"insecure": true}}}}"#)).unwrap();
        let state = tempfile::tempdir().unwrap();
        let service = DigestService::open(ServiceOptions {
            registries: registries.clone(),
            ..ServiceOptions::new(state.path())
        });
        let digests = Arc::new(RegistryDigests::new(service.clone()));
        FetchedDigests {
            registries,
            service,
            digests,
            _state: state,
        }
    }
}

impl Guard {
    /// An enforcer in front of `engine` deciding by `fetched`, once every digest its settings
    /// name has been fetched without a failure.
    pub fn start_fetched(engine: &'static Engine, admin: &str, fetched: &FetchedDigests) -> Guard {
        let g = Guard::start_with(engine, admin, fetched.digests.clone(), None);
        let report = g.rt.block_on(fetched.service.refresh_pending());
        assert_eq!(report.failures().count(), 0, "{admin}: {report:?}");
        g
    }
}
