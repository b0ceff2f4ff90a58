//! eci-registry: the digests published in registries for the image list's entries — resolved,
//! refreshed, cached on disk, read in memory as the image decision's facts — and probed live for
//! the app/CLI.
//!
//! A name alone proves nothing: what makes an image allowed is that the engine's image is one the
//! registry publishes under the allowed name (SPEC §2).
//!
//! # How the enforcer uses it
//!
//! 1. At start: `let service = DigestService::open(ServiceOptions { registries, ..
//!    ServiceOptions::new(state_dir) })`. This reads the disk cache ([`CACHE_FILE`]) and touches
//!    no network, so an offline restart keeps the last digests fetched.
//! 2. Spawn `service.clone().run_refresher(cancel)`: it fetches pending entries as soon as they
//!    appear and every entry every 5 minutes ± 10 % (bounded concurrency, each request bounded
//!    as a whole by [`Timeouts::request`]). A refresh asks one `HEAD` per entry and reads an
//!    index and its platform manifests again only when the digest moved. Unreachable, timeout,
//!    TLS or auth failures keep the last digests; "not found" drops them (fail closed).
//! 3. On every policy swap (the first included): `service.set_entries(&policy_images)`. It never
//!    waits for registries: entries it had not seen become pending and the refresher fetches
//!    them; entries dropped from the policy are forgotten.
//! 4. Per decision: the snapshot is the registry facts of eci-policy's pure image decision
//!    (`impl DigestFacts for Snapshot`): `eci_policy::decide::image_verdict(&policy, &image,
//!    &bases, &*service.snapshot())` — in memory, lock-free, no network (see the `digests`
//!    bench). Deciding is eci-policy's alone; this crate only says what the registries publish.
//!    Before it, for `name:*` and `ns/*:*` entries, `service.verify_any_tags(&policy.images,
//!    &image.repo_digests).await` asks the registry once per repo digest they cover and caches
//!    the answer; what could not be asked is returned, and the decision reports it unavailable.
//! 5. The app's status view: `service.snapshot().entries()` gives, per entry, the digests, when
//!    they were fetched and the last error.
//!
//! The enforcer runs the container by the checked image ID, not by its name, so a tag moved
//! between the check and the create changes nothing.
//!
//! # Probe
//!
//! [`probe`] (used by `eci-guard probe REF [--registries FILE] [--format json]` and the app):
//! `probe(reference, &registries, &cancel).await` returns a [`ProbeReport`] (`Serialize`,
//! [`ProbeReport::human`], [`ProbeReport::exit_code`]: 0 found, 1 not found/invalid,
//! 2 could not ask). Answers are kept [`PROBE_TTL`]; cancelling returns at once.

mod credentials;
mod digests;
mod facts;
mod failure;
mod fetch;
mod probe;
mod service;
mod settings;
mod store;

pub use credentials::CredentialSource;
pub use digests::{AnyTagAnswer, EntryState, ImageDigests, PlatformImage, Snapshot};
pub use failure::{Failure, FailureKind};
pub use fetch::Timeouts;
pub use probe::{probe, ProbeOutcome, ProbeReport, Prober, PROBE_TTL};
pub use service::{DigestService, RefreshReport, ServiceOptions};
pub use settings::{
    Endpoint, RegistryConfig, RegistrySettings, Scheme, SettingsError, HUB_CREDENTIAL_KEY,
    HUB_ENDPOINT,
};
pub use store::{StoreError, CACHE_FILE};
