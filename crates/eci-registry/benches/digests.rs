//! Digest resolution costs, side by side in one run against the loopback registry of the test
//! harness: a cold resolution of 50 entries, a warm refresh of the same entries (digests
//! unchanged), and the enforcer's image decision per container check (eci-policy's
//! `image_verdict` with the service's snapshot as its facts, in memory).
//!
//! `cargo bench -p eci-registry --bench digests` (as root: it starts a private engine and
//! registry).

use std::hint::black_box;
use std::time::{Duration, Instant};

use eci_e2e::shared;
use eci_policy::decide::{image_verdict, ImageFacts, ImageVerdict};
use eci_policy::reference::ImageEntry;
use eci_policy::settings::Policy;
use eci_registry::{CredentialSource, DigestService, RegistrySettings, ServiceOptions};

const ENTRIES: usize = 50;
const LOOKUPS: u32 = 200_000;
const ROUNDS: usize = 5;

fn main() {
    let s = shared();
    let registry = s.registry();
    let busybox = s.busybox();
    let multi = s.multi_platform();
    let addr = registry.addr();

    // The first half name a single-platform image (1 request each), the second half a
    // two-platform index (3 requests each), each under its own tag.
    let single = registry
        .manifest(&busybox.repository, &busybox.tag)
        .unwrap();
    let index = registry.manifest(&multi.repository, &multi.tag).unwrap();
    let mut entries = Vec::new();
    for n in 0..ENTRIES {
        let (repo, manifest) = if n < ENTRIES / 2 {
            (&busybox.repository, &single)
        } else {
            (&multi.repository, &index)
        };
        let tag = format!("bench-{n}");
        registry
            .put_manifest(repo, &tag, &manifest.media_type, &manifest.bytes)
            .unwrap();
        entries.push(ImageEntry::parse(&format!("{addr}/{repo}:{tag}")).unwrap());
    }
    let settings =
        RegistrySettings::from_json(&format!(r#"{{"{addr}": {{"insecure": true}}}}"#)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut last_service = None;
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let service = DigestService::open(ServiceOptions {
            registries: settings.clone(),
            credentials: CredentialSource::Anonymous,
            ..ServiceOptions::new(dir.path())
        });
        service.set_entries(&entries);
        let report = runtime.block_on(service.refresh_pending());
        assert_eq!(
            report.failures().count(),
            0,
            "{:?}",
            report.failures().next()
        );
        assert_eq!(report.changed, ENTRIES);
        cold.push(report.elapsed);
        let report = runtime.block_on(service.refresh_all());
        assert_eq!(report.failures().count(), 0);
        assert_eq!(report.changed, 0, "digests are unchanged");
        warm.push(report.elapsed);
        last_service = Some((service, dir));
    }
    let (service, _dir) = last_service.unwrap();

    let engine = s.engine();
    // What the enforcer reads of the engine's inspect: the ID and the repo digests.
    let facts = |name: &str| {
        let out = engine
            .run_docker([
                "image",
                "inspect",
                "--format",
                "{{.Id}}{{range .RepoDigests}} {{.}}{{end}}",
                name,
            ])
            .unwrap();
        let mut words = out.split_whitespace().map(str::to_owned);
        ImageFacts {
            name: name.to_owned(),
            id: words.next().unwrap(),
            repo_digests: words.collect(),
            layers: Vec::new(),
        }
    };
    let first_match = facts(&busybox.reference());
    let last_match = facts(&multi.images[0].reference());
    let mut no_match = first_match.clone();
    no_match.id =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000".to_owned();
    no_match.repo_digests.clear();
    let policy = Policy {
        images: entries.clone(),
        ..Policy::default()
    };

    // As the enforcer decides: one snapshot per decision, the pure decision over it.
    let decide = |image: &ImageFacts| image_verdict(&policy, image, &[], &*service.snapshot());
    let per_check = |image: &ImageFacts, want: ImageVerdict| {
        assert_eq!(decide(image), want);
        let started = Instant::now();
        for _ in 0..LOOKUPS {
            black_box(decide(black_box(image)));
        }
        started.elapsed() / LOOKUPS
    };
    let allowed = |n: usize| ImageVerdict::Allowed {
        entry: entries[n].to_string(),
        derived_from: None,
    };
    let allowed_first = per_check(&first_match, allowed(0));
    let allowed_last = per_check(&last_match, allowed(ENTRIES / 2));
    let denied = per_check(&no_match, ImageVerdict::Denied { unavailable: None });

    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (cold_min, warm_min) = (*cold.iter().min().unwrap(), *warm.iter().min().unwrap());
    println!();
    println!("eci-registry digests: {ENTRIES} entries ({} single-platform, {} two-platform indexes), loopback docker-registry, concurrency 8, {ROUNDS} rounds", ENTRIES / 2, ENTRIES - ENTRIES / 2);
    println!("{:<44} {:>12} {:>12}", "", "median", "best");
    println!(
        "{:<44} {:>12} {:>12}",
        "cold resolution (new service, 100 requests)",
        ms(median(&mut cold)),
        ms(cold_min)
    );
    println!(
        "{:<44} {:>12} {:>12}",
        "warm refresh (unchanged, 50 HEAD requests)",
        ms(median(&mut warm)),
        ms(warm_min)
    );
    println!("{:<44} {:>12}", "image decision per container check:", "");
    for (what, d) in [
        ("  allowed by the first entry", allowed_first),
        ("  allowed by entry 26 (after 25 misses)", allowed_last),
        ("  denied (all 50 entries scanned)", denied),
    ] {
        println!("{what:<44} {:>9} ns", d.as_nanos());
    }
}
