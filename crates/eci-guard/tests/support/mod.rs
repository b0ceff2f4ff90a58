//! Helpers of the CLI tests around `eci-guard serve` (the process itself is `eci_e2e::serve`):
//! settings with ECI on or off, the policy version they give, and the reload lines to wait for.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use eci_e2e::serve::{probe, Serve};

/// Admin settings with ECI on (`true`) or off, no image allowed.
pub fn settings(eci: bool) -> String {
    format!(
        r#"{{"configurationFileVersion": 2, "enhancedContainerIsolation": {{"locked": true, "value": {eci},
  "iechorSocketMount": {{"imageList": {{"images": []}}}}}}}}
"#
    )
}

/// The version of the policy `admin` settings give (`None`: the fail-closed default), as
/// `policy applied` logs it.
pub fn version_of(admin: Option<&str>) -> String {
    eci_policy::settings::load(admin, None)
        .unwrap()
        .policy
        .version
}

/// Lines logging a reload of any outcome.
pub fn is_reload(line: &str) -> bool {
    line.contains("policy applied")
        || line.contains("settings rejected")
        || line.contains("settings unreadable")
}

/// `policy applied` with `version`.
pub fn applied(version: &str) -> impl Fn(&str) -> bool + '_ {
    move |l: &str| l.contains("policy applied") && l.contains(&format!("version={version}"))
}
