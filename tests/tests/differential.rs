//! Differential checks of eci-policy against the real engine, where the engine itself is the
//! oracle: request targets are routed by moby as we classify them, image references are
//! normalised by moby as we normalise them, and every mount the engine registers for a create
//! body is one we read from it. Bounded, seeded generated sets (a few hundred cases,
//! seconds) so they run with the normal suite; `ECI_DIFF_SEED` draws another set and
//! `ECI_DIFF_CASES` a larger one.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use eci_e2e::{build_image, shared, Engine, ImageSpec};
use eci_policy::gojson::{self, Limits};
use eci_policy::mounts::{clean_path, container_create, MountSource};
use eci_policy::reference::Reference;
use eci_policy::routes::{classify, ClassifyError, Route, ROUTES};

/// Cases per check; `ECI_DIFF_CASES` asks for a longer run.
fn cases() -> usize {
    std::env::var("ECI_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

fn seed() -> u64 {
    std::env::var("ECI_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00ec_1d1f)
}

/// One engine answer: status and body (the message of an error).
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Answer {
    fn message(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.body.clone())
    }
}

/// Sends one HTTP/1.0 request (the engine closes after it, and never chunks the answer) with
/// the target exactly as given: the point is to see how the engine reads the raw bytes.
fn send(socket: &Path, method: &str, target: &str) -> Answer {
    send_body(socket, method, target, "")
}

/// [`send`] with a JSON body.
fn send_body(socket: &Path, method: &str, target: &str, body: &str) -> Answer {
    let mut stream = UnixStream::connect(socket).expect("engine socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        stream,
        "{method} {target} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request written");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {target}: no answer: {e}"));
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: not an HTTP answer: {text:?}"));
    let location = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().to_owned());
    Answer {
        status,
        location,
        body: body.trim().to_owned(),
    }
}

/// Percent-encodes all but RFC 3986's unreserved bytes, for query values.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

// ---- routing ----

/// Routes that are safe to hit on a throwaway engine with made-up object names: any route with a
/// path parameter (the object does not exist, so the handler refuses at once), and GET routes
/// without one that neither stream nor reach a registry.
fn sendable(route: &Route) -> bool {
    let reaches_out = [
        "/distribution/",
        "/plugins/pull",
        "/plugins/privileges",
        "/images/search",
        "/auth",
        "/upgrade",
    ];
    let streams = [
        "/events",
        "/session",
        "/grpc",
        "/build",
        "/images/get",
        "/images/load",
        "/images/create",
    ];
    if route.method == "HEAD"
        || reaches_out
            .iter()
            .chain(&streams)
            .any(|p| route.engine.contains(p))
    {
        return false;
    }
    route.engine.contains('{') || route.method == "GET"
}

/// A made-up object name: starts with `zz` (never an ID prefix, never an existing object), may
/// hold `/` and `:` where the variable takes them, and may have one byte percent-encoded.
fn name(rng: &mut fastrand::Rng, any: bool) -> (String, String) {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789._-";
    let mut value = String::from("zz");
    for _ in 0..rng.usize(1..10) {
        value.push(char::from(pick(rng, CHARS)));
    }
    if any && rng.bool() {
        let suffix = pick(
            rng,
            &["/zzb", "/json", "/push", "/tag", ":1.0", "/zzc/history"],
        );
        value.push_str(suffix);
    }
    let mut raw = String::new();
    let encode_at = rng.bool().then(|| rng.usize(0..value.len()));
    for (i, b) in value.bytes().enumerate() {
        if Some(i) == encode_at {
            raw.push_str(&format!("%{b:02X}"));
        } else {
            raw.push(char::from(b));
        }
    }
    (value, raw)
}

/// Fills a mux template with made-up names: (raw target, the decoded values).
fn fill(rng: &mut fastrand::Rng, template: &str) -> (String, Vec<String>) {
    let mut target = String::new();
    let mut values = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        target.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').expect("closed variable");
        let (value, raw) = name(rng, rest[open..close].contains(':'));
        target.push_str(&raw);
        values.push(value);
        rest = &rest[close + 1..];
    }
    target.push_str(rest);
    (target, values)
}

/// Changes a well-formed target into a near miss: another method, a trailing slash, a path the
/// engine redirects, a literal in the wrong case.
fn mutate(rng: &mut fastrand::Rng, method: &mut &'static str, target: &mut String) {
    match rng.usize(0..5) {
        0 => *method = pick(rng, &["GET", "POST", "PUT", "DELETE"]),
        1 => target.push('/'),
        2 => {
            let at = target.rfind('/').unwrap_or(0);
            target.insert_str(at, pick(rng, &["/.", "/zzq/..", "/"]));
        }
        3 => *target = target.replacen(|c: char| c.is_ascii_lowercase(), "X", 1),
        _ => target.insert_str(0, pick(rng, &["/v1.41", "/v1.25", "/v1"])),
    }
}

#[test]
fn the_engine_routes_targets_as_we_classify_them() {
    let engine = Engine::start().expect("throwaway engine");
    let socket = engine.socket_path();
    let routes: Vec<&Route> = ROUTES.iter().filter(|r| sendable(r)).collect();
    // The router's own refusal, for a path no route has and for a route's path under a method
    // it does not serve; handlers' refusals carry other messages.
    let unrouted = send(socket, "GET", "/zzq/nothing");
    let wrong_method = send(socket, "PUT", "/containers/json");
    assert_eq!(unrouted.status, 404, "{unrouted:?}");
    let router_miss = |a: &Answer| {
        (a.status, a.body.as_str()) == (unrouted.status, unrouted.body.as_str())
            || (a.status, a.body.as_str()) == (wrong_method.status, wrong_method.body.as_str())
    };

    let mut rng = fastrand::Rng::with_seed(seed());
    // The table follows the API reference (1.56); routes added after 1.41 reach no handler on
    // this engine. Found by asking, and left out of both sides of the comparison.
    let (routes, newer): (Vec<&Route>, Vec<&Route>) = routes.into_iter().partition(|r| {
        let (target, _) = fill(&mut rng, r.engine);
        !router_miss(&send(socket, r.method, &target))
    });
    eprintln!(
        "routing: not served by this engine: {:?}",
        newer
            .iter()
            .map(|r| format!("{} {}", r.method, r.pattern))
            .collect::<Vec<_>>()
    );
    assert!(
        newer.len() < routes.len() / 4,
        "most routes must be served: {newer:?}"
    );
    let mut tally = [0usize; 4];
    for case in 0..cases() {
        let route = pick(&mut rng, &routes);
        let mut method = route.method;
        let (mut target, _) = fill(&mut rng, route.engine);
        if rng.usize(0..3) == 0 {
            mutate(&mut rng, &mut method, &mut target);
        }
        if rng.bool() && !target.starts_with("/v") {
            target.insert_str(0, "/v1.41");
        }
        let ours = classify(method, &target);
        if matches!(&ours, Ok(c) if !sendable(c.route) || newer.iter().any(|r| std::ptr::eq(*r, c.route)))
        {
            continue;
        }
        let answer = send(socket, method, &target);
        let what = format!("case {case}: {method} {target} → ours {ours:?}, engine {answer:?}");
        match &ours {
            Ok(c) => {
                tally[0] += 1;
                assert!(
                    !router_miss(&answer),
                    "we route it, the engine does not: {what}"
                );
                // The engine's "no such …" names the object as it read it from the path.
                let message = answer.message();
                if let [(_, value)] = c.params.as_slice() {
                    if answer.status == 404 && message.contains("zz") {
                        assert!(
                            message.contains(value.as_str()),
                            "the engine read another {}: {what}",
                            c.params[0].0
                        );
                    }
                }
            }
            Err(ClassifyError::NoRoute { .. } | ClassifyError::MethodNotAllowed { .. })
                if served_but_refused(method, &target) =>
            {
                tally[3] += 1;
            }
            Err(ClassifyError::NoRoute { .. } | ClassifyError::MethodNotAllowed { .. }) => {
                tally[1] += 1;
                assert!(
                    router_miss(&answer),
                    "we refuse as unrouted, the engine routes it: {what}"
                );
            }
            Err(ClassifyError::NonCanonical { canonical, .. }) => {
                tally[2] += 1;
                assert_eq!(answer.status, 301, "{what}");
                let location = answer.location.as_deref().unwrap_or_default();
                let location = location.split('?').next().unwrap_or_default();
                let decoded = percent_decode(location);
                assert_eq!(
                    &decoded, canonical,
                    "the engine redirects elsewhere: {what}"
                );
            }
            // Refused by us as ambiguous or malformed (400): stricter than the engine by design.
            Err(_) => tally[3] += 1,
        }
    }
    eprintln!(
        "routing: {} routed alike, {} unrouted alike, {} redirects alike, {} refused by us only",
        tally[0], tally[1], tally[2], tally[3]
    );
    assert!(
        tally[0] > cases() / 2 && tally[1] > 0 && tally[2] > 0,
        "{tally:?}"
    );
}

/// Routes the engine serves and the route table leaves out on purpose (`eci_policy::routes`
/// module docs): no client needs them, so they are refused as unknown.
fn served_but_refused(method: &str, target: &str) -> bool {
    let path = target.split('?').next().unwrap_or_default();
    let path = match path.strip_prefix("/v") {
        Some(rest) => rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.'),
        None => path,
    };
    (method, path) == ("GET", "/networks/")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- image references ----

fn component(rng: &mut fastrand::Rng) -> String {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::new();
    for run in 0..rng.usize(1..4) {
        if run > 0 {
            s.push_str(pick(rng, &[".", "_", "__", "-", "--", "---"]));
        }
        for _ in 0..rng.usize(1..6) {
            s.push(char::from(pick(rng, ALNUM)));
        }
    }
    match rng.usize(0..12) {
        0 => s.insert(0, pick(rng, &['-', '.', '_'])),
        1 => s.push_str(pick(rng, &[".", "-", "..", "___"])),
        2 => s = s.replacen(|c: char| c.is_ascii_lowercase(), "Q", 1),
        3 => s.push_str(&"a".repeat(rng.usize(100..260))),
        _ => {}
    }
    s
}

/// A reference-like string: maybe a registry, one to three path components, maybe a tag; valid
/// most of the time, with the grammar's edges (separators, case, lengths, hosts) mixed in.
fn reference(rng: &mut fastrand::Rng) -> String {
    let mut s = String::new();
    if rng.usize(0..5) < 2 {
        s.push_str(pick(
            rng,
            &[
                "localhost",
                "localhost:5000",
                "127.0.0.1:5000",
                "docker.io",
                "index.docker.io",
                "example.com",
                "reg.example.com:443",
                "Example.COM",
                "my-reg.local",
                "a_b.com",
                "-bad.com",
                "reg..com",
                "xn--bcher-kva.example",
                "10.0.0.1",
            ],
        ));
        s.push('/');
    } else if rng.usize(0..6) == 0 {
        s.push_str("library/");
    }
    let parts = rng.usize(1..4);
    let path: Vec<String> = (0..parts).map(|_| component(rng)).collect();
    s.push_str(&path.join("/"));
    if rng.usize(0..20) == 0 {
        s = "0123456789abcdef".repeat(4);
    }
    if rng.usize(0..5) < 3 {
        const TAG: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
        let first = match rng.usize(0..10) {
            0 => '.',
            1 => '-',
            _ => char::from(pick(rng, &TAG[..63])),
        };
        let len = if rng.usize(0..8) == 0 {
            rng.usize(120..135)
        } else {
            rng.usize(0..12)
        };
        let tag: String = std::iter::once(first)
            .chain((0..len).map(|_| char::from(pick(rng, TAG))))
            .collect();
        s.push(':');
        s.push_str(&tag);
    }
    s
}

/// Whether the engine keeps `s` but we refuse it by design (module docs of
/// `eci_policy::reference`): a first component that looks like a registry (a `.` or `:`) but is
/// no valid host name, which the engine then takes as part of a hub path.
fn stricter_by_design(s: &str) -> bool {
    let first = s.split('/').next().unwrap_or_default();
    s.contains('/') && first.contains(['.', ':'])
}

#[test]
fn the_engine_normalises_references_as_we_do() {
    let engine = shared().engine();
    let socket = engine.socket_path();
    let base = "eci-diff/base:keep";
    let id = build_image(engine, &ImageSpec::new("diff"), base).expect("base image");

    let mut rng = fastrand::Rng::with_seed(seed());
    let mut tally = [0usize; 4];
    for case in 0..cases() {
        let s = reference(&mut rng);
        let ours = Reference::parse_normalized(&s);
        let target = format!("/images/{id}/tag?repo={}&tag=", query_escape(&s));
        let answer = send(socket, "POST", &target);
        let what = format!("case {case}: {s:?} → ours {ours:?}, engine {answer:?}");
        match (&ours, answer.status) {
            (Ok(ours), 201) => {
                tally[0] += 1;
                // RepoTags holds the engine's familiar form, which is ambiguous for hub names
                // whose first part looks like a host (`docker.io/a.b/c` shows as `a.b/c`), so
                // ask the engine about our normalised name instead: it must be the new tag.
                let ours = ours.clone().with_default_tag();
                let full = format!(
                    "{}/{}:{}",
                    ours.repository().registry_host(),
                    ours.repository().path(),
                    ours.tag().expect("tagged")
                );
                let found = send(socket, "GET", &format!("/images/{full}/json"));
                assert_eq!(found.status, 200, "the engine has no {full:?}: {what}");
                let image: serde_json::Value =
                    serde_json::from_str(&found.body).expect("inspect JSON");
                assert_eq!(
                    image["Id"].as_str(),
                    Some(id.as_str()),
                    "{full:?} is another image: {what}"
                );
                let tags = image["RepoTags"].as_array().map_or(0, Vec::len);
                assert_eq!(tags, 2, "the tag and {base} only: {image}: {what}");
                let untag = send(socket, "DELETE", &format!("/images/{full}"));
                assert_eq!(untag.status, 200, "untag {full}: {untag:?}");
            }
            (Err(_), 201) => {
                tally[1] += 1;
                assert!(
                    stricter_by_design(&s),
                    "the engine takes it, we refuse it: {what}"
                );
                let inspect = send(socket, "GET", &format!("/images/{id}/json"));
                let image: serde_json::Value =
                    serde_json::from_str(&inspect.body).expect("inspect JSON");
                for tag in image["RepoTags"].as_array().into_iter().flatten() {
                    let tag = tag.as_str().unwrap_or_default();
                    if tag != base {
                        send(socket, "DELETE", &format!("/images/{}", query_escape(tag)));
                    }
                }
            }
            (Ok(_), _) => panic!("we take it, the engine refuses it: {what}"),
            (Err(_), _) => tally[2 + usize::from(answer.status >= 500)] += 1,
        }
    }
    eprintln!(
        "references: {} normalised alike, {} refused by us only (by design), {} refused by both",
        tally[0],
        tally[1],
        tally[2] + tally[3]
    );
    assert!(
        tally[0] > cases() / 4 && tally[2] + tally[3] > 0,
        "{tally:?}"
    );
}

// ---- container create bodies ----

/// One of the spellings Go's case folding maps onto `name`.
fn spelling(rng: &mut fastrand::Rng, name: &str) -> String {
    match rng.usize(0..6) {
        0 => name.to_lowercase(),
        1 => name.to_uppercase(),
        2 if name.contains('s') => name.replacen('s', "\u{17f}", 1),
        3 => {
            let mut c = name.chars();
            c.next()
                .map_or_else(String::new, |f| f.to_lowercase().chain(c).collect())
        }
        _ => name.to_owned(),
    }
}

/// A host path under `dir`, as a client might spell it.
fn host_path(rng: &mut fastrand::Rng, dir: &str) -> String {
    let leaf = pick(rng, &["a", "b", "link"]);
    match rng.usize(0..6) {
        0 => format!("{dir}//{leaf}"),
        1 => format!("{dir}/./{leaf}/"),
        2 => format!("{dir}/b/../{leaf}"),
        _ => format!("{dir}/{leaf}"),
    }
}

fn bind_entry(rng: &mut fastrand::Rng, dir: &str, i: usize) -> String {
    let target = format!("/t{i}{}", pick(rng, &["", "/", "/x/.."]));
    match rng.usize(0..5) {
        0 => target,
        1 => format!(
            "zzvol{}:{target}{}",
            rng.usize(0..3),
            pick(rng, &["", ":ro", ":nocopy"])
        ),
        _ => format!(
            "{}:{target}{}",
            host_path(rng, dir),
            pick(rng, &["", ":ro", ":rw", ":ro,rprivate", ":rslave"])
        ),
    }
}

fn mount_object(rng: &mut fastrand::Rng, dir: &str, i: usize) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let bind = rng.bool();
    m.insert(
        spelling(rng, "Type"),
        (if bind { "bind" } else { "volume" }).into(),
    );
    let source = if bind {
        host_path(rng, dir)
    } else {
        format!("zzvol{}", rng.usize(0..3))
    };
    m.insert(spelling(rng, "Source"), source.into());
    m.insert(spelling(rng, "Target"), format!("/m{i}").into());
    if rng.bool() {
        m.insert(spelling(rng, "ReadOnly"), rng.bool().into());
    }
    serde_json::Value::Object(m)
}

/// A create body with binds and mounts under case-folded keys, inside `HostConfig` or at the
/// top level (the deprecated embedded host config), or both.
fn create_body(rng: &mut fastrand::Rng, image: &str, dir: &str) -> String {
    let mut fields = serde_json::Map::new();
    let binds: Vec<String> = (0..rng.usize(0..3))
        .map(|i| bind_entry(rng, dir, i))
        .collect();
    if !binds.is_empty() {
        fields.insert(spelling(rng, "Binds"), binds.into());
    }
    let mounts: Vec<serde_json::Value> = (0..rng.usize(0..3))
        .map(|i| mount_object(rng, dir, i))
        .collect();
    if !mounts.is_empty() {
        fields.insert(spelling(rng, "Mounts"), mounts.into());
    }
    let mut top = serde_json::Map::new();
    top.insert(spelling(rng, "Image"), image.into());
    match rng.usize(0..4) {
        0 => top.extend(fields),
        1 => {
            top.insert(spelling(rng, "HostConfig"), serde_json::Value::Null);
            top.extend(fields);
        }
        2 => {
            let decoy = bind_entry(rng, dir, 9);
            top.insert(spelling(rng, "Binds"), vec![decoy].into());
            top.insert(spelling(rng, "HostConfig"), fields.into());
        }
        _ => {
            top.insert(spelling(rng, "HostConfig"), fields.into());
        }
    }
    serde_json::Value::Object(top).to_string()
}

#[test]
fn every_mount_the_engine_registers_is_one_we_read() {
    let engine = Engine::start().expect("throwaway engine");
    let socket = engine.socket_path();
    let image = "eci-diff/mounts:1";
    build_image(&engine, &ImageSpec::new("mounts"), image).expect("image");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("a")).expect("dir a");
    std::fs::create_dir(dir.path().join("b")).expect("dir b");
    std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("link")).expect("link");
    let dir = dir.path().to_str().expect("UTF-8 temp dir").to_owned();

    let mut rng = fastrand::Rng::with_seed(seed());
    let mut tally = [0usize; 4];
    for case in 0..cases() / 2 {
        let body = create_body(&mut rng, image, &dir);
        let ours =
            gojson::parse(body.as_bytes(), &Limits::default()).and_then(|v| container_create(&v));
        let answer = send_body(socket, "POST", "/containers/create", &body);
        let what = format!("case {case}: {body} → ours {ours:?}, engine {answer:?}");
        let created = answer.status == 201;
        let ours = match (ours, created) {
            (Ok(ours), true) => ours,
            (Err(_), true) => {
                tally[1] += 1;
                continue;
            }
            (_, false) => {
                tally[2] += 1;
                continue;
            }
        };
        tally[0] += 1;
        let created: serde_json::Value = serde_json::from_str(&answer.body).expect("create JSON");
        let id = created["Id"].as_str().expect("container id");
        let inspect = send(socket, "GET", &format!("/containers/{id}/json"));
        let info: serde_json::Value = serde_json::from_str(&inspect.body).expect("inspect JSON");
        for m in info["Mounts"].as_array().into_iter().flatten() {
            let destination = m["Destination"].as_str().unwrap_or_default();
            let found = ours.mounts.iter().any(|r| {
                clean_path(&r.target) == destination
                    && match (&r.source, m["Type"].as_str()) {
                        (MountSource::Bind { path }, Some("bind")) => {
                            clean_path(path) == m["Source"].as_str().unwrap_or_default()
                        }
                        (MountSource::Volume { name, .. }, Some("volume")) => match name {
                            Some(n) => Some(n.as_str()) == m["Name"].as_str(),
                            None => true,
                        },
                        _ => false,
                    }
            });
            assert!(
                found,
                "the engine mounts {m} and we did not read it: {what}"
            );
        }
        tally[3] += info["Mounts"].as_array().map_or(0, Vec::len);
    }
    eprintln!(
        "mounts: {} creates read alike ({} engine mounts, each one ours), {} refused by us only, {} refused by the engine",
        tally[0], tally[3], tally[1], tally[2]
    );
    assert!(tally[0] > cases() / 8 && tally[3] > 0, "{tally:?}");
}
