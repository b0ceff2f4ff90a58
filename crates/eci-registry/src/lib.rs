//! eci-registry: the digests published in registries for the image list's entries — resolved,
//! refreshed, cached on disk — checked in memory per container, and probed live for the app/CLI.
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
//! 4. Per container create, with the engine's `GET /images/{name}/json` answer:
//!    `let image = LocalImage::from_inspect(&inspect.id, &inspect.repo_digests)?;` then
//!    `service.check_list(&policy_images, &image)` — in memory, lock-free, no network (see the
//!    `digests` bench). It returns [`ListCheck::Allowed`] (with the entry and the digest that
//!    proved it), [`ListCheck::Denied`] (with the entries whose digests are unknown and why:
//!    unreachable, not found, authentication required…, for the deny message), or
//!    [`ListCheck::NeedsVerification`] when a `name:*` entry needs the registry's word on one of
//!    the image's repo digests. For that last case call
//!    `service.check_list_verified(&policy_images, &image).await` instead, which asks once per
//!    digest and caches the answer; [`DigestService::check_list_verified`] is also the simplest
//!    correct single call for every case.
//! 5. The app's status view: `service.snapshot().entries()` gives, per entry, the digests, when
//!    they were fetched and the last error.
//!
//! Run the container by the checked image ID, not by its name, so a tag moved between the check
//! and the create changes nothing.
//!
//! # Probe
//!
//! [`probe`] (used by `eci-guard probe REF [--registries FILE] [--format json]` and the app):
//! `probe(reference, &registries, &cancel).await` returns a [`ProbeReport`] (`Serialize`,
//! [`ProbeReport::human`], [`ProbeReport::exit_code`]: 0 found, 1 not found/invalid,
//! 2 could not ask). Answers are kept [`PROBE_TTL`]; cancelling returns at once.

mod credentials;
mod digests;
mod failure;
mod fetch;
mod probe;
mod service;
mod settings;
mod store;

pub use credentials::CredentialSource;
pub use digests::{
    AnyTagAnswer, EntryCheck, EntryState, ImageDigests, ListCheck, LocalImage, Match,
    PlatformImage, Snapshot,
};
pub use failure::{Failure, FailureKind};
pub use fetch::Timeouts;
pub use probe::{probe, ProbeOutcome, ProbeReport, Prober, PROBE_TTL};
pub use service::{DigestService, RefreshReport, ServiceOptions};
pub use settings::{
    Endpoint, RegistryConfig, RegistrySettings, Scheme, SettingsError, HUB_CREDENTIAL_KEY,
    HUB_ENDPOINT,
};
pub use store::{StoreError, CACHE_FILE};
