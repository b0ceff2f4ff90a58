//! Fuzzes the engine-style body reader and mount extraction: `gojson::parse` never panics and
//! what it accepts survives serialise → parse unchanged; `container_create`, `volume_create` and
//! `service_spec` never panic; and a bind rewritten by `rewrite_source` reads back, after a
//! serialise → parse round trip, as the same mount with only its source changed.

#![no_main]

use eci_policy::gojson::{self, Limits};
use eci_policy::mounts::{
    container_create, rewrite_source, service_spec, volume_create, MountRef, MountSource,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// A filtered socket path as the enforcer would substitute.
const NEW_SOURCE: &str = "/run/eci-guard/filtered/0123abcd.sock";

fn reparse(v: &Value) -> Value {
    let text = serde_json::to_vec(v).expect("a parsed value serialises");
    gojson::parse(&text, &Limits::default()).unwrap_or_else(|e| {
        panic!(
            "re-reading our own serialisation failed: {e}: {}",
            String::from_utf8_lossy(&text)
        )
    })
}

/// Rewrites each bind of `mounts` in turn (on a fresh copy of `body`) and reads the result back
/// with `read`.
fn check_rewrites(body: &Value, mounts: &[MountRef], read: impl Fn(&Value) -> Vec<MountRef>) {
    for (i, m) in mounts.iter().enumerate() {
        let mut rewritten = body.clone();
        match rewrite_source(&mut rewritten, m, NEW_SOURCE) {
            Err(_) => assert_eq!(&rewritten, body, "a refused rewrite changed the body"),
            Ok(()) => {
                assert!(
                    matches!(m.source, MountSource::Bind { .. }),
                    "rewrote a non-bind"
                );
                let after = read(&reparse(&rewritten));
                assert_eq!(after.len(), mounts.len(), "rewrite changed the mount count");
                for (j, (a, b)) in after.iter().zip(mounts).enumerate() {
                    if i == j {
                        assert_eq!(
                            a.source,
                            MountSource::Bind {
                                path: NEW_SOURCE.to_owned()
                            },
                            "rewritten mount {} reads back wrong",
                            b.pointer
                        );
                        assert_eq!(
                            (a.surface, a.index, &a.pointer, &a.target, a.read_only),
                            (b.surface, b.index, &b.pointer, &b.target, b.read_only),
                            "rewrite changed more than the source"
                        );
                    } else {
                        assert_eq!(a, b, "rewrite of mount {i} changed mount {j}");
                    }
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(value) = gojson::parse(data, &limits) else {
        return;
    };
    assert_eq!(
        reparse(&value),
        value,
        "serialise → parse changed the value"
    );

    if let Ok(create) = container_create(&value) {
        check_rewrites(&value, &create.mounts, |v| {
            container_create(v)
                .expect("a rewritten create body still reads")
                .mounts
        });
    }
    let _ = volume_create(&value);
    if let Ok(spec) = service_spec(&value) {
        check_rewrites(&value, &spec.mounts, |v| {
            service_spec(v)
                .expect("a rewritten service spec still reads")
                .mounts
        });
    }
});
