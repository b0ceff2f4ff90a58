//! Tests of the decisions: each case one that would let a socket through, or block what is
//! allowed, if its rule were missing.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::mounts::container_create;
use crate::settings::load;

const SOCK: &str = "/var/run/docker.sock";
const ID_CLI: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const ID_EVIL: &str = "sha256:6666666666666666666666666666666666666666666666666666666666666666";
const MANIFEST_CLI: &str =
    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const MANIFEST_RYUK: &str =
    "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const ID_RYUK: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

const SEED_MESSAGE: &str = "enhanced container isolation: iechor socket mount denied for container with image \"iechor.io/library/iechor\"; image is not in the allowed list; if you wish to allow it, configure the iechor socket image list in the iEchor Desktop settings.";

fn policy(images: &[&str], derived: bool, eci: bool) -> Policy {
    let text = serde_json::json!({
        "configurationFileVersion": 2,
        "enhancedContainerIsolation": {
            "locked": true, "value": eci,
            "iechorSocketMount": {
                "imageList": {"images": images, "allowDerivedImages": derived},
                "commandList": {"type": "deny", "commands": ["push"]}
            }
        }
    });
    load(Some(&text.to_string()), None)
        .expect("valid test settings")
        .policy
}

/// Registry facts as the cache would answer them.
#[derive(Default)]
struct Facts {
    digests: HashMap<String, EntryDigests>,
    any_tag: HashMap<(String, String), AnyTagFact>,
}

impl Facts {
    fn known(mut self, entry: &str, manifests: &[&str], configs: &[&str]) -> Self {
        let set = |d: &[&str]| -> HashSet<String> { d.iter().map(|d| d.to_string()).collect() };
        self.digests.insert(
            entry.to_owned(),
            EntryDigests::Known {
                manifests: set(manifests),
                configs: set(configs),
            },
        );
        self
    }
    fn unavailable(mut self, entry: &str, why: &str) -> Self {
        self.digests
            .insert(entry.to_owned(), EntryDigests::Unavailable(why.to_owned()));
        self
    }
    fn any_tag(mut self, repo: &str, digest: &str, fact: AnyTagFact) -> Self {
        self.any_tag
            .insert((repo.to_owned(), digest.to_owned()), fact);
        self
    }
}

impl DigestFacts for Facts {
    fn entry_digests(&self, entry: &ImageEntry) -> EntryDigests {
        self.digests
            .get(&entry.to_string())
            .cloned()
            .unwrap_or_else(|| EntryDigests::Unavailable("never fetched".into()))
    }
    fn any_tag(&self, repo: &Repository, repo_digest: &Digest, _id: &str) -> AnyTagFact {
        self.any_tag
            .get(&(repo.to_string(), repo_digest.to_string()))
            .cloned()
            .unwrap_or(AnyTagFact::Mismatch)
    }
}

fn image(name: &str, id: &str, repo_digests: &[&str], layers: &[&str]) -> ImageFacts {
    ImageFacts {
        name: name.into(),
        id: id.into(),
        repo_digests: repo_digests.iter().map(|s| s.to_string()).collect(),
        layers: layers.iter().map(|s| s.to_string()).collect(),
    }
}

fn bind_socket() -> Vec<MountRef> {
    let body =
        serde_json::json!({"Image": "x", "HostConfig": {"Binds": [format!("{SOCK}:{SOCK}")]}});
    container_create(&body).unwrap().mounts
}

fn socket() -> Vec<Option<Exposure>> {
    vec![Some(Exposure::Socket {
        socket: SOCK.into(),
    })]
}

fn cli_facts() -> Facts {
    Facts::default().known("iechor.io/library/iechor:cli", &[MANIFEST_CLI], &[ID_CLI])
}

fn cli_image() -> ImageFacts {
    image(
        "iechor:cli",
        ID_CLI,
        &[&format!("iechor@{MANIFEST_CLI}")],
        &["l1"],
    )
}

#[test]
fn exposure_of_sockets_and_their_directories() {
    let protected = vec![SOCK.to_owned(), "/run/eci/filtered/abc.sock".to_owned()];
    let cases: &[(&str, Option<&str>)] = &[
        (SOCK, Some("socket")),
        ("/var/run", Some("ancestor")),
        ("/var/run/", Some("ancestor")),
        ("/var", Some("ancestor")),
        ("/", Some("ancestor")),
        ("/run/eci", Some("ancestor")),
        ("/run/eci/filtered/abc.sock", Some("socket")),
        ("/var/runner", None),
        ("/var/run/docker.sock.bak", None),
        ("/var/run/docker", None),
        ("/home/user", None),
    ];
    for (path, want) in cases {
        let got = exposure(path, &protected).map(|e| match e {
            Exposure::Socket { .. } => "socket",
            Exposure::Ancestor { .. } => "ancestor",
            Exposure::Filtered { .. } => "filtered",
            Exposure::Control { .. } => "control",
        });
        assert_eq!(got, *want, "{path}");
    }
}

#[test]
fn control_sockets_are_denied_for_allowed_images_too() {
    let p = policy(&["iechor:cli"], true, true);
    let mounts = bind_socket();
    let control = vec![Some(Exposure::Control {
        socket: "/run/containerd/containerd.sock".into(),
    })];
    match mount_verdict(&p, &mounts, &control, &cli_image(), &[], &cli_facts()) {
        MountVerdict::Deny(d) => {
            assert_eq!(d.kind, BlockKind::SocketMount);
            assert!(
                d.message
                    .contains("\"/run/containerd/containerd.sock\" is a host control socket"),
                "{}",
                d.message
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_non_allowed_image_gets_the_seed_message() {
    let p = policy(&["iechor.io/testcontainers/ryuk:*"], true, true);
    let v = mount_verdict(
        &p,
        &bind_socket(),
        &socket(),
        &cli_image(),
        &[],
        &cli_facts(),
    );
    match v {
        MountVerdict::Deny(d) => {
            assert_eq!(d.message, SEED_MESSAGE);
            assert_eq!((d.status, d.kind), (403, BlockKind::SocketMount));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_allowed_image_is_rewritten_to_a_filtered_socket() {
    let p = policy(&["iechor:cli"], true, true);
    let v = mount_verdict(
        &p,
        &bind_socket(),
        &socket(),
        &cli_image(),
        &[],
        &cli_facts(),
    );
    assert_eq!(
        v,
        MountVerdict::Rewrite {
            mounts: vec![0],
            entry: "iechor.io/library/iechor:cli".into()
        }
    );
}

#[test]
fn eci_off_or_no_socket_passes_unchanged() {
    let off = policy(&[], true, false);
    let v = mount_verdict(
        &off,
        &bind_socket(),
        &socket(),
        &cli_image(),
        &[],
        &cli_facts(),
    );
    assert_eq!(v, MountVerdict::Allow);
    let on = policy(&[], true, true);
    let v = mount_verdict(
        &on,
        &bind_socket(),
        &[None],
        &cli_image(),
        &[],
        &cli_facts(),
    );
    assert_eq!(v, MountVerdict::Allow);
}

#[test]
fn digest_identity_decides_not_the_name() {
    let p = policy(&["iechor:cli"], true, true);
    let deny = |img: ImageFacts| {
        matches!(
            mount_verdict(&p, &bind_socket(), &socket(), &img, &[], &cli_facts()),
            MountVerdict::Deny(_)
        )
    };
    // A disallowed image retagged with the allowed name: neither its id nor a repo digest matches.
    assert!(deny(image("iechor:cli", ID_EVIL, &[], &["evil"])));
    // Its repo digest is one of the allowed digests, but of another repository.
    assert!(deny(image(
        "iechor:cli",
        ID_EVIL,
        &[&format!("other/repo@{MANIFEST_CLI}")],
        &[]
    )));
    // The allowed image under another name is still the allowed content: the id matches.
    assert!(!deny(image("mycopy:latest", ID_CLI, &[], &["l1"])));
    // A repo digest of the right repository with a known digest, whatever the local tag.
    assert!(!deny(image(
        "iechor:old",
        ID_EVIL,
        &[&format!("iechor.io/library/iechor@{MANIFEST_CLI}")],
        &[]
    )));
}

#[test]
fn the_all_entry_allows_without_registry_facts() {
    let p = policy(&["*"], true, true);
    let v = mount_verdict(
        &p,
        &bind_socket(),
        &socket(),
        &image("anything", ID_EVIL, &[], &[]),
        &[],
        &Facts::default(),
    );
    assert!(matches!(v, MountVerdict::Rewrite { .. }), "{v:?}");
}

#[test]
fn a_repo_digest_naming_a_config_proves_nothing() {
    let p = policy(&["iechor:cli"], true, true);
    // The published config's digest claimed as a manifest digest, under another image ID.
    let claims = image("iechor:cli", ID_EVIL, &[&format!("iechor@{ID_CLI}")], &[]);
    let v = mount_verdict(&p, &bind_socket(), &socket(), &claims, &[], &cli_facts());
    assert!(matches!(v, MountVerdict::Deny(_)), "{v:?}");
}

#[test]
fn digest_entries_match_only_that_digest() {
    let entry = format!("iechor:cli@{MANIFEST_CLI}");
    let p = policy(&[&entry], true, true);
    let facts = Facts::default().known(
        &format!("iechor.io/library/iechor@{MANIFEST_CLI}"),
        &[MANIFEST_CLI],
        &[],
    );
    let ok = mount_verdict(&p, &bind_socket(), &socket(), &cli_image(), &[], &facts);
    assert!(matches!(ok, MountVerdict::Rewrite { .. }), "{ok:?}");
    let other = image(
        "iechor:cli",
        ID_CLI,
        &[&format!("iechor@{MANIFEST_RYUK}")],
        &[],
    );
    assert!(matches!(
        mount_verdict(&p, &bind_socket(), &socket(), &other, &[], &facts),
        MountVerdict::Deny(_)
    ));
}

#[test]
fn repository_wildcards_verify_each_covered_repository_lazily() {
    let p = policy(&["testcontainers/*:*"], true, true);
    let ryuk = image(
        "testcontainers/ryuk:0.5.1",
        ID_RYUK,
        &[&format!("testcontainers/ryuk@{MANIFEST_RYUK}")],
        &[],
    );
    let repo = "iechor.io/testcontainers/ryuk";
    let verified = Facts::default().any_tag(repo, MANIFEST_RYUK, AnyTagFact::Verified);
    match mount_verdict(&p, &bind_socket(), &socket(), &ryuk, &[], &verified) {
        MountVerdict::Rewrite { entry, .. } => assert_eq!(entry, "iechor.io/testcontainers/*:*"),
        other => panic!("{other:?}"),
    }
    let mismatch = Facts::default().any_tag(repo, MANIFEST_RYUK, AnyTagFact::Mismatch);
    assert!(matches!(
        mount_verdict(&p, &bind_socket(), &socket(), &ryuk, &[], &mismatch),
        MountVerdict::Deny(_)
    ));
    // A repository outside the namespace (or deeper in it) is never asked about: a verified
    // answer for it changes nothing.
    for outside in ["other/ryuk", "testcontainers/ryuk/sub"] {
        let img = image(
            &format!("{outside}:1"),
            ID_RYUK,
            &[&format!("{outside}@{MANIFEST_RYUK}")],
            &[],
        );
        let facts = Facts::default().any_tag(
            &format!("iechor.io/{outside}"),
            MANIFEST_RYUK,
            AnyTagFact::Verified,
        );
        match mount_verdict(&p, &bind_socket(), &socket(), &img, &[], &facts) {
            MountVerdict::Deny(d) => assert!(
                d.message.contains("not in the allowed list"),
                "{}",
                d.message
            ),
            other => panic!("{outside}: {other:?}"),
        }
    }
    let offline = Facts::default().any_tag(
        repo,
        MANIFEST_RYUK,
        AnyTagFact::Unavailable("registry unreachable".into()),
    );
    match mount_verdict(&p, &bind_socket(), &socket(), &ryuk, &[], &offline) {
        MountVerdict::Deny(d) => assert!(
            d.message.contains(
                "\"iechor.io/testcontainers/*:*\" could not be fetched (registry unreachable)"
            ),
            "{}",
            d.message
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn any_tag_entries_verify_lazily() {
    let p = policy(&["iechor.io/testcontainers/ryuk:*"], true, true);
    let ryuk = image(
        "testcontainers/ryuk:0.5.1",
        ID_RYUK,
        &[&format!("testcontainers/ryuk@{MANIFEST_RYUK}")],
        &[],
    );
    let repo = "iechor.io/testcontainers/ryuk";
    let verified = Facts::default().any_tag(repo, MANIFEST_RYUK, AnyTagFact::Verified);
    assert!(matches!(
        mount_verdict(&p, &bind_socket(), &socket(), &ryuk, &[], &verified),
        MountVerdict::Rewrite { .. }
    ));
    let mismatch = Facts::default().any_tag(repo, MANIFEST_RYUK, AnyTagFact::Mismatch);
    assert!(matches!(
        mount_verdict(&p, &bind_socket(), &socket(), &ryuk, &[], &mismatch),
        MountVerdict::Deny(_)
    ));
    let offline = Facts::default().any_tag(
        repo,
        MANIFEST_RYUK,
        AnyTagFact::Unavailable("registry unreachable".into()),
    );
    match mount_verdict(&p, &bind_socket(), &socket(), &ryuk, &[], &offline) {
        MountVerdict::Deny(d) => assert!(
            d.message
                .contains("could not be fetched (registry unreachable)"),
            "{}",
            d.message
        ),
        other => panic!("{other:?}"),
    }
    // A local image with no repo digest of that repository is never verified.
    let local = image("testcontainers/ryuk:0.5.1", ID_RYUK, &[], &[]);
    assert!(matches!(
        mount_verdict(&p, &bind_socket(), &socket(), &local, &[], &verified),
        MountVerdict::Deny(_)
    ));
}

#[test]
fn never_fetched_digests_deny_and_say_why() {
    let p = policy(&["iechor:cli"], true, true);
    let facts = Facts::default().unavailable(
        "iechor.io/library/iechor:cli",
        "registry unreachable: connection refused",
    );
    match mount_verdict(&p, &bind_socket(), &socket(), &cli_image(), &[], &facts) {
        MountVerdict::Deny(d) => {
            assert!(d.message.starts_with("enhanced container isolation: iechor socket mount denied for container with image \"iechor.io/library/iechor\"; the digests of the allowed image \"iechor.io/library/iechor:cli\" could not be fetched (registry unreachable: connection refused)"), "{}", d.message);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_directory_holding_the_socket_is_denied_even_for_allowed_images() {
    let p = policy(&["iechor:cli"], true, true);
    let body = serde_json::json!({"Image": "x", "HostConfig": {"Binds": ["/var/run:/host-run"]}});
    let mounts = container_create(&body).unwrap().mounts;
    let exp = vec![exposure("/var/run", &[SOCK.to_owned()])];
    match mount_verdict(&p, &mounts, &exp, &cli_image(), &[], &cli_facts()) {
        MountVerdict::Deny(d) => assert!(
            d.message
                .contains("mounting \"/var/run\" exposes the iechor socket"),
            "{}",
            d.message
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sockets_through_volumes_cannot_be_filtered_but_inherited_filtered_sockets_stay() {
    let p = policy(&["iechor:cli"], true, true);
    let body = serde_json::json!({"Image": "x", "HostConfig": {"Binds": ["sockvol:/var/run/docker.sock"], "VolumesFrom": ["parent"]}});
    let mounts = container_create(&body).unwrap().mounts;
    let vol = vec![
        Some(Exposure::Socket {
            socket: SOCK.into(),
        }),
        None,
    ];
    assert!(matches!(
        mount_verdict(&p, &mounts, &vol, &cli_image(), &[], &cli_facts()),
        MountVerdict::Deny(_)
    ));
    let inherited = vec![
        None,
        Some(Exposure::Filtered {
            socket: "/run/eci/f/parent.sock".into(),
        }),
    ];
    let v = mount_verdict(&p, &mounts, &inherited, &cli_image(), &[], &cli_facts());
    assert_eq!(
        v,
        MountVerdict::Rewrite {
            mounts: vec![],
            entry: "iechor.io/library/iechor:cli".into()
        }
    );
    // The inherited filtered socket still needs an allowed image.
    let evil = image("evil", ID_EVIL, &[], &[]);
    assert!(matches!(
        mount_verdict(&p, &mounts, &inherited, &evil, &[], &cli_facts()),
        MountVerdict::Deny(_)
    ));
}

#[test]
fn derived_images_extend_an_allowed_base_and_are_on_no_registry() {
    let base = cli_image();
    let derived = image("mytool:dev", ID_EVIL, &[], &["l1", "l2"]);
    let on = policy(&["iechor:cli"], true, true);
    let off = policy(&["iechor:cli"], false, true);
    let verdict = |p: &Policy, img: &ImageFacts, bases: &[ImageFacts]| {
        image_verdict(p, img, bases, &cli_facts())
    };
    assert_eq!(
        verdict(&on, &derived, std::slice::from_ref(&base)),
        ImageVerdict::Allowed {
            entry: "iechor.io/library/iechor:cli".into(),
            derived_from: Some("iechor.io/library/iechor".into())
        }
    );
    assert!(matches!(
        verdict(&off, &derived, std::slice::from_ref(&base)),
        ImageVerdict::Denied { .. }
    ));
    // The base's chain must be a prefix; an equal chain is a config-only build.
    let unrelated = image("mytool:dev", ID_EVIL, &[], &["x1", "l1"]);
    assert!(matches!(
        verdict(&on, &unrelated, std::slice::from_ref(&base)),
        ImageVerdict::Denied { .. }
    ));
    let same_layers = image("mytool:dev", ID_EVIL, &[], &["l1"]);
    assert!(matches!(
        verdict(&on, &same_layers, std::slice::from_ref(&base)),
        ImageVerdict::Allowed { .. }
    ));
    let no_layers = image("mytool:dev", ID_EVIL, &[], &[]);
    assert!(matches!(
        verdict(&on, &no_layers, &[image("iechor:cli", ID_CLI, &[], &[])]),
        ImageVerdict::Denied { .. }
    ));
    // An image that is on a registry is judged by its own digests, not as derived.
    let pushed = image(
        "mytool:dev",
        ID_EVIL,
        &[&format!("mytool@{MANIFEST_RYUK}")],
        &["l1", "l2"],
    );
    assert!(matches!(
        verdict(&on, &pushed, std::slice::from_ref(&base)),
        ImageVerdict::Denied { .. }
    ));
    // A base that is itself not allowed lends nothing.
    let fake_base = image("iechor:cli", ID_EVIL, &[], &["l1"]);
    assert!(matches!(
        verdict(&on, &derived, &[fake_base]),
        ImageVerdict::Denied { .. }
    ));
}

#[test]
fn host_privileges_are_refused_unless_the_admin_lists_the_image_for_the_main_socket() {
    let text = serde_json::json!({
        "configurationFileVersion": 2,
        "enhancedContainerIsolation": {
            "locked": true, "value": true,
            "iechorSocketMount": {"imageList": {"images": ["iechor:cli"]}},
            "eciGuard": {"hostAccess": {"images": ["iechor:cli"]}}
        }
    });
    let listed = load(Some(&text.to_string()), None).unwrap().policy;
    let unlisted = policy(&["iechor:cli"], true, true);
    let off = policy(&[], true, false);
    let flags = crate::privileges::container_create(
        &serde_json::json!({"Image": "x", "HostConfig": {"Privileged": true}}),
    )
    .unwrap();
    let facts = cli_facts();
    let cli = cli_image();
    let other = image("busybox", "sha256:other", &[], &["l1"]);
    // Listed and verified by digest, through the main socket: allowed.
    assert_eq!(
        host_verdict(&listed, Via::Main, &flags, Some(&cli), &facts),
        Ok(())
    );
    // The same image through a filtered socket: never.
    let d = host_verdict(&listed, Via::Filtered, &flags, Some(&cli), &facts).unwrap_err();
    assert_eq!(d.kind, BlockKind::HostAccess);
    assert!(d.message.contains("filtered socket"), "{}", d.message);
    // Another image, or a retag whose digests do not match, or no list at all.
    for (p, img) in [(&listed, &other), (&unlisted, &cli)] {
        let d = host_verdict(p, Via::Main, &flags, Some(img), &facts).unwrap_err();
        assert_eq!(d.kind, BlockKind::HostAccess);
        assert_eq!(d.status, 403);
        assert!(
            d.message.starts_with(
                "enhanced container isolation: host access denied for container with image \""
            ),
            "{}",
            d.message
        );
        assert!(
            d.message
                .contains("Privileged gives the container the host"),
            "{}",
            d.message
        );
    }
    let retagged = image("iechor:cli", "sha256:retagged", &[], &["l1"]);
    assert!(host_verdict(&listed, Via::Main, &flags, Some(&retagged), &facts).is_err());
    // ECI off, or nothing asked for: passes.
    assert_eq!(
        host_verdict(&off, Via::Filtered, &flags, Some(&other), &facts),
        Ok(())
    );
    assert_eq!(
        host_verdict(&unlisted, Via::Filtered, &[], Some(&other), &facts),
        Ok(())
    );
    // A kernel filesystem volume is a host-access refusal, not an unreadable request.
    let e = crate::mounts::volume_create(
        &serde_json::json!({"Name": "v", "DriverOpts": {"type": "proc", "device": "proc"}}),
    )
    .unwrap_err();
    let d = body_denial(&e);
    assert_eq!((d.kind, d.status), (BlockKind::HostAccess, 403));
    assert_eq!(
        swarm_join_verdict(&Policy::default()).unwrap_err().kind,
        BlockKind::HostAccess
    );
}
