//! One place decides (issue 15): no refusal is built outside eci-policy. Every `Denial`, with its
//! kind, status and message, comes from eci-policy's decision code; the other crates gather facts
//! and carry the verdict out. Checked on the sources, test modules left out.

use std::path::{Path, PathBuf};

/// What building a refusal looks like in Rust source.
const BUILDS_A_REFUSAL: &[&str] = &[
    "Denial {",
    "Denial::",
    "StatusCode::FORBIDDEN",
    "status: 403",
    "from_u16(403)",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines of `text` before its test module that build a refusal.
fn refusals_built(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| BUILDS_A_REFUSAL.iter().any(|p| l.contains(p)))
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .collect()
}

#[test]
fn no_refusal_is_built_outside_eci_policy() {
    // The check can fail: it finds a refusal built by hand.
    assert_eq!(
        refusals_built("fn f() -> Denial {\n    Denial { kind, status: 403, message, reason }\n}\n#[cfg(test)]\nmod tests { Denial::x }").len(),
        2
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let mut files = Vec::new();
    for dir in ["crates", "src-tauri/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let outside: Vec<&PathBuf> = files
        .iter()
        .filter(|f| {
            let f = f.to_string_lossy();
            f.contains("/src/") && !f.contains("crates/eci-policy/") && !f.contains("/target/")
        })
        .collect();
    assert!(
        outside.len() > 40,
        "the sources of the other crates were found ({})",
        outside.len()
    );
    let mut found = Vec::new();
    for f in outside {
        let text = std::fs::read_to_string(f).unwrap();
        for (line, code) in refusals_built(&text) {
            found.push(format!("{}:{line}: {code}", f.display()));
        }
    }
    assert!(
        found.is_empty(),
        "refusals built outside eci-policy:\n{}",
        found.join("\n")
    );
}
