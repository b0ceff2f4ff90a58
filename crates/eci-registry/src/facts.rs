//! The snapshot as the registry facts of the pure image decision ([`DigestFacts`]): what the cache
//! knows of each entry and of each `name:*` digest, answered from memory; and which of a local
//! image's digests the registry must be asked about first. Deciding is eci-policy's.

use eci_policy::decide::{AnyTagFact, DigestFacts, EntryDigests};
use eci_policy::reference::{Digest, ImageEntry, Reference, Repository};

use crate::digests::{AnyTagAnswer, Snapshot};

impl DigestFacts for Snapshot {
    fn entry_digests(&self, entry: &ImageEntry) -> EntryDigests {
        match self.entry(entry) {
            Some(state) => match &state.digests {
                Some(d) => EntryDigests::Known {
                    manifests: d.manifests().map(ToString::to_string).collect(),
                    configs: d.images.iter().map(|i| i.config.to_string()).collect(),
                },
                None => EntryDigests::Unavailable(state.unknown_reason().to_string()),
            },
            // Not in the policy the service was given (yet): nothing was ever asked.
            None => EntryDigests::Unavailable(
                "the digests have not been fetched from the registry yet".to_owned(),
            ),
        }
    }

    fn any_tag(&self, repo: &Repository, repo_digest: &Digest, id: &str) -> AnyTagFact {
        match self.any_tag_answer(repo, repo_digest) {
            // The digest is in the repository, but only its own configs are that image: a local
            // image claiming the digest under another ID is a retag.
            Some(AnyTagAnswer::Exists { digests }) => match id.parse::<Digest>() {
                Ok(id) if digests.has_config(&id) => AnyTagFact::Verified,
                _ => AnyTagFact::Mismatch,
            },
            Some(AnyTagAnswer::Missing) => AnyTagFact::Mismatch,
            None => AnyTagFact::Unavailable(
                "the registry could not be asked whether it publishes this digest".to_owned(),
            ),
        }
    }
}

/// The repo digests of a local image (`RepoDigests` strings) the registry must be asked about for
/// the `name:*` and `ns/*:*` entries covering their repository; strings that are not
/// `repo@digest` cannot match anything and are left out.
pub(crate) fn to_verify<S: AsRef<str>>(
    entries: &[ImageEntry],
    repo_digests: &[S],
) -> Vec<(Repository, Digest)> {
    repo_digests
        .iter()
        .filter_map(|rd| {
            let r = Reference::parse_normalized(rd.as_ref()).ok()?;
            let digest = r.digest()?.clone();
            let repo = r.into_repository();
            entries
                .iter()
                .any(|e| e.verified_lazily(&repo))
                .then_some((repo, digest))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use chrono::Utc;
    use eci_policy::decide::{image_verdict, ImageFacts, ImageVerdict};
    use eci_policy::settings::Policy;

    use super::*;
    use crate::digests::{EntryState, ImageDigests, PlatformImage};
    use crate::failure::{Failure, FailureKind};

    const NOT_ASKED: &str = "the registry could not be asked whether it publishes this digest";

    fn digest(n: u8) -> Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap()
    }

    fn repo(s: &str) -> Repository {
        Reference::parse_normalized(s).unwrap().into_repository()
    }

    fn entry(s: &str) -> ImageEntry {
        ImageEntry::parse(s).unwrap()
    }

    /// A local image as the engine shows it: the name it was asked by, its ID, its repo digests.
    fn image(name: &str, id: u8, repo_digests: &[(&str, u8)]) -> ImageFacts {
        ImageFacts {
            name: name.to_owned(),
            id: digest(id).to_string(),
            repo_digests: repo_digests
                .iter()
                .map(|(r, d)| format!("{r}@{}", digest(*d)))
                .collect(),
            layers: Vec::new(),
        }
    }

    fn fetched(index: u8, images: &[(u8, u8)]) -> EntryState {
        EntryState {
            digests: Some(Arc::new(ImageDigests {
                digest: digest(index),
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                images: images
                    .iter()
                    .map(|(m, c)| PlatformImage {
                        platform: None,
                        manifest: digest(*m),
                        config: digest(*c),
                    })
                    .collect(),
            })),
            fetched_at: Some(Utc::now()),
            ..EntryState::default()
        }
    }

    fn exists(config: u8) -> AnyTagAnswer {
        AnyTagAnswer::Exists {
            digests: fetched(1, &[(2, config)]).digests.unwrap(),
        }
    }

    /// The enforcer's decision with these entries and the snapshot as its facts.
    fn verdict(snapshot: &Snapshot, entries: &[&ImageEntry], image: &ImageFacts) -> ImageVerdict {
        let policy = Policy {
            images: entries.iter().map(|e| (*e).clone()).collect(),
            ..Policy::default()
        };
        image_verdict(&policy, image, &[], snapshot)
    }

    fn allowed(entry: &ImageEntry) -> ImageVerdict {
        ImageVerdict::Allowed {
            entry: entry.to_string(),
            derived_from: None,
        }
    }

    /// Denied; naming the entry whose digests are unknown, and why, when there is one.
    fn denied(unavailable: Option<(&ImageEntry, &str)>) -> ImageVerdict {
        ImageVerdict::Denied {
            unavailable: unavailable.map(|(e, why)| (e.to_string(), why.to_owned())),
        }
    }

    /// What proved an image allowed by a tag or digest entry.
    #[derive(Debug)]
    enum By {
        Config,
        RepoDigest(u8),
    }

    #[test]
    fn entries_match_by_config_or_by_repo_digest_of_their_repository() {
        let tag = entry("r.example/app:1");
        let pinned = entry(&format!("r.example/pinned@{}", digest(20)));
        let never = entry("r.example/never:1");
        let failed = entry("r.example/failed:1");
        let mut snapshot = Snapshot::default();
        // index 1 over platform manifests 2 and 3, configs 12 and 13.
        snapshot
            .entries
            .insert(tag.clone(), fetched(1, &[(2, 12), (3, 13)]));
        snapshot
            .entries
            .insert(pinned.clone(), fetched(20, &[(20, 21)]));
        let refused = Failure::new(FailureKind::Unreachable, "connection refused");
        snapshot.entries.insert(
            failed.clone(),
            EntryState {
                last_error: Some(refused.clone()),
                ..EntryState::default()
            },
        );
        let app = |id, rd: &[(&str, u8)]| image("r.example/app:local", id, rd);
        let allowed_cases = [
            (&tag, app(12, &[]), By::Config),
            (&tag, app(13, &[("r.example/app", 1)]), By::Config),
            (&tag, app(99, &[("r.example/app", 1)]), By::RepoDigest(1)),
            (&tag, app(99, &[("r.example/app", 3)]), By::RepoDigest(3)),
            (&pinned, image("r.example/pinned", 21, &[]), By::Config),
            (
                &pinned,
                image("r.example/pinned", 99, &[("r.example/pinned", 20)]),
                By::RepoDigest(20),
            ),
        ];
        for (entry, image, by) in allowed_cases {
            assert_eq!(
                verdict(&snapshot, &[entry], &image),
                allowed(entry),
                "{entry} vs {image:?}"
            );
            let EntryDigests::Known { manifests, configs } = snapshot.entry_digests(entry) else {
                panic!("{entry} is fetched");
            };
            match by {
                By::Config => assert!(configs.contains(&image.id), "{entry} vs {image:?}"),
                By::RepoDigest(d) => assert!(
                    manifests.contains(&digest(d).to_string()) && !configs.contains(&image.id),
                    "{entry} vs {image:?}"
                ),
            }
        }
        let denied_cases = [
            // The same manifest digest recorded for another repository proves nothing here.
            (&tag, app(99, &[("r.example/other", 1)]), denied(None)),
            // A retagged local image: no repo digest, unknown ID.
            (&tag, app(99, &[]), denied(None)),
            // A config digest is not a manifest digest.
            (&tag, app(99, &[("r.example/app", 12)]), denied(None)),
            (
                &pinned,
                image("r.example/pinned", 12, &[("r.example/pinned", 1)]),
                denied(None),
            ),
            // Never fetched, or failed: fail closed, saying why.
            (
                &never,
                image("r.example/never:1", 12, &[]),
                denied(Some((
                    &never,
                    "the digests have not been fetched from the registry yet",
                ))),
            ),
            (
                &failed,
                image("r.example/failed:1", 12, &[]),
                denied(Some((&failed, &refused.to_string()))),
            ),
        ];
        for (entry, image, want) in denied_cases {
            assert_eq!(
                verdict(&snapshot, &[entry], &image),
                want,
                "{entry} vs {image:?}"
            );
        }
        assert_eq!(
            verdict(&snapshot, &[&ImageEntry::All], &app(99, &[])),
            allowed(&ImageEntry::All)
        );
    }

    #[test]
    fn any_tag_entries_need_the_registry_then_match_only_the_verified_config() {
        let any = entry("r.example/app:*");
        let app = repo("r.example/app");
        let mut snapshot = Snapshot::default();
        let asked = image(
            "r.example/app:1",
            12,
            &[("r.example/app", 1), ("r.example/x", 5)],
        );
        assert_eq!(
            to_verify(std::slice::from_ref(&any), &asked.repo_digests),
            vec![(app.clone(), digest(1))]
        );
        assert_eq!(
            verdict(&snapshot, &[&any], &asked),
            denied(Some((&any, NOT_ASKED)))
        );
        let elsewhere = image("r.example/app:1", 12, &[("r.example/x", 1)]);
        assert!(to_verify(std::slice::from_ref(&any), &elsewhere.repo_digests).is_empty());
        assert_eq!(verdict(&snapshot, &[&any], &elsewhere), denied(None));
        snapshot
            .any_tag
            .insert((app.clone(), digest(1)), exists(12));
        snapshot
            .any_tag
            .insert((app.clone(), digest(7)), AnyTagAnswer::Missing);
        let name = "r.example/app:1";
        assert_eq!(
            verdict(
                &snapshot,
                &[&any],
                &image(name, 12, &[("r.example/app", 1)])
            ),
            allowed(&any)
        );
        assert_eq!(
            snapshot.any_tag(&app, &digest(1), &digest(12).to_string()),
            AnyTagFact::Verified
        );
        let cases = [
            // Same repo digest but another image ID: a retagged image claiming the digest.
            image(name, 13, &[("r.example/app", 1)]),
            image(name, 12, &[("r.example/app", 7)]),
            image(name, 12, &[]),
        ];
        for image in cases {
            assert_eq!(
                verdict(&snapshot, &[&any], &image),
                denied(None),
                "{image:?}"
            );
        }
        // An engine ID that is no digest is no verified config.
        assert_eq!(
            snapshot.any_tag(&app, &digest(1), "not-a-digest"),
            AnyTagFact::Mismatch
        );
    }

    #[test]
    fn repository_wildcards_ask_about_each_covered_repository() {
        let ns = entry("r.example/team/*:*");
        let mut snapshot = Snapshot::default();
        let img = image(
            "r.example/team/b:1",
            12,
            &[
                ("r.example/team/a", 1),
                ("r.example/team/a/deep", 2),
                ("r.example/other", 3),
                ("r.example/team/b", 4),
            ],
        );
        assert_eq!(
            to_verify(std::slice::from_ref(&ns), &img.repo_digests),
            vec![
                (repo("r.example/team/a"), digest(1)),
                (repo("r.example/team/b"), digest(4)),
            ]
        );
        assert_eq!(
            verdict(&snapshot, &[&ns], &img),
            denied(Some((&ns, NOT_ASKED)))
        );
        snapshot
            .any_tag
            .insert((repo("r.example/team/a"), digest(1)), AnyTagAnswer::Missing);
        snapshot
            .any_tag
            .insert((repo("r.example/team/b"), digest(4)), exists(12));
        assert_eq!(verdict(&snapshot, &[&ns], &img), allowed(&ns));
        assert_eq!(
            snapshot.any_tag(
                &repo("r.example/team/b"),
                &digest(4),
                &digest(12).to_string()
            ),
            AnyTagFact::Verified
        );
        // Another image ID under a verified digest: a retag.
        assert_eq!(
            verdict(
                &snapshot,
                &[&ns],
                &image("r.example/team/b:1", 13, &[("r.example/team/b", 4)])
            ),
            denied(None)
        );
    }

    #[test]
    fn lists_allow_on_the_first_match_and_deny_with_the_unverified_reason() {
        let entries: Vec<ImageEntry> = ["r.example/a:1", "r.example/b:1", "r.example/c:*"]
            .iter()
            .map(|s| entry(s))
            .collect();
        let all: Vec<&ImageEntry> = entries.iter().collect();
        let mut snapshot = Snapshot::default();
        snapshot
            .entries
            .insert(entries[0].clone(), fetched(1, &[(1, 11)]));
        assert_eq!(
            verdict(&snapshot, &all, &image("r.example/b:1", 99, &[])),
            denied(Some((
                &entries[1],
                "the digests have not been fetched from the registry yet"
            )))
        );
        assert_eq!(
            verdict(&snapshot, &all, &image("r.example/b:1", 11, &[])),
            allowed(&entries[0])
        );
        let in_c = image("r.example/c:1", 99, &[("r.example/c", 3)]);
        assert_eq!(
            to_verify(&entries, &in_c.repo_digests),
            vec![(repo("r.example/c"), digest(3))]
        );
        assert_eq!(
            verdict(&snapshot, &all, &in_c),
            denied(Some((&entries[2], NOT_ASKED)))
        );
    }

    #[test]
    fn repo_digests_to_verify_are_read_as_the_engine_writes_them() {
        let d = digest(1);
        let entries = [
            entry("iechor.io/library/busybox:*"),
            entry("127.0.0.1:5000/x:*"),
        ];
        let asked = to_verify(
            &entries,
            &[
                format!("busybox@{d}"),
                "garbage@@".to_string(),
                format!("127.0.0.1:5000/x@{d}"),
                format!("127.0.0.1:5000/y@{d}"),
            ],
        );
        assert_eq!(
            asked,
            vec![
                (repo("iechor.io/library/busybox"), d.clone()),
                (repo("127.0.0.1:5000/x"), d)
            ]
        );
        let answers: HashMap<_, _> = asked.into_iter().map(|k| (k, exists(12))).collect();
        let snapshot = Snapshot {
            any_tag: answers,
            ..Snapshot::default()
        };
        assert_eq!(
            verdict(
                &snapshot,
                &[&entries[0]],
                &image("busybox", 12, &[("busybox", 1)])
            ),
            allowed(&entries[0])
        );
    }
}
