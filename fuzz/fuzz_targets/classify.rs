//! Fuzzes `routes::classify` with a method and a request target: it never panics, and every route
//! it names is the one gorilla/mux would pick from moby's registrations, with the same captures.
//!
//! The oracle rebuilds mux's regexps independently of the classifier's own template matcher:
//! moby registers each route as `/v{version:[0-9.]+}<template>` and then `<template>`, a `{x}`
//! variable is `[^/]+`, `{x:re}` is `re`, and mux takes the first route whose path and method both
//! match. Rust's `regex` shares Go's leftmost-first semantics for captures.

#![no_main]

use std::sync::LazyLock;

use eci_policy::routes::{classify, ClassifyError, Route, ROUTES};
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use regex::Regex;

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "get", "OPTIONS",
];

/// mux's regexp for a template, anchored at both ends.
fn mux_regex(template: &str, versioned: bool) -> Regex {
    let mut re = String::from("^");
    if versioned {
        re.push_str("/v(?:[0-9.]+)");
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        re.push_str(&regex::escape(&rest[..open]));
        let close = open
            + rest[open..]
                .find('}')
                .expect("template variables are closed");
        let pattern = match rest[open + 1..close].split_once(':') {
            None => "[^/]+",
            Some((_, p)) => p,
        };
        re.push_str(&format!("({pattern})"));
        rest = &rest[close + 1..];
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    Regex::new(&re).expect("mux template compiles")
}

/// Per route, in moby's registration order: the versioned and the plain regexp.
static MUX: LazyLock<Vec<(&'static Route, [Regex; 2])>> = LazyLock::new(|| {
    ROUTES
        .iter()
        .map(|r| (r, [mux_regex(r.engine, true), mux_regex(r.engine, false)]))
        .collect()
});

/// The route mux serves `path` with for `method`, and its captures.
fn mux_route(method: &str, path: &str) -> Option<(&'static Route, Vec<String>)> {
    MUX.iter().find_map(|(route, res)| {
        if route.method != method {
            return None;
        }
        res.iter().find_map(|re| {
            re.captures(path).map(|c| {
                let caps = c
                    .iter()
                    .skip(1)
                    .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
                    .collect();
                (*route, caps)
            })
        })
    })
}

/// The path mux matches: `url.URL.Path`, the percent-decoded path before the query. Only called
/// where the classifier got as far as routing, so the escapes are valid and decode to UTF-8.
fn decoded_path(target: &str) -> String {
    let raw = target.split_once('?').map_or(target, |(p, _)| p);
    percent_decode_str(raw)
        .decode_utf8()
        .expect("a routed path decodes")
        .into_owned()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(target) = std::str::from_utf8(rest) else {
        return;
    };
    let method = METHODS[usize::from(selector) % METHODS.len()];
    match classify(method, target) {
        Ok(c) => {
            assert_eq!(c.route.method, method);
            let full = match &c.version {
                Some(v) => format!("/v{v}{}", c.path),
                None => c.path.clone(),
            };
            let (route, caps) = mux_route(method, &full).unwrap_or_else(|| {
                panic!(
                    "{method} {full:?}: classified as {} but mux has no route",
                    c.route.pattern
                )
            });
            assert!(
                std::ptr::eq(route, c.route),
                "{method} {full:?}: classified as {} but mux routes it to {}",
                c.route.pattern,
                route.pattern
            );
            let params: Vec<&str> = c.params.iter().map(|(_, v)| v.as_str()).collect();
            assert_eq!(
                params, caps,
                "{method} {full:?}: captures differ from mux's"
            );
            // Reading the query must not panic whatever it holds.
            let _ = c.query_pairs();
        }
        Err(ClassifyError::NoRoute { .. }) => {
            let full = decoded_path(target);
            assert!(
                MUX.iter()
                    .all(|(_, res)| res.iter().all(|re| !re.is_match(&full))),
                "{method} {full:?}: refused as no route, but mux has one"
            );
        }
        Err(ClassifyError::MethodNotAllowed { .. }) => {
            let full = decoded_path(target);
            assert!(
                mux_route(method, &full).is_none(),
                "{method} {full:?}: refused as another method's route, but mux serves {method}"
            );
        }
        Err(e) => {
            assert!(matches!(e.status(), 400 | 404 | 414));
        }
    }
});
