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

/// `eci-guard serve` of this build in front of the harness's engine, listening on
/// `dir/docker.sock` with `dir/admin/admin-settings.json`, `dir/user/settings.json` and state
/// under `dir/state`.
pub fn serve_command(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_eci-guard"));
    cmd.arg("serve")
        .arg("--upstream")
        .arg(eci_e2e::shared().engine().socket_path())
        .arg("--listen")
        .arg(dir.join("docker.sock"))
        .arg("--admin-settings")
        .arg(dir.join("admin/admin-settings.json"))
        .arg("--user-settings")
        .arg(dir.join("user/settings.json"))
        .arg("--state-dir")
        .arg(dir.join("state"));
    cmd
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
