//! Tests of the route table against the API reference, of the classifier against targets that
//! would be bypasses if read differently from the engine, and of the command attribution.

use std::collections::HashSet;

use super::*;
use crate::commands::{CommandEntry, Group, COMMANDS};

/// The reference sits in `shared/` beside the repository (locally and in CI); override with
/// `ECI_ENGINE_API_SWAGGER`.
fn swagger() -> serde_yaml_ng::Value {
    let path = std::env::var("ECI_ENGINE_API_SWAGGER").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/reference/engine-api-swagger.yaml"
        )
        .to_owned()
    });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the Engine API reference at {path}: {e}"));
    serde_yaml_ng::from_str(&text).expect("reference is YAML")
}

/// Sample values per reference parameter; `{name}` routes take names with slashes (images,
/// plugins, volumes), including names that end like another route's suffix.
fn samples(param: &str) -> &'static [&'static str] {
    match param {
        "name" => &[
            "busybox",
            "a/b",
            "localhost:5000/ns/img:1.0",
            "img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "foo/json",
            "foo/push",
            "x/tag",
            "create",
        ],
        _ => &["abc123", "c_1.x-y"],
    }
}

fn fill(pattern: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let close = rest.find('}').unwrap();
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out + rest
}

fn param_of(pattern: &str) -> Option<&str> {
    let open = pattern.find('{')?;
    Some(&pattern[open + 1..open + pattern[open..].find('}')?])
}

fn encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[test]
fn every_reference_route_is_classified_to_its_row() {
    let doc = swagger();
    let paths = doc["paths"].as_mapping().expect("paths");
    let mut seen = HashSet::new();
    for (path, ops) in paths {
        let path = path.as_str().unwrap();
        for (method, _) in ops.as_mapping().unwrap() {
            let method = method.as_str().unwrap().to_ascii_uppercase();
            if method == "PARAMETERS" {
                continue;
            }
            let values: Vec<&str> = match param_of(path) {
                Some(p) => samples(p).to_vec(),
                None => vec![""],
            };
            for value in values {
                let plain = fill(path, value);
                let encoded = fill(path, &encode_all(value));
                for (target, version) in [
                    (plain.clone(), None),
                    (format!("/v1.41{plain}"), Some("1.41")),
                    (format!("/v1.56{encoded}?x=1"), Some("1.56")),
                ] {
                    let c = classify(&method, &target)
                        .unwrap_or_else(|e| panic!("{method} {target}: {e}"));
                    assert_eq!(
                        (c.route.method, c.route.pattern),
                        (method.as_str(), path),
                        "{target}"
                    );
                    assert_eq!(c.version.as_deref(), version, "{target}");
                    assert_eq!(c.path, plain, "{target}");
                    if let Some(p) = param_of(path) {
                        assert_eq!(c.param(p), Some(value), "{method} {target}");
                    }
                }
            }
            assert!(
                seen.insert((method.clone(), path.to_owned())),
                "{method} {path} twice"
            );
        }
    }
    assert!(
        seen.len() >= 108,
        "the reference lists {} operations",
        seen.len()
    );
    let beyond: Vec<_> = ROUTES
        .iter()
        .filter(|r| !seen.contains(&(r.method.to_owned(), r.pattern.to_owned())))
        .map(|r| r.endpoint)
        .collect();
    assert_eq!(
        beyond,
        [
            Endpoint::CheckpointList,
            Endpoint::CheckpointCreate,
            Endpoint::CheckpointDelete,
            Endpoint::ContainerCopy,
            Endpoint::BuildCancel,
            Endpoint::Grpc
        ],
        "rows beyond the reference are the engine's extra routes"
    );
}

#[derive(Debug, Clone, Copy)]
enum Want {
    Ok(Endpoint, &'static [(&'static str, &'static str)]),
    Err(fn(&ClassifyError) -> bool),
}
use Want::Ok as Is;

fn check(cases: &[(&str, &str, Want)]) {
    for (method, target, want) in cases {
        let got = classify(method, target);
        match (want, &got) {
            (Want::Ok(endpoint, params), Ok(c)) => {
                assert_eq!(c.route.endpoint, *endpoint, "{method} {target}");
                let got: Vec<(&str, &str)> =
                    c.params.iter().map(|(n, v)| (*n, v.as_str())).collect();
                assert_eq!(got, *params, "{method} {target}");
            }
            (Want::Err(is), Err(e)) => assert!(is(e), "{method} {target}: unexpected {e:?}"),
            _ => panic!("{method} {target}: want {want:?}, got {got:?}"),
        }
    }
}

/// No route, or only routes of other methods (`DELETE /containers/{name:.*}` takes many paths):
/// the engine answers 404 to both.
const NOT_FOUND: Want = Want::Err(|e| {
    matches!(
        e,
        ClassifyError::NoRoute { .. } | ClassifyError::MethodNotAllowed { .. }
    )
});
const NON_CANONICAL: Want = Want::Err(|e| matches!(e, ClassifyError::NonCanonical { .. }));
const WRONG_METHOD: Want = Want::Err(|e| matches!(e, ClassifyError::MethodNotAllowed { .. }));
const UNKNOWN_METHOD: Want = Want::Err(|e| matches!(e, ClassifyError::UnknownMethod(_)));
const BAD_VERSION: Want = Want::Err(|e| matches!(e, ClassifyError::BadVersion(_)));
const BAD_ESCAPE: Want = Want::Err(|e| matches!(e, ClassifyError::InvalidEscape(_)));
const CONTROL: Want = Want::Err(|e| matches!(e, ClassifyError::ControlByte(_)));
const BAD_BYTE: Want = Want::Err(|e| matches!(e, ClassifyError::InvalidByte { .. }));
const NOT_ORIGIN: Want = Want::Err(|e| matches!(e, ClassifyError::NotOriginForm));
const FRAGMENT: Want = Want::Err(|e| matches!(e, ClassifyError::Fragment));
const EMPTY: Want = Want::Err(|e| matches!(e, ClassifyError::EmptyParam { .. }));

#[test]
fn encodings_are_decoded_before_routing_as_the_engine_does() {
    use Endpoint::*;
    check(&[
        ("POST", "/containers%2Fcreate", Is(ContainerCreate, &[])),
        ("POST", "/containers%2fcreate", Is(ContainerCreate, &[])),
        ("POST", "/containers/cr%65ate", Is(ContainerCreate, &[])),
        ("POST", "/%63ontainers/create", Is(ContainerCreate, &[])),
        (
            "POST",
            "/%761.41/containers/create",
            Is(ContainerCreate, &[]),
        ),
        (
            "POST",
            "/v1.41%2Fcontainers%2Fcreate",
            Is(ContainerCreate, &[]),
        ),
        (
            "POST",
            "/images/a%2Fb/push",
            Is(ImagePush, &[("name", "a/b")]),
        ),
        (
            "POST",
            "/images/a/b/p%75sh",
            Is(ImagePush, &[("name", "a/b")]),
        ),
        (
            "POST",
            "/images/a%23b/push",
            Is(ImagePush, &[("name", "a#b")]),
        ),
        (
            "POST",
            "/images/evil%3F/push",
            Is(ImagePush, &[("name", "evil?")]),
        ),
        (
            "POST",
            "/images/my%20image/push",
            Is(ImagePush, &[("name", "my image")]),
        ),
        ("POST", "/volumes%2Fcreate", Is(VolumeCreate, &[])),
        (
            "POST",
            "/services/x/update",
            Is(ServiceUpdate, &[("id", "x")]),
        ),
        // `{id}` is `[^/]+`: a decoded slash leaves the service routes.
        ("POST", "/services/x%2Fy/update", NOT_FOUND),
        (
            "POST",
            "/containers/x%2Fy/start",
            Is(ContainerStart, &[("id", "x/y")]),
        ),
        // `?` encoded stays in the path, where no route takes it.
        ("POST", "/containers/create%3Fname=x", NOT_FOUND),
        ("POST", "/images/myimage/push%3Ftag=latest", NOT_FOUND),
        ("GET", "/containers/json%3Fall=1", NOT_FOUND),
    ]);
}

#[test]
fn non_canonical_paths_are_refused_as_the_engine_redirects_them() {
    check(&[
        ("POST", "//containers/create", NON_CANONICAL),
        ("POST", "/containers//create", NON_CANONICAL),
        ("POST", "/./containers/create", NON_CANONICAL),
        ("POST", "/containers/./create", NON_CANONICAL),
        ("POST", "/containers/x/../create", NON_CANONICAL),
        ("POST", "/images/x/../../containers/create", NON_CANONICAL),
        (
            "POST",
            "/containers/%2e%2e/containers/create",
            NON_CANONICAL,
        ),
        ("POST", "/containers%2F%2Fcreate", NON_CANONICAL),
        ("POST", "/containers/create/.", NON_CANONICAL),
        ("POST", "/v1.41//containers/create", NON_CANONICAL),
        ("POST", "/images//push", NON_CANONICAL),
        ("POST", "/images/a%2F/push", NON_CANONICAL),
        ("GET", "/", NOT_FOUND),
        // mux keeps a trailing slash, and no route has one.
        ("POST", "/containers/create/", NOT_FOUND),
        ("GET", "/containers/json/", NOT_FOUND),
        ("POST", "/images/a/push/", NOT_FOUND),
        ("GET", "/networks/", NOT_FOUND),
        ("DELETE", "/images/", EMPTY),
        ("DELETE", "/containers/", EMPTY),
        ("GET", "/volumes/", EMPTY),
    ]);
}

#[test]
fn version_prefixes() {
    use Endpoint::*;
    for (target, version) in [
        ("/v1.41/containers/create", Some("1.41")),
        ("/v1.43/containers/create", Some("1.43")),
        ("/v1/containers/create", Some("1")),
        ("/v1.56/containers/create", Some("1.56")),
        ("/containers/create", None),
    ] {
        let c = classify("POST", target).unwrap();
        assert_eq!(
            (c.route.endpoint, c.version.as_deref()),
            (ContainerCreate, version)
        );
        assert_eq!(c.path, "/containers/create");
    }
    check(&[
        ("POST", "/v1.x/containers/create", NOT_FOUND),
        ("POST", "/V1.41/containers/create", NOT_FOUND),
        ("POST", "/v/containers/create", NOT_FOUND),
        ("POST", "/v1.41/v1.41/containers/create", NOT_FOUND),
        ("POST", "/vv1.41/containers/create", NOT_FOUND),
        ("GET", "/v1.41", NOT_FOUND),
        ("POST", "/v1..41/containers/create", BAD_VERSION),
        ("POST", "/v.41/containers/create", BAD_VERSION),
        ("POST", "/v1.41./containers/create", BAD_VERSION),
        (
            "POST",
            "/v1.41.0.0.0.0.0.0.0/containers/create",
            BAD_VERSION,
        ),
        ("GET", "/version", Is(SystemVersion, &[])),
        ("GET", "/v1.41/version", Is(SystemVersion, &[])),
        ("GET", "/v1.41/volumes", Is(VolumeList, &[])),
    ]);
}

#[test]
fn case_and_methods_are_exact() {
    use Endpoint::*;
    check(&[
        ("POST", "/Containers/create", NOT_FOUND),
        ("POST", "/containers/Create", NOT_FOUND),
        ("POST", "/CONTAINERS/CREATE", NOT_FOUND),
        ("POST", "/Images/a/push", NOT_FOUND),
        ("POST", "/images/a/PUSH", NOT_FOUND),
        ("post", "/containers/create", UNKNOWN_METHOD),
        ("Post", "/containers/create", UNKNOWN_METHOD),
        ("PATCH", "/containers/create", UNKNOWN_METHOD),
        ("OPTIONS", "/containers/create", UNKNOWN_METHOD),
        ("CONNECT", "/containers/create", UNKNOWN_METHOD),
        ("", "/containers/create", UNKNOWN_METHOD),
        ("POST ", "/containers/create", UNKNOWN_METHOD),
        ("GET", "/containers/create", WRONG_METHOD),
        ("HEAD", "/containers/json", WRONG_METHOD),
        ("PUT", "/images/a/push", WRONG_METHOD),
        ("HEAD", "/_ping", Is(SystemPingHead, &[])),
        ("GET", "/_ping", Is(SystemPing, &[])),
        (
            "HEAD",
            "/containers/c/archive",
            Is(ContainerArchiveInfo, &[("id", "c")]),
        ),
        (
            "PUT",
            "/containers/c/archive",
            Is(PutContainerArchive, &[("id", "c")]),
        ),
        ("PUT", "/volumes/v", Is(VolumeUpdate, &[("name", "v")])),
    ]);
}

#[test]
fn queries_fragments_and_request_forms() {
    use Endpoint::*;
    let c = classify("POST", "/v1.43/images/myimage/push?tag=latest").unwrap();
    assert_eq!(c.route.endpoint, ImagePush);
    assert_eq!(c.raw_query.as_deref(), Some("tag=latest"));
    assert_eq!(
        c.query_pairs().unwrap(),
        [("tag".to_owned(), "latest".to_owned())]
    );
    let c = classify("POST", "/containers/create?").unwrap();
    assert_eq!(c.raw_query.as_deref(), Some(""));
    assert_eq!(
        classify("POST", "/containers/create").unwrap().raw_query,
        None
    );
    // Only the first `?` splits; the rest is query.
    let c = classify("POST", "/images/create?fromImage=a?b").unwrap();
    assert_eq!(
        c.query_pairs().unwrap(),
        [("fromImage".to_owned(), "a?b".to_owned())]
    );
    let c = classify("POST", "/images/create?fromImage=allowed;fromImage=evil").unwrap();
    assert!(matches!(c.query_pairs(), Err(QueryError::Semicolon(_))));
    check(&[
        ("POST", "/containers/create#x", FRAGMENT),
        ("POST", "/containers/create?name=a#x", FRAGMENT),
        ("POST", "/images/a#/push", FRAGMENT),
        ("POST", "http://docker/containers/create", NOT_ORIGIN),
        ("POST", "HTTP://docker/containers/create", NOT_ORIGIN),
        ("GET", "*", NOT_ORIGIN),
        ("CONNECT", "docker:2375", UNKNOWN_METHOD),
        ("GET", "docker:2375", NOT_ORIGIN),
        ("POST", "containers/create", NOT_ORIGIN),
        ("POST", "", NOT_ORIGIN),
        ("POST", "?/containers/create", NOT_ORIGIN),
    ]);
}

#[test]
fn bytes_escapes_and_lengths() {
    use Endpoint::*;
    check(&[
        ("POST", "/containers/create\0", BAD_BYTE),
        ("POST", "/containers/create x", BAD_BYTE),
        ("POST", "/containers/\tcreate", BAD_BYTE),
        ("POST", "/containers/create\x7f", BAD_BYTE),
        ("POST", "/images/caf\u{e9}/push", BAD_BYTE),
        ("POST", "/containers/create%00", CONTROL),
        ("POST", "/images/a%0Ab/push", CONTROL),
        ("POST", "/images/a%0Db/push", CONTROL),
        ("POST", "/images/a%7Fb/push", CONTROL),
        ("POST", "/containers/create%", BAD_ESCAPE),
        ("POST", "/containers/create%2", BAD_ESCAPE),
        ("POST", "/containers/cr%zzeate", BAD_ESCAPE),
        ("POST", "/containers%%32Fcreate", BAD_ESCAPE),
        (
            "POST",
            "/images/%ff/push",
            Want::Err(|e| matches!(e, ClassifyError::NotUtf8)),
        ),
    ]);
    let long_name = "a/".repeat(4000) + "b";
    let c = classify("POST", &format!("/images/{long_name}/push")).unwrap();
    assert_eq!(
        (c.route.endpoint, c.param("name")),
        (ImagePush, Some(long_name.as_str()))
    );
    let overlong = format!("/containers/create?x={}", "a".repeat(MAX_TARGET_LEN));
    let e = classify("POST", &overlong).unwrap_err();
    assert!(matches!(e, ClassifyError::TooLong { .. }), "{e}");
    assert_eq!(e.status(), 414);
    let e = classify("POST", &format!("/{}", "x".repeat(100_000))).unwrap_err();
    assert!(
        e.to_string().len() < 400,
        "messages quote a bounded excerpt: {e}"
    );
}

#[test]
fn names_ending_like_another_route_go_where_the_engine_sends_them() {
    use Endpoint::*;
    check(&[
        (
            "GET",
            "/images/foo/json/json",
            Is(ImageInspect, &[("name", "foo/json")]),
        ),
        ("GET", "/images/json", Is(ImageList, &[])),
        (
            "GET",
            "/images/json/json",
            Is(ImageInspect, &[("name", "json")]),
        ),
        (
            "GET",
            "/images/search/json",
            Is(ImageInspect, &[("name", "search")]),
        ),
        ("GET", "/images/get", Is(ImageGetAll, &[])),
        (
            "GET",
            "/images/x/json/get",
            Is(ImageGet, &[("name", "x/json")]),
        ),
        (
            "POST",
            "/images/foo/push/tag",
            Is(ImageTag, &[("name", "foo/push")]),
        ),
        (
            "POST",
            "/images/foo/tag/push",
            Is(ImagePush, &[("name", "foo/tag")]),
        ),
        (
            "POST",
            "/images/create/push",
            Is(ImagePush, &[("name", "create")]),
        ),
        ("POST", "/images/prune", Is(ImagePrune, &[])),
        (
            "DELETE",
            "/images/foo/push",
            Is(ImageDelete, &[("name", "foo/push")]),
        ),
        (
            "DELETE",
            "/images/localhost:5000/a/b:1",
            Is(ImageDelete, &[("name", "localhost:5000/a/b:1")]),
        ),
        // The checkpoint router is registered first: its DELETE wins over `{name:.*}`.
        (
            "DELETE",
            "/containers/c/checkpoints/k",
            Is(CheckpointDelete, &[("id", "c"), ("checkpoint", "k")]),
        ),
        (
            "DELETE",
            "/containers/c/checkpoints/k/x",
            Is(ContainerDelete, &[("id", "c/checkpoints/k/x")]),
        ),
        (
            "DELETE",
            "/containers/a/b",
            Is(ContainerDelete, &[("id", "a/b")]),
        ),
        (
            "GET",
            "/containers/a/checkpoints",
            Is(CheckpointList, &[("id", "a")]),
        ),
        (
            "POST",
            "/containers/create/start",
            Is(ContainerStart, &[("id", "create")]),
        ),
        (
            "POST",
            "/containers/x/kill/start",
            Is(ContainerStart, &[("id", "x/kill")]),
        ),
        (
            "POST",
            "/containers/x/attach",
            Is(ContainerAttach, &[("id", "x")]),
        ),
        (
            "GET",
            "/containers/x/attach/ws",
            Is(ContainerAttachWebsocket, &[("id", "x")]),
        ),
        (
            "GET",
            "/containers/json/json",
            Is(ContainerInspect, &[("id", "json")]),
        ),
        ("GET", "/tasks/t/logs", Is(TaskLogs, &[("id", "t")])),
        ("GET", "/services/s/logs", Is(ServiceLogs, &[("id", "s")])),
        ("GET", "/networks/a/b", Is(NetworkInspect, &[("id", "a/b")])),
        ("POST", "/networks/create", Is(NetworkCreate, &[])),
        (
            "POST",
            "/networks/create/connect",
            Is(NetworkConnect, &[("id", "create")]),
        ),
        ("GET", "/plugins/privileges", Is(GetPluginPrivileges, &[])),
        ("POST", "/plugins/pull", Is(PluginPull, &[])),
        (
            "POST",
            "/plugins/a/b:latest/set",
            Is(PluginSet, &[("name", "a/b:latest")]),
        ),
        (
            "GET",
            "/volumes/create",
            Is(VolumeInspect, &[("name", "create")]),
        ),
        ("POST", "/volumes/x", WRONG_METHOD),
        ("POST", "/session", Is(Session, &[])),
        ("POST", "/grpc", Is(Grpc, &[])),
        ("POST", "/build/cancel", Is(BuildCancel, &[])),
        (
            "POST",
            "/containers/c/copy",
            Is(ContainerCopy, &[("id", "c")]),
        ),
        ("GET", "/debug/vars", NOT_FOUND),
        ("GET", "/debug/pprof/", NOT_FOUND),
    ]);
}

#[test]
fn table_is_well_formed() {
    let mut endpoints = HashSet::new();
    let mut keys = HashSet::new();
    for r in ROUTES {
        assert!(
            endpoints.insert(r.endpoint),
            "{:?} has two rows",
            r.endpoint
        );
        assert!(
            keys.insert((r.method, r.engine)),
            "{} {} twice",
            r.method,
            r.engine
        );
        assert!(["GET", "HEAD", "POST", "PUT", "DELETE"].contains(&r.method));
        assert!(
            classify::template_is_supported(r.engine),
            "unknown variable pattern in {}",
            r.engine
        );
        let skeleton = |t: &'static str| -> Vec<&'static str> {
            t.split('/')
                .map(|s| if s.starts_with('{') { "{}" } else { s })
                .collect()
        };
        assert_eq!(skeleton(r.pattern), skeleton(r.engine), "{:?}", r.endpoint);
        assert_eq!(r.endpoint.route(), r);
    }
}

#[test]
fn every_route_is_attributed_with_known_names() {
    let grouped: Vec<&str> = Group::ALL.iter().map(|g| g.management_command()).collect();
    let name_ok = |n: &str| COMMANDS.contains(&n) && !grouped.contains(&n);
    for r in ROUTES {
        assert!(
            r.always_allowed() || !r.groups.is_empty() || !r.commands.is_empty(),
            "{:?} names no command and no group, so a deny list could never block it",
            r.endpoint
        );
        for n in r.commands.iter().chain(r.used_by) {
            assert!(
                name_ok(n),
                "{:?}: \"{n}\" is not a command name an entry parses to",
                r.endpoint
            );
        }
        for n in r.commands {
            assert!(
                !r.used_by.contains(n),
                "{:?}: \"{n}\" in commands and used_by",
                r.endpoint
            );
        }
    }
    for g in Group::ALL {
        for n in group_commands(g) {
            assert!(name_ok(n), "{g}: \"{n}\"");
        }
    }
    let always: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.always_allowed())
        .map(|r| r.endpoint)
        .collect();
    assert_eq!(always, [Endpoint::SystemPing, Endpoint::SystemPingHead]);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allow,
    Deny,
}

fn passes(kind: Kind, list: &[&str], route: &Route) -> bool {
    let entries: Vec<CommandEntry> = list
        .iter()
        .map(|s| CommandEntry::parse(s).unwrap())
        .collect();
    if route.always_allowed() {
        return true;
    }
    match kind {
        Kind::Deny => !entries.iter().any(|e| matches(route, e, false)),
        Kind::Allow => entries.iter().any(|e| matches(route, e, true)),
    }
}

/// The requests of `docker run -it busybox` (image missing, then a resize, a signal, a version
/// check), as seen on the engine.
const RUN_IT: &[(&str, &str)] = &[
    ("HEAD", "/_ping"),
    ("GET", "/v1.41/version"),
    ("POST", "/v1.41/containers/create"),
    ("POST", "/v1.41/images/create?fromImage=busybox&tag=latest"),
    ("POST", "/v1.41/containers/create"),
    (
        "POST",
        "/v1.41/containers/0123abc/attach?stderr=1&stdin=1&stdout=1&stream=1",
    ),
    ("POST", "/v1.41/containers/0123abc/wait?condition=next-exit"),
    ("POST", "/v1.41/containers/0123abc/start"),
    ("POST", "/v1.41/containers/0123abc/resize?h=24&w=80"),
    ("GET", "/v1.41/containers/0123abc/json"),
    ("POST", "/v1.41/containers/0123abc/kill?signal=SIGINT"),
];

/// A list kind, its entries, endpoints the entries match, endpoints they do not match.
type ListCase = (
    Kind,
    &'static [&'static str],
    &'static [Endpoint],
    &'static [Endpoint],
);

#[test]
fn command_lists_block_and_pass_what_they_name() {
    use Endpoint::*;
    let cases: &[ListCase] = &[
        (
            Kind::Deny,
            &["push"],
            &[ImagePush],
            &[
                PluginPush,
                ImageTag,
                ImageCreate,
                ContainerCreate,
                ImageBuild,
                SystemPing,
            ],
        ),
        (
            Kind::Deny,
            &["build"],
            &[ImageBuild, Session, Grpc, BuildPrune, BuildCancel],
            &[ImageCreate, ContainerCreate, ImagePush, ImagePrune],
        ),
        (
            Kind::Deny,
            &["build*"],
            &[ImageBuild, Session, Grpc, BuildPrune, BuildCancel],
            &[ImageCreate, ImagePush],
        ),
        (
            Kind::Deny,
            &["container*"],
            &[
                ContainerCreate,
                ContainerPrune,
                ImageCommit,
                ExecStart,
                ContainerKill,
            ],
            &[
                ImageCreate,
                ImagePush,
                VolumeCreate,
                SystemVersion,
                SystemPingHead,
            ],
        ),
        (
            Kind::Deny,
            &["image*"],
            &[ImageCreate, ImagePush, ImageBuild, ImageDelete, Session],
            &[ContainerCreate, ContainerStart, VolumeCreate],
        ),
        (
            Kind::Deny,
            &["system*"],
            &[
                SystemEvents,
                SystemInfo,
                SystemDataUsage,
                ContainerPrune,
                BuildPrune,
                VolumePrune,
            ],
            &[SystemPing, SystemVersion, ContainerCreate],
        ),
        (
            Kind::Deny,
            &["pull"],
            &[ImageCreate],
            &[ContainerCreate, ImagePush, PluginPull],
        ),
        (
            Kind::Deny,
            &["run"],
            &[ContainerCreate],
            &[ContainerStart, ImageCreate],
        ),
        (
            Kind::Deny,
            &["plugin"],
            &[PluginPull, PluginSet, PluginPush],
            &[ImagePush],
        ),
        (
            Kind::Allow,
            &["exec"],
            &[
                ContainerInspect,
                ContainerExec,
                ExecStart,
                ExecResize,
                ExecInspect,
                SystemPing,
            ],
            &[ContainerCreate, ContainerStart, ImageCreate],
        ),
        (
            Kind::Allow,
            &["container*"],
            &[
                ContainerCreate,
                ImageCreate,
                ContainerStart,
                SystemEvents,
                SystemInfo,
            ],
            &[ImagePush, ImageBuild, VolumeCreate, NetworkCreate],
        ),
        (
            Kind::Allow,
            &["image*"],
            &[ImageBuild, Session, Grpc, ImagePush, ImageCreate],
            &[ContainerCreate, ContainerInspect],
        ),
        (
            Kind::Allow,
            &["push"],
            &[ImagePush, SystemInfo],
            &[ImageCreate, ImageTag],
        ),
        (
            Kind::Allow,
            &[],
            &[SystemPing, SystemPingHead],
            &[SystemVersion, ContainerList],
        ),
    ];
    for (kind, list, hit, miss) in cases {
        let allow = *kind == Kind::Allow;
        for e in *hit {
            assert_eq!(
                passes(*kind, list, e.route()),
                allow,
                "{list:?} (allow: {allow}) on {e:?}"
            );
        }
        for e in *miss {
            let always = e.route().always_allowed();
            assert_eq!(
                passes(*kind, list, e.route()),
                !allow || always,
                "{list:?} on {e:?}"
            );
        }
    }
}

#[test]
fn allow_run_runs_docker_run_it_end_to_end() {
    for list in [&["run"][..], &["container*"][..]] {
        for (method, target) in RUN_IT {
            let c = classify(method, target).unwrap();
            assert!(
                passes(Kind::Allow, list, c.route),
                "allow {list:?} blocks {method} {target}"
            );
        }
    }
    let blocked: Vec<&str> = RUN_IT
        .iter()
        .filter(|(m, t)| !passes(Kind::Allow, &["exec"], classify(m, t).unwrap().route))
        .map(|(_, t)| *t)
        .collect();
    assert!(
        blocked.iter().any(|t| t.ends_with("/containers/create")),
        "{blocked:?}"
    );
}

#[test]
fn the_requests_that_may_change_what_an_image_name_points_to() {
    let changing = [
        ("POST", "/v1.47/images/create?fromImage=x&tag=1"),
        ("POST", "/images/load"),
        ("POST", "/images/x:1/tag?repo=y&tag=2"),
        ("DELETE", "/images/x:1"),
        ("POST", "/images/prune"),
        ("POST", "/build?t=x:1"),
        ("POST", "/commit?container=c&repo=x"),
        ("POST", "/grpc"),
        ("POST", "/v1.41/images/x:1/push"),
    ];
    for (method, target) in changing {
        let c = classify(method, target).unwrap();
        assert!(c.route.changes_image_names(), "{method} {target}");
    }
    let unchanged = [
        ("GET", "/images/x:1/json"),
        ("GET", "/images/json"),
        ("GET", "/images/x:1/get"),
        ("POST", "/containers/create"),
        ("POST", "/build/prune"),
        ("POST", "/session"),
    ];
    for (method, target) in unchanged {
        let c = classify(method, target).unwrap();
        assert!(!c.route.changes_image_names(), "{method} {target}");
    }
}
