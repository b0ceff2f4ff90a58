//! Settings texts to switch between, the policy versions they give, and waiting on the
//! enforcer's reload events.

use std::time::Duration;

use eci_e2e::shared;
use eci_proxy::{ReloadEvent, ReloadOutcome};
use tokio::runtime::Runtime;
use tokio::sync::broadcast::Receiver;

/// Two valid admin settings texts with different policies: the harness's CLI image allowed, and
/// push denied in the first, ps in the second.
pub fn two_settings() -> (String, String) {
    let cli = shared().cli().reference();
    (
        super::admin_settings(&[cli.as_str()], "deny", &["push"]),
        super::admin_settings(&[cli.as_str()], "deny", &["ps"]),
    )
}

/// The version of the policy that `admin` settings (none: the fail-closed default) give.
pub fn policy_version(admin: Option<&str>) -> String {
    eci_policy::settings::load(admin, None)
        .unwrap()
        .policy
        .version
}

/// The next reload on `reloads` whose outcome is `wanted`, each within 5 s.
pub fn next_reload_where(
    rt: &Runtime,
    reloads: &mut Receiver<ReloadEvent>,
    wanted: impl Fn(&ReloadOutcome) -> bool,
) -> ReloadEvent {
    rt.block_on(async {
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(5), reloads.recv())
                .await
                .expect("a reload event")
                .expect("open");
            if wanted(&ev.outcome) {
                break ev;
            }
        }
    })
}
