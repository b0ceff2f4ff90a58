//! The headless enforcer's flags and environment variables, with defaults that suit a desktop
//! user (XDG paths) or root (system paths), and why it may fail to start.

use std::path::PathBuf;

use clap::Args;

use crate::{EnforcerConfig, Limits, SettingsPaths};

/// `eci-guard serve` options. Each can come from its flag or its environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Socket to listen on (repeatable; mode 0660). Default: `/run/eci-guard/docker.sock` for
    /// root, `$XDG_RUNTIME_DIR/eci-guard/docker.sock` otherwise. The variable takes a
    /// `:`-separated list.
    #[arg(
        long = "listen",
        value_name = "PATH",
        env = "ECI_GUARD_LISTEN",
        value_delimiter = ':'
    )]
    pub listen: Vec<PathBuf>,
    /// The engine's socket.
    #[arg(
        long,
        value_name = "PATH",
        env = "ECI_GUARD_UPSTREAM",
        default_value = "/var/run/docker.sock"
    )]
    pub upstream: PathBuf,
    /// Admin settings. Default: `/usr/share/iechor-desktop/admin-settings.json`.
    #[arg(long, value_name = "PATH", env = "ECI_GUARD_ADMIN_SETTINGS")]
    pub admin_settings: Option<PathBuf>,
    /// User settings. Default: `$XDG_CONFIG_HOME/iechor-desktop/settings.json`.
    #[arg(long, value_name = "PATH", env = "ECI_GUARD_USER_SETTINGS")]
    pub user_settings: Option<PathBuf>,
    /// State (filtered sockets, history, digest cache). Default: `/var/lib/eci-guard` for root,
    /// `$XDG_STATE_HOME/eci-guard` otherwise.
    #[arg(long, value_name = "DIR", env = "ECI_GUARD_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Registry endpoints (plain HTTP, CA files, mirrors) for the digest fetcher.
    #[arg(long, value_name = "FILE", env = "ECI_GUARD_REGISTRIES")]
    pub registries: Option<PathBuf>,
    /// A further protected socket path (repeatable). The usual engine socket paths
    /// ([`ServeConfig::DEFAULT_PROTECTED`]) are always protected.
    #[arg(long = "protect", value_name = "PATH")]
    pub protect: Vec<PathBuf>,
    /// Client connections served at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Serve Prometheus metrics at `GET /metrics` on this loopback address (`127.0.0.1:9323`)
    /// or unix socket (`unix:/run/eci-guard/metrics.sock`).
    #[arg(long, value_name = "ADDR", env = "ECI_GUARD_METRICS")]
    pub metrics: Option<MetricsAddr>,
    /// Where refusals (blocked and audited) are logged as structured events: `journal`, a
    /// JSON-lines file path, or `off`. Default: the journal under systemd, otherwise
    /// `audit.jsonl` in the state directory.
    #[arg(long, value_name = "TARGET", env = "ECI_GUARD_AUDIT_LOG")]
    pub audit_log: Option<String>,
    /// Also log one allowed request in N to the audit log (0: none).
    #[arg(
        long,
        value_name = "N",
        env = "ECI_GUARD_AUDIT_ALLOWED",
        default_value_t = 0
    )]
    pub audit_allowed: u64,
    /// The control socket (mode 0660) through which the desktop app attaches: status, history,
    /// live blocks, settings. Default: `control.sock` beside the first listening socket.
    #[arg(long, value_name = "PATH", env = "ECI_GUARD_CONTROL")]
    pub control: Option<PathBuf>,
    /// The control socket's group, by name or number (default: the process's group). Its
    /// members can read; writes need write access to the file they change.
    #[arg(long, value_name = "GROUP")]
    pub control_group: Option<String>,
    /// Serve no control socket.
    #[arg(long, conflicts_with_all = ["control", "control_group"])]
    pub no_control: bool,
}

/// Where the metrics are served: loopback TCP or a unix socket, never a network address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAddr {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

/// Why a `--metrics` address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsAddrError {
    #[error("{0:?}: the unix socket path must be absolute")]
    RelativeSocket(String),
    #[error("{given:?}: expected IP:PORT or unix:/PATH ({why})")]
    Unreadable { given: String, why: String },
    #[error("{0:?}: metrics are served on loopback or a unix socket only")]
    NotLoopback(String),
}

impl std::str::FromStr for MetricsAddr {
    type Err = MetricsAddrError;

    fn from_str(s: &str) -> Result<MetricsAddr, MetricsAddrError> {
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(MetricsAddrError::RelativeSocket(s.to_owned()));
            }
            return Ok(MetricsAddr::Unix(PathBuf::from(path)));
        }
        let addr: std::net::SocketAddr =
            s.parse()
                .map_err(|e: std::net::AddrParseError| MetricsAddrError::Unreadable {
                    given: s.to_owned(),
                    why: e.to_string(),
                })?;
        if !addr.ip().is_loopback() {
            return Err(MetricsAddrError::NotLoopback(s.to_owned()));
        }
        Ok(MetricsAddr::Tcp(addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_stay_on_this_host() {
        let ok = |s: &str| s.parse::<MetricsAddr>();
        assert!(matches!(ok("127.0.0.1:9323"), Ok(MetricsAddr::Tcp(_))));
        assert!(matches!(ok("[::1]:9323"), Ok(MetricsAddr::Tcp(_))));
        assert_eq!(
            ok("unix:/run/m.sock"),
            Ok(MetricsAddr::Unix(PathBuf::from("/run/m.sock")))
        );
        assert!(matches!(
            ok("0.0.0.0:9323"),
            Err(MetricsAddrError::NotLoopback(_))
        ));
        assert!(matches!(
            ok("10.0.0.1:1"),
            Err(MetricsAddrError::NotLoopback(_))
        ));
        assert!(matches!(
            ok("unix:m.sock"),
            Err(MetricsAddrError::RelativeSocket(_))
        ));
        assert!(matches!(
            ok("localhost:1"),
            Err(MetricsAddrError::Unreadable { .. })
        ));
    }
}

/// The size at which the audit log file is rotated, and how many rotated files are kept.
const AUDIT_FILE_BYTES: u64 = 16 * 1024 * 1024;
const AUDIT_FILES_KEPT: u32 = 4;

/// Why the enforcer did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the engine socket {} does not exist; is the engine running? (set --upstream or ECI_GUARD_UPSTREAM)", path.display())]
    UpstreamMissing { path: PathBuf },
    #[error("cannot listen on {}: {source}", path.display())]
    Listen {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the registries file: {0}")]
    Registries(#[source] eci_registry::SettingsError),
    #[error("cannot watch the settings files: {0}")]
    Watch(#[source] notify::Error),
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the audit log {target}: {source}")]
    AuditLog {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serve the control socket {}: {source}", path.display())]
    Control {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no group {0:?} (control socket)")]
    NoSuchGroup(String),
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn env_dir(var: &str, home_rel: &str) -> PathBuf {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => PathBuf::from(v),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
            PathBuf::from(home).join(home_rel)
        }
    }
}

impl ServeConfig {
    /// Engine (and containerd) sockets protected whatever the upstream is: mounting another path
    /// to the engine, or a directory above one, must not escape the check.
    pub const DEFAULT_PROTECTED: &'static [&'static str] = &[
        "/var/run/docker.sock",
        "/run/docker.sock",
        "/var/run/iechor.sock",
        "/run/iechor.sock",
        // containerd's socket controls the same containers as the engine does.
        "/run/containerd/containerd.sock",
        "/var/run/docker/containerd/containerd.sock",
    ];

    /// The default admin settings path (SPEC §1, the Docker Desktop pattern on Linux).
    pub fn default_admin_settings() -> PathBuf {
        PathBuf::from("/usr/share/iechor-desktop/admin-settings.json")
    }

    pub fn default_user_settings() -> PathBuf {
        env_dir("XDG_CONFIG_HOME", ".config").join("iechor-desktop/settings.json")
    }

    pub fn default_state_dir() -> PathBuf {
        if is_root() {
            PathBuf::from("/var/lib/eci-guard")
        } else {
            env_dir("XDG_STATE_HOME", ".local/state").join("eci-guard")
        }
    }

    pub fn default_listen() -> PathBuf {
        if is_root() {
            PathBuf::from("/run/eci-guard/docker.sock")
        } else {
            match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
                Some(d) => PathBuf::from(d).join("eci-guard/docker.sock"),
                None => Self::default_state_dir().join("docker.sock"),
            }
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(Self::default_state_dir)
    }

    /// Where the audit log goes (`None`: off).
    pub fn audit_target(&self) -> Option<crate::AuditTarget> {
        match self.audit_log.as_deref() {
            Some("off") => None,
            Some("journal") => Some(crate::AuditTarget::Journal),
            Some(path) => Some(crate::AuditTarget::File {
                path: PathBuf::from(path),
                max_bytes: AUDIT_FILE_BYTES,
                keep: AUDIT_FILES_KEPT,
            }),
            None if crate::AuditLog::under_systemd() => Some(crate::AuditTarget::Journal),
            None => Some(crate::AuditTarget::File {
                path: self.state_dir().join("audit.jsonl"),
                max_bytes: AUDIT_FILE_BYTES,
                keep: AUDIT_FILES_KEPT,
            }),
        }
    }

    /// Where and for whom the control socket is served; `None` with `--no-control`.
    pub fn control_config(&self) -> Result<Option<crate::control::ControlConfig>, StartError> {
        if self.no_control {
            return Ok(None);
        }
        let path = match &self.control {
            Some(p) => p.clone(),
            None if self.listen.is_empty() => {
                crate::control::default_control_path(&[Self::default_listen()])
            }
            None => crate::control::default_control_path(&self.listen),
        };
        let group = match &self.control_group {
            None => None,
            Some(g) => Some(group_id(g).ok_or_else(|| StartError::NoSuchGroup(g.clone()))?),
        };
        Ok(Some(crate::control::ControlConfig { path, group }))
    }

    pub fn into_enforcer_config(self) -> EnforcerConfig {
        let state_dir = self.state_dir();
        let listen = if self.listen.is_empty() {
            vec![Self::default_listen()]
        } else {
            self.listen
        };
        EnforcerConfig {
            listen,
            upstream: self.upstream,
            settings: SettingsPaths {
                admin: Some(
                    self.admin_settings
                        .unwrap_or_else(Self::default_admin_settings),
                ),
                user: Some(
                    self.user_settings
                        .unwrap_or_else(Self::default_user_settings),
                ),
            },
            state_dir,
            protect: Self::DEFAULT_PROTECTED
                .iter()
                .map(PathBuf::from)
                .chain(self.protect)
                .collect(),
            limits: Limits {
                max_connections: self.max_connections,
                ..Limits::default()
            },
            watch_settings: true,
        }
    }
}

/// A group by number, or by name from `/etc/group`.
fn group_id(group: &str) -> Option<u32> {
    if let Ok(gid) = group.parse() {
        return Some(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").ok()?;
    groups.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(group))
            .then(|| fields.nth(1).and_then(|gid| gid.parse().ok()))
            .flatten()
    })
}
