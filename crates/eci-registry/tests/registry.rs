//! eci-registry against the real parts: Debian's docker-registry on loopback (plain, and TLS with
//! htpasswd) holding busybox images built and pushed by a private dockerd, whose own `inspect`
//! gives the local image facts the enforcer would see.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use eci_e2e::images::{push_image, ImageSpec, PushedImage};
use eci_e2e::{build_image, shared, Engine, Registry, RegistryConfig};
use eci_policy::decide::{
    image_verdict, AnyTagFact, DigestFacts, EntryDigests, ImageFacts, ImageVerdict,
};
use eci_policy::reference::{ImageEntry, Reference};
use eci_policy::settings::Policy;
use eci_registry::{
    CredentialSource, DigestService, FailureKind, ProbeOutcome, Prober, RegistrySettings,
    ServiceOptions, Snapshot, Timeouts, PROBE_TTL,
};
use tokio_util::sync::CancellationToken;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn entry(s: &str) -> ImageEntry {
    ImageEntry::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Plain HTTP for `registry`, as the settings file would say it.
fn insecure(registry: &Registry) -> RegistrySettings {
    RegistrySettings::from_json(&format!(
        r#"{{"{}": {{"insecure": true}}}}"#,
        registry.addr()
    ))
    .unwrap()
}

fn short_timeouts() -> Timeouts {
    Timeouts {
        request: Duration::from_secs(5),
        connect: Duration::from_secs(2),
    }
}

fn service(
    state_dir: &Path,
    registries: RegistrySettings,
    credentials: CredentialSource,
) -> DigestService {
    DigestService::open(ServiceOptions {
        registries,
        credentials,
        timeouts: short_timeouts(),
        ..ServiceOptions::new(state_dir)
    })
}

/// What the enforcer learns from the engine for an image asked for by `name`: `docker image
/// inspect`'s `Id`, `RepoDigests` and layers.
fn inspect(engine: &Engine, name: &str) -> ImageFacts {
    let out = engine
        .run_docker(["image", "inspect", "--format", "{{json .}}", name])
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    ImageFacts {
        name: name.to_owned(),
        id: json["Id"].as_str().unwrap().to_owned(),
        repo_digests: strings(&json["RepoDigests"]),
        layers: strings(&json["RootFS"]["Layers"]),
    }
}

/// The enforcer's image decision under an image list of `entries`, the snapshot as its facts.
fn verdict(snapshot: &Snapshot, entries: &[ImageEntry], image: &ImageFacts) -> ImageVerdict {
    let policy = Policy {
        images: entries.to_vec(),
        ..Policy::default()
    };
    image_verdict(&policy, image, &[], snapshot)
}

/// As the enforcer decides: the registry asked first about the image's digests that `name:*`
/// and `ns/*:*` entries cover (its `prepare`), then the decision. Whatever could not be asked
/// must fail with `fails` (none when `None`).
fn decide_verified(
    rt: &tokio::runtime::Runtime,
    service: &DigestService,
    entries: &[ImageEntry],
    image: &ImageFacts,
    fails: Option<FailureKind>,
) -> ImageVerdict {
    let failed = rt.block_on(service.verify_any_tags(entries, &image.repo_digests));
    let kinds: Vec<FailureKind> = failed.iter().map(|(_, _, f)| f.kind).collect();
    assert_eq!(kinds, Vec::from_iter(fails), "{failed:?}");
    verdict(&service.snapshot(), entries, image)
}

fn allowed(entry: &ImageEntry) -> ImageVerdict {
    ImageVerdict::Allowed {
        entry: entry.to_string(),
        derived_from: None,
    }
}

fn denied() -> ImageVerdict {
    ImageVerdict::Denied { unavailable: None }
}

/// Denied because `entry`'s digests are unknown, saying why.
fn unverified(entry: &ImageEntry, why: &str) -> ImageVerdict {
    ImageVerdict::Denied {
        unavailable: Some((entry.to_string(), why.to_owned())),
    }
}

/// Why the snapshot has no digests for `entry`, as the decision says it.
fn why_unknown(service: &DigestService, entry: &ImageEntry) -> String {
    service
        .snapshot()
        .entry(entry)
        .unwrap()
        .unknown_reason()
        .to_string()
}

/// What the decision says of a `name:*` digest the registry was not asked about.
const NOT_ASKED: &str = "the registry could not be asked whether it publishes this digest";

/// Whether the image's own config is one the entry's registry publishes (allowed by its ID).
fn published_config(snapshot: &Snapshot, entry: &ImageEntry, image: &ImageFacts) -> bool {
    matches!(snapshot.entry_digests(entry), EntryDigests::Known { configs, .. } if configs.contains(&image.id))
}

/// The snapshot's answer for `reference`'s repository at `manifest` and the image's ID: what a
/// `name:*` entry is allowed by.
fn any_tag_fact(snapshot: &Snapshot, reference: &str, manifest: &str, id: &str) -> AnyTagFact {
    let repo = Reference::parse_normalized(reference)
        .unwrap()
        .into_repository();
    snapshot.any_tag(&repo, &manifest.parse().unwrap(), id)
}

/// A small image in another repository of the shared registry, pushed once per test process.
fn other() -> &'static PushedImage {
    static OTHER: OnceLock<PushedImage> = OnceLock::new();
    OTHER.get_or_init(|| {
        let s = shared();
        push_image(
            s.engine(),
            s.registry(),
            &ImageSpec::new("other"),
            "eci-e2e/other",
            "1",
        )
        .unwrap()
    })
}

fn failure_kind(service: &DigestService, e: &ImageEntry) -> Option<FailureKind> {
    service
        .snapshot()
        .entry(e)
        .and_then(|s| s.last_error.as_ref().map(|f| f.kind))
}

#[test]
fn tags_indexes_and_pins_resolve_to_the_published_digests() {
    let s = shared();
    let busybox = s.busybox();
    let multi = s.multi_platform();
    let cli = other();
    let addr = s.registry().addr();
    let dir = tempfile::tempdir().unwrap();
    let service = service(
        dir.path(),
        insecure(s.registry()),
        CredentialSource::Anonymous,
    );

    let tag = entry(&busybox.reference());
    let index = entry(&multi.reference());
    let pinned_index = entry(&multi.pinned_reference());
    // other's manifest exists in the registry, but in another repository.
    let foreign_pin = entry(&format!("{addr}/eci-e2e/busybox@{}", cli.manifest_digest));
    let missing_tag = entry(&format!("{addr}/eci-e2e/busybox:no-such-tag"));
    let missing_repo = entry(&format!("{addr}/eci-e2e/no-such-repo:latest"));
    let entries = vec![
        tag.clone(),
        index.clone(),
        pinned_index.clone(),
        foreign_pin.clone(),
        missing_tag.clone(),
        missing_repo.clone(),
    ];
    assert_eq!(service.set_entries(&entries).len(), entries.len());
    let report = runtime().block_on(service.refresh_pending());
    assert_eq!(report.results.len(), entries.len());
    assert_eq!(report.save_error, None);

    let snapshot = service.snapshot();
    let got = snapshot.entry(&tag).unwrap().digests.clone().unwrap();
    assert_eq!(got.digest.to_string(), busybox.manifest_digest);
    assert_eq!(got.images.len(), 1);
    assert_eq!(got.images[0].config.to_string(), busybox.config_digest);

    for e in [&index, &pinned_index] {
        let got = snapshot.entry(e).unwrap().digests.clone().unwrap();
        assert_eq!(got.digest.to_string(), multi.digest, "{e}");
        assert_eq!(got.media_type, multi.media_type, "{e}");
        let platforms: Vec<(Option<String>, String, String)> = got
            .images
            .iter()
            .map(|i| {
                (
                    i.platform.clone(),
                    i.manifest.to_string(),
                    i.config.to_string(),
                )
            })
            .collect();
        let want: Vec<(Option<String>, String, String)> = multi
            .images
            .iter()
            .map(|i| {
                (
                    Some(i.spec.platform.to_string()),
                    i.manifest_digest.clone(),
                    i.config_digest.clone(),
                )
            })
            .collect();
        assert_eq!(platforms, want, "{e}");
    }
    for e in [&foreign_pin, &missing_tag, &missing_repo] {
        assert_eq!(
            failure_kind(&service, e),
            Some(FailureKind::NotFound),
            "{e}"
        );
        assert!(snapshot.entry(e).unwrap().digests.is_none(), "{e}");
    }

    // The engine's view of the pushed images.
    let engine = s.engine();
    let busybox_local = inspect(engine, &busybox.reference());
    let cli_local = inspect(engine, &cli.reference());
    let one = std::slice::from_ref;
    assert_eq!(verdict(&snapshot, one(&tag), &busybox_local), allowed(&tag));
    assert!(published_config(&snapshot, &tag, &busybox_local));
    // A platform image pulled through the index is allowed by the index entry.
    let amd64_local = inspect(engine, &multi.images[0].reference());
    assert_eq!(
        verdict(&snapshot, one(&index), &amd64_local),
        allowed(&index)
    );
    assert_eq!(verdict(&snapshot, one(&tag), &cli_local), denied());
    // cli is in none of the entries.
    assert_eq!(verdict(&snapshot, &entries, &cli_local), denied());
    // Pinning another repository's digest allows nothing, not even that image asked for under
    // the pinned repository: the pin stays unverified, and the denial says why.
    let under_pin = format!("{addr}/eci-e2e/busybox:foreign-pin");
    engine
        .run_docker(["tag", &cli.reference(), &under_pin])
        .unwrap();
    let cli_under_pin = inspect(engine, &under_pin);
    let not_found = unverified(&foreign_pin, &why_unknown(&service, &foreign_pin));
    assert_eq!(
        verdict(&snapshot, one(&foreign_pin), &cli_under_pin),
        not_found
    );
    assert_eq!(verdict(&snapshot, &entries, &cli_under_pin), not_found);
    assert_eq!(
        failure_kind(&service, &foreign_pin),
        Some(FailureKind::NotFound)
    );
}

#[test]
fn any_tag_entries_accept_the_real_image_and_refuse_a_retagged_one() {
    let s = shared();
    let busybox = s.busybox();
    let cli = other();
    let addr = s.registry().addr();
    let engine = s.engine();
    let dir = tempfile::tempdir().unwrap();
    let service = service(
        dir.path(),
        insecure(s.registry()),
        CredentialSource::Anonymous,
    );
    let any = entry(&format!("{addr}/eci-e2e/busybox:*"));
    let entries = vec![any.clone()];
    service.set_entries(&entries);

    let real = inspect(engine, &busybox.reference());
    // A locally built image under the allowed name: on no registry.
    let built = format!("{addr}/eci-e2e/busybox:built-here");
    build_image(engine, &ImageSpec::new("not-busybox"), &built).unwrap();
    let built_local = inspect(engine, &built);
    // A registry image of another repository retagged under the allowed name.
    let retagged = format!("{addr}/eci-e2e/busybox:retagged");
    engine
        .run_docker(["tag", &cli.reference(), &retagged])
        .unwrap();
    let retagged_local = inspect(engine, &retagged);
    assert_eq!(retagged_local.id.to_string(), cli.config_digest);

    let rt = runtime();
    // The registry must be asked first.
    assert_eq!(
        verdict(&service.snapshot(), &entries, &real),
        unverified(&any, NOT_ASKED)
    );
    assert_eq!(
        decide_verified(&rt, &service, &entries, &real, None),
        allowed(&any)
    );
    // Allowed by its repo digest: the manifest the registry publishes, with this config.
    assert_eq!(
        any_tag_fact(
            &service.snapshot(),
            &busybox.reference(),
            &busybox.manifest_digest,
            &real.id
        ),
        AnyTagFact::Verified
    );
    // Answered from memory now.
    assert_eq!(verdict(&service.snapshot(), &entries, &real), allowed(&any));
    for local in [&built_local, &retagged_local] {
        assert_eq!(
            decide_verified(&rt, &service, &entries, local, None),
            denied(),
            "{local:?}"
        );
    }
    // The answer survives a restart.
    drop(service);
    let restarted = self::service(
        dir.path(),
        insecure(s.registry()),
        CredentialSource::Anonymous,
    );
    restarted.set_entries(&entries);
    assert_eq!(
        verdict(&restarted.snapshot(), &entries, &real),
        allowed(&any)
    );
}

/// `ns/*:*` against the loopback registry: two repositories under the namespace are allowed,
/// each verified lazily against its own repository; one outside it, and an outside image
/// retagged into the namespace, are not. The probe shows what the wildcard matched.
#[test]
fn repository_wildcards_accept_repositories_under_the_namespace_only() {
    let s = shared();
    let busybox = s.busybox();
    let second = other();
    let addr = s.registry().addr();
    let engine = s.engine();
    let outside = push_image(
        engine,
        s.registry(),
        &ImageSpec::new("outside"),
        "eci-e2e-outside/app",
        "1",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let service = service(
        dir.path(),
        insecure(s.registry()),
        CredentialSource::Anonymous,
    );
    let wildcard = entry(&format!("{addr}/eci-e2e/*:*"));
    let entries = vec![wildcard.clone()];
    service.set_entries(&entries);

    let rt = runtime();
    for image in [busybox, second] {
        let local = inspect(engine, &image.reference());
        assert_eq!(
            verdict(&service.snapshot(), &entries, &local),
            unverified(&wildcard, NOT_ASKED),
            "{}",
            image.reference()
        );
        assert_eq!(
            decide_verified(&rt, &service, &entries, &local, None),
            allowed(&wildcard),
            "{}",
            image.reference()
        );
        assert_eq!(
            any_tag_fact(
                &service.snapshot(),
                &image.reference(),
                &image.manifest_digest,
                &local.id
            ),
            AnyTagFact::Verified,
            "{}",
            image.reference()
        );
    }
    // Outside the namespace: not even asked about.
    let outside_local = inspect(engine, &outside.reference());
    assert_eq!(
        decide_verified(&rt, &service, &entries, &outside_local, None),
        denied()
    );
    let outside_repo = Reference::parse_normalized(&outside.reference())
        .unwrap()
        .into_repository();
    assert_eq!(
        service
            .snapshot()
            .any_tag_answer(&outside_repo, &outside.manifest_digest.parse().unwrap()),
        None
    );
    // Retagged into the namespace: its only repo digest is of the outside repository.
    let retagged = format!("{addr}/eci-e2e/app:1");
    engine
        .run_docker(["tag", &outside.reference(), &retagged])
        .unwrap();
    let retagged_local = inspect(engine, &retagged);
    assert_eq!(
        decide_verified(&rt, &service, &entries, &retagged_local, None),
        denied()
    );

    let prober = Prober::new(CredentialSource::Anonymous, short_timeouts(), PROBE_TTL);
    let report = rt
        .block_on(prober.probe(
            &wildcard.to_string(),
            &insecure(s.registry()),
            &CancellationToken::new(),
        ))
        .with_matches(&service.snapshot());
    assert_eq!(report.exit_code(), 0);
    assert_eq!(
        report.outcome,
        ProbeOutcome::AnyRepository {
            matched: vec![
                format!("{addr}/eci-e2e/busybox"),
                format!("{addr}/eci-e2e/other"),
            ]
        }
    );
    assert!(
        report.human().contains("matched so far"),
        "{}",
        report.human()
    );
}

#[test]
fn a_moved_tag_is_picked_up_by_the_next_refresh() {
    let s = shared();
    let (engine, registry) = (s.engine(), s.registry());
    let first = push_image(
        engine,
        registry,
        &ImageSpec::new("moving-first"),
        "eci-e2e/moving",
        "1",
    )
    .unwrap();
    let first_local = inspect(engine, &first.reference());
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path(), insecure(registry), CredentialSource::Anonymous);
    let moving = entry(&first.reference());
    let entries = vec![moving.clone()];
    service.set_entries(&entries);
    let rt = runtime();
    assert_eq!(rt.block_on(service.refresh_pending()).changed, 1);
    assert_eq!(
        verdict(&service.snapshot(), &entries, &first_local),
        allowed(&moving)
    );
    // An unchanged registry changes nothing.
    assert_eq!(rt.block_on(service.refresh_all()).changed, 0);

    let second = push_image(
        engine,
        registry,
        &ImageSpec::new("moving-second"),
        "eci-e2e/moving",
        "1",
    )
    .unwrap();
    assert_ne!(second.manifest_digest, first.manifest_digest);
    let second_local = inspect(engine, &second.reference());
    // Until the refresh, the new image is not the allowed one.
    assert_eq!(
        verdict(&service.snapshot(), &entries, &second_local),
        denied()
    );
    assert_eq!(rt.block_on(service.refresh_all()).changed, 1);
    let got = service
        .snapshot()
        .entry(&moving)
        .unwrap()
        .digests
        .clone()
        .unwrap();
    assert_eq!(got.digest.to_string(), second.manifest_digest);
    assert_eq!(
        verdict(&service.snapshot(), &entries, &second_local),
        allowed(&moving)
    );
    assert_eq!(
        verdict(&service.snapshot(), &entries, &first_local),
        denied()
    );
}

#[test]
fn a_stopped_registry_keeps_cached_digests_and_says_why_new_entries_are_unknown() {
    let s = shared();
    let engine = s.engine();
    let registry = Registry::start(RegistryConfig::plain()).unwrap();
    let image = push_image(
        engine,
        &registry,
        &ImageSpec::new("offline"),
        "eci-e2e/offline",
        "1",
    )
    .unwrap();
    let local = inspect(engine, &image.reference());
    // busybox tagged under the entries' repository; tagged before the probes below, since the
    // probe cache they check lasts only PROBE_TTL.
    let under_entries = format!("{}/eci-e2e/offline:busybox", registry.addr());
    engine
        .run_docker(["tag", &s.busybox().reference(), &under_entries])
        .unwrap();
    let other = inspect(engine, &under_entries);
    let dir = tempfile::tempdir().unwrap();
    let known = entry(&image.reference());
    let rt = runtime();
    let cancel = CancellationToken::new();
    let early = Prober::new(CredentialSource::Anonymous, short_timeouts(), PROBE_TTL);
    let before = rt.block_on(early.probe(&image.reference(), &insecure(&registry), &cancel));
    {
        let service = service(dir.path(), insecure(&registry), CredentialSource::Anonymous);
        service.set_entries(std::slice::from_ref(&known));
        assert_eq!(rt.block_on(service.refresh_pending()).failures().count(), 0);
    }
    registry.stop();

    // An offline restart: the cache answers for what was fetched before.
    let service = service(dir.path(), insecure(&registry), CredentialSource::Anonymous);
    let new = entry(&format!("{}/eci-e2e/offline:2", registry.addr()));
    let entries = vec![known.clone(), new.clone()];
    assert_eq!(
        verdict(&service.snapshot(), &entries, &local),
        allowed(&known)
    );
    service.set_entries(&entries);
    let report = rt.block_on(service.refresh_pending());
    let kinds: Vec<FailureKind> = report.failures().map(|(_, f)| f.kind).collect();
    assert_eq!(
        kinds,
        vec![FailureKind::Unreachable, FailureKind::Unreachable]
    );
    let snapshot = service.snapshot();
    let kept = snapshot.entry(&known).unwrap();
    assert!(kept.digests.is_some() && kept.fetched_at.is_some());
    assert_eq!(
        kept.last_error.as_ref().map(|f| f.kind),
        Some(FailureKind::Unreachable)
    );
    assert_eq!(
        verdict(&service.snapshot(), &entries, &local),
        allowed(&known)
    );
    // busybox is not in the list: asked for under the entries' repository, it is denied, and
    // the entry whose digests are unknown is named with why.
    let why = why_unknown(&service, &new);
    assert_eq!(
        verdict(&service.snapshot(), &entries, &other),
        unverified(&new, &why)
    );
    assert_eq!(failure_kind(&service, &new), Some(FailureKind::Unreachable));
    assert!(why.contains(&registry.addr()), "{why}");

    let prober = Prober::new(CredentialSource::Anonymous, short_timeouts(), PROBE_TTL);
    let report = rt.block_on(prober.probe(&image.reference(), &insecure(&registry), &cancel));
    assert_eq!(report.exit_code(), 2, "{}", report.human());
    assert!(report.human().contains("unreachable"), "{}", report.human());
    // A probe asked moments ago is answered from its brief cache, registry or not.
    let ProbeOutcome::Found { digests } = &before.outcome else {
        panic!("{before:?}")
    };
    assert_eq!(digests.digest.to_string(), image.manifest_digest);
    let again = rt.block_on(early.probe(&image.reference(), &insecure(&registry), &cancel));
    assert_eq!(again, before);

    // A name:* image the registry cannot be asked about: denied, saying why.
    let any = entry(&format!("{}/eci-e2e/offline:*", registry.addr()));
    assert_eq!(
        decide_verified(
            &rt,
            &service,
            std::slice::from_ref(&any),
            &local,
            Some(FailureKind::Unreachable)
        ),
        unverified(&any, NOT_ASKED)
    );

    registry.start_again().unwrap();
    assert_eq!(
        rt.block_on(service.refresh_all()).failures().count(),
        1,
        "only :2 is missing"
    );
    assert_eq!(failure_kind(&service, &known), None);
    assert_eq!(failure_kind(&service, &new), Some(FailureKind::NotFound));

    // The registry loses the image: its cached digests no longer allow anything.
    registry.stop();
    std::fs::remove_dir_all(registry.storage_dir()).unwrap();
    std::fs::create_dir_all(registry.storage_dir()).unwrap();
    registry.start_again().unwrap();
    assert_eq!(rt.block_on(service.refresh_all()).changed, 1);
    assert_eq!(failure_kind(&service, &known), Some(FailureKind::NotFound));
    // The image is gone from the registry.
    assert_eq!(
        verdict(&service.snapshot(), &entries, &local),
        unverified(&known, &why_unknown(&service, &known))
    );
}

#[test]
fn tls_with_basic_auth_needs_the_ca_and_the_right_password() {
    let s = shared();
    let engine = s.engine();
    let registry = Registry::start(RegistryConfig::tls_with_auth()).unwrap();
    engine.trust_registry(&registry).unwrap();
    engine.login(&registry).unwrap();
    let image = push_image(
        engine,
        &registry,
        &ImageSpec::new("private"),
        "eci-e2e/private",
        "1",
    )
    .unwrap();
    let addr = registry.addr();
    let ca = registry.ca_pem_path().unwrap().display().to_string();
    let with_ca =
        RegistrySettings::from_json(&format!(r#"{{"{addr}": {{"ca": "{ca}"}}}}"#)).unwrap();
    let without_ca = RegistrySettings::default();

    let wrong = tempfile::tempdir().unwrap();
    std::fs::write(
        wrong.path().join("config.json"),
        // eci-e2e:wrong
        format!(r#"{{"auths": {{"{addr}": {{"auth": "ZWNpLWUyZTp3cm9uZw=="}}}}}}"#),
    )
    .unwrap();
    let logged_in = CredentialSource::ConfigDir(engine.docker_config_dir().to_owned());
    let target = entry(&image.reference());
    let rt = runtime();
    let cases = [
        ("logged in", with_ca.clone(), logged_in.clone(), None),
        (
            "anonymous",
            with_ca.clone(),
            CredentialSource::Anonymous,
            Some(FailureKind::AuthRequired),
        ),
        (
            "wrong password",
            with_ca.clone(),
            CredentialSource::ConfigDir(wrong.path().to_owned()),
            Some(FailureKind::AuthRequired),
        ),
        (
            "CA not trusted",
            without_ca.clone(),
            logged_in.clone(),
            Some(FailureKind::Tls),
        ),
        (
            "HTTP to HTTPS",
            insecure(&registry),
            logged_in.clone(),
            Some(FailureKind::Registry),
        ),
    ];
    for (name, settings, credentials, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path(), settings.clone(), credentials.clone());
        service.set_entries(std::slice::from_ref(&target));
        rt.block_on(service.refresh_pending());
        assert_eq!(failure_kind(&service, &target), want, "{name}");
        if want.is_none() {
            let got = service
                .snapshot()
                .entry(&target)
                .unwrap()
                .digests
                .clone()
                .unwrap();
            assert_eq!(got.digest.to_string(), image.manifest_digest, "{name}");
        }
        let prober = Prober::new(credentials, short_timeouts(), PROBE_TTL);
        let report =
            rt.block_on(prober.probe(&image.reference(), &settings, &CancellationToken::new()));
        let json = serde_json::to_value(&report).unwrap();
        eprintln!("{name}: {}{json}", report.human());
        match want {
            None => assert_eq!(
                (report.exit_code(), json["status"].as_str()),
                (0, Some("found")),
                "{name}"
            ),
            Some(kind) => {
                assert_eq!(report.exit_code(), 2, "{name}: {}", report.human());
                assert_eq!(json["kind"], serde_json::to_value(kind).unwrap(), "{name}");
            }
        }
    }
}

#[test]
fn probe_reports_each_case() {
    let s = shared();
    let busybox = s.busybox();
    let multi = s.multi_platform();
    let addr = s.registry().addr();
    let settings = insecure(s.registry());
    let rt = runtime();
    let cancel = CancellationToken::new();
    // (input, exit code, status, text the human output must show)
    let cases: Vec<(String, u8, &str, String)> = vec![
        (
            busybox.reference(),
            0,
            "found",
            busybox.config_digest.clone(),
        ),
        (multi.reference(), 0, "found", "linux/arm64/v8".into()),
        (
            multi.pinned_reference(),
            0,
            "found",
            multi.images[1].config_digest.clone(),
        ),
        // eci-e2e/multi holds the index and both platform tags.
        (
            format!("{addr}/eci-e2e/multi:*"),
            0,
            "any-tag",
            "3 tags".into(),
        ),
        (
            format!("{addr}/eci-e2e/multi:nope"),
            1,
            "failed",
            "not found".into(),
        ),
        (
            format!("{addr}/eci-e2e/nothing:*"),
            1,
            "failed",
            "not found".into(),
        ),
        (
            format!("{addr}/Eci/x"),
            1,
            "failed",
            "invalid reference".into(),
        ),
        ("*".into(), 0, "all-images", "every image".into()),
    ];
    for (input, code, status, shows) in cases {
        let report = rt.block_on(eci_registry::probe(&input, &settings, &cancel));
        let json = serde_json::to_value(&report).unwrap();
        let human = report.human();
        eprintln!("{human}{json}");
        assert_eq!(
            (report.exit_code(), json["status"].as_str()),
            (code, Some(status)),
            "{input}: {human}"
        );
        assert!(human.contains(&shows), "{input}: {human}");
    }
}

#[test]
fn the_background_refresher_fetches_new_entries_and_follows_moved_tags() {
    let s = shared();
    let (engine, registry) = (s.engine(), s.registry());
    let first = push_image(
        engine,
        registry,
        &ImageSpec::new("periodic-first"),
        "eci-e2e/periodic",
        "1",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let service = DigestService::open(ServiceOptions {
        registries: insecure(registry),
        credentials: CredentialSource::Anonymous,
        timeouts: short_timeouts(),
        refresh_interval: Duration::from_millis(500),
        ..ServiceOptions::new(dir.path())
    });
    let rt = runtime();
    let cancel = CancellationToken::new();
    let task = rt.spawn(service.clone().run_refresher(cancel.clone()));
    let periodic = entry(&first.reference());
    service.set_entries(std::slice::from_ref(&periodic));
    let published = |want: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            let digests = service
                .snapshot()
                .entry(&periodic)
                .and_then(|s| s.digests.clone());
            if digests.is_some_and(|d| d.digest.to_string() == want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    };
    assert!(
        published(&first.manifest_digest),
        "the new entry was not fetched"
    );
    let second = push_image(
        engine,
        registry,
        &ImageSpec::new("periodic-second"),
        "eci-e2e/periodic",
        "1",
    )
    .unwrap();
    assert!(
        published(&second.manifest_digest),
        "the moved tag was not picked up"
    );
    cancel.cancel();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await })
        .expect("the refresher stops when cancelled")
        .unwrap();
}
