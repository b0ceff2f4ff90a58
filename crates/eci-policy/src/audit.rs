//! Audit mode (issue 17): rule families whose refusals are recorded and forwarded instead of
//! enforced, and the one function that says which a refusal is.
//!
//! A request is judged by the same decision code in both modes. When a refusal's family is in
//! audit mode, the caller records it as audited and judges the request again under
//! [`Refusal::Audit::retry`], a policy in which that family no longer refuses; the other
//! families still decide. So a request that also breaks an enforced family is still refused, and
//! every family that would have refused it is recorded.

use serde::Serialize;

use crate::decide::{BlockKind, Denial};
use crate::settings::Policy;

/// A family of rules that can be put in audit mode on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// The image list and everything else that keeps a protected socket out of containers.
    SocketMounts,
    /// The command list of filtered sockets.
    Commands,
    /// Host privileges (privileged, host namespaces, devices, kernel filesystems, swarm join).
    HostAccess,
}

impl Family {
    /// The family a refusal belongs to; `None` for requests that cannot be read safely, which
    /// are always refused.
    pub fn of(kind: BlockKind) -> Option<Family> {
        match kind {
            BlockKind::SocketMount => Some(Family::SocketMounts),
            BlockKind::Command => Some(Family::Commands),
            BlockKind::HostAccess => Some(Family::HostAccess),
            BlockKind::InvalidRequest => None,
        }
    }

    /// The settings key of the family under `eciGuard.audit`.
    pub fn key(self) -> &'static str {
        match self {
            Family::SocketMounts => "socketMounts",
            Family::Commands => "commands",
            Family::HostAccess => "hostAccess",
        }
    }
}

/// A set of families.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Families {
    pub socket_mounts: bool,
    pub commands: bool,
    pub host_access: bool,
}

impl Families {
    pub fn contains(&self, family: Family) -> bool {
        match family {
            Family::SocketMounts => self.socket_mounts,
            Family::Commands => self.commands,
            Family::HostAccess => self.host_access,
        }
    }

    pub fn insert(&mut self, family: Family) {
        match family {
            Family::SocketMounts => self.socket_mounts = true,
            Family::Commands => self.commands = true,
            Family::HostAccess => self.host_access = true,
        }
    }

    pub fn is_empty(&self) -> bool {
        !(self.socket_mounts || self.commands || self.host_access)
    }
}

/// What a refusal becomes under the policy that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Refused: the family is enforced (or the request cannot be read safely).
    Enforce(Denial),
    /// Would have been refused: record it as audited, then judge the request again under
    /// `retry`.
    Audit { denial: Denial, retry: Policy },
}

/// Enforced or audited: the one place that says.
pub fn refusal(policy: &Policy, denial: Denial) -> Refusal {
    match Family::of(denial.kind) {
        // A family already waived that refuses again would loop: fail closed.
        Some(family) if policy.audit.contains(family) && !policy.waived.contains(family) => {
            let mut retry = policy.clone();
            retry.waived.insert(family);
            Refusal::Audit { denial, retry }
        }
        _ => Refusal::Enforce(denial),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::load;
    use crate::validate::parse_settings;

    fn file(eci: &str) -> String {
        format!(r#"{{"configurationFileVersion": 2, "enhancedContainerIsolation": {eci}}}"#)
    }

    fn policy(admin: Option<&str>, user: Option<&str>) -> Policy {
        let admin = admin.map(file);
        let user = user.map(file);
        load(admin.as_deref(), user.as_deref()).unwrap().policy
    }

    fn denial(kind: BlockKind) -> Denial {
        Denial {
            kind,
            status: 403,
            message: "m".into(),
            reason: "r".into(),
        }
    }

    #[test]
    fn settings_put_families_in_audit_mode_under_the_lock_rules() {
        let enforce = policy(None, None);
        assert!(enforce.audit.is_empty());
        let user = r#"{"eciGuard": {"audit": {"commands": true}}}"#;
        let admin = r#"{"eciGuard": {"audit": {"socketMounts": true, "commands": false}}}"#;
        let merged = policy(Some(admin), Some(user));
        assert_eq!(
            merged.audit,
            Families {
                socket_mounts: true,
                commands: true,
                host_access: false
            }
        );
        // Locked: the admin's flags alone, absent ones enforce.
        let locked = r#"{"locked": true, "eciGuard": {"audit": {"hostAccess": true}}}"#;
        let merged = policy(Some(locked), Some(user));
        assert_eq!(
            merged.audit,
            Families {
                host_access: true,
                ..Families::default()
            }
        );
        // The version changes with the flags, and a policy without them keeps its version.
        assert_ne!(
            merged.version,
            policy(Some(r#"{"locked": true}"#), None).version
        );
        assert_eq!(
            policy(Some(r#"{"eciGuard": {"audit": {}}}"#), None).version,
            enforce.version
        );
    }

    #[test]
    fn bad_audit_settings_are_errors_that_name_the_key() {
        for (eci, pointer) in [
            (
                r#"{"eciGuard": {"audit": true}}"#,
                "/enhancedContainerIsolation/eciGuard/audit",
            ),
            (
                r#"{"eciGuard": {"audit": {"commands": "yes"}}}"#,
                "/enhancedContainerIsolation/eciGuard/audit/commands",
            ),
        ] {
            let errors = parse_settings(&file(eci)).unwrap_err();
            assert!(
                errors.iter().any(|d| d.is_error() && d.pointer == pointer),
                "{eci}: {errors:?}"
            );
        }
        // A misspelt family is a warning that names it, and audits nothing.
        let parsed =
            parse_settings(&file(r#"{"eciGuard": {"audit": {"socketMount": true}}}"#)).unwrap();
        assert!(parsed
            .warnings
            .iter()
            .any(|d| d.pointer == "/enhancedContainerIsolation/eciGuard/audit/socketMount"));
        assert!(policy(
            Some(r#"{"eciGuard": {"audit": {"socketMount": true}}}"#),
            None
        )
        .audit
        .is_empty());
    }

    #[test]
    fn only_families_in_audit_mode_are_audited_and_each_once() {
        let mut p = Policy::default();
        for kind in [
            BlockKind::SocketMount,
            BlockKind::Command,
            BlockKind::HostAccess,
            BlockKind::InvalidRequest,
        ] {
            assert_eq!(refusal(&p, denial(kind)), Refusal::Enforce(denial(kind)));
        }
        p.audit = Families {
            socket_mounts: true,
            commands: true,
            host_access: true,
        };
        // A request that cannot be read safely is always refused.
        assert!(matches!(
            refusal(&p, denial(BlockKind::InvalidRequest)),
            Refusal::Enforce(_)
        ));
        let Refusal::Audit { denial: d, retry } = refusal(&p, denial(BlockKind::HostAccess)) else {
            panic!("host access is audited");
        };
        assert_eq!(d.kind, BlockKind::HostAccess);
        assert!(retry.waived.host_access && !retry.waived.socket_mounts);
        // The retry still audits the other families, and fails closed on a family it waived.
        assert!(matches!(
            refusal(&retry, denial(BlockKind::SocketMount)),
            Refusal::Audit { .. }
        ));
        assert!(matches!(
            refusal(&retry, denial(BlockKind::HostAccess)),
            Refusal::Enforce(_)
        ));
        // The version is what is enforced: a waiver is no other policy.
        assert_eq!(retry.version, p.version);
    }
}
