//! Registry settings (`--registries FILE`): which endpoint serves each registry name, over HTTP or
//! HTTPS, trusting which extra CA. Names absent from the file are served over HTTPS at their name.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use eci_policy::reference::{is_default_hub, Repository, DEFAULT_DOMAIN};
use serde::{Deserialize, Serialize};

/// Where Docker Hub's registry API is served; the engine pulls from the same host.
pub const HUB_ENDPOINT: &str = "https://registry-1.docker.io";

/// The key under which the docker CLI stores Hub credentials in `config.json`.
pub const HUB_CREDENTIAL_KEY: &str = "https://index.docker.io/v1/";

/// One registry's entry in the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// `https://host[:port]` or `http://host[:port]`; no path, since the registry API lives at
    /// `/v2/` of the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Plain HTTP, as for a loopback registry without TLS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// A PEM file with CA certificates trusted for this registry, besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

/// The settings file: one [`RegistryConfig`] per registry name, hub aliases folded onto
/// [`DEFAULT_DOMAIN`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RegistrySettings {
    registries: BTreeMap<String, RegistryConfig>,
    /// How the file spelled the hub, to name both spellings when it is given twice.
    hub_written_as: Option<String>,
}

/// HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// How to reach one registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    /// The registry's name as images write it (`iechor.io` for the hub, `127.0.0.1:5000`).
    pub registry: String,
    pub scheme: Scheme,
    /// `host[:port]` contacted.
    pub authority: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

impl Endpoint {
    /// `scheme://authority`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority)
    }

    /// The key under which the user's engine config keeps this registry's credentials.
    pub fn credential_key(&self) -> &str {
        if self.registry == DEFAULT_DOMAIN {
            HUB_CREDENTIAL_KEY
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

/// Why a settings file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the registry settings {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("registry settings are not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "registry settings name the hub twice ({first:?} and {second:?}); iechor.io, docker.io \
         and index.docker.io are one registry"
    )]
    DuplicateHub { first: String, second: String },
    #[error("registry {registry:?}: endpoint {endpoint:?} {problem}")]
    BadEndpoint {
        registry: String,
        endpoint: String,
        problem: &'static str,
    },
    #[error("registry {registry:?}: {problem}")]
    Conflict {
        registry: String,
        problem: &'static str,
    },
}

impl RegistrySettings {
    /// Reads and checks a settings file.
    pub fn load(path: &Path) -> Result<RegistrySettings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        RegistrySettings::from_json(&text)
    }

    /// Parses and checks the JSON text of a settings file.
    pub fn from_json(text: &str) -> Result<RegistrySettings, SettingsError> {
        let raw: BTreeMap<String, RegistryConfig> = serde_json::from_str(text)?;
        let mut settings = RegistrySettings::default();
        for (name, config) in raw {
            settings.insert(name, config)?;
        }
        Ok(settings)
    }

    /// Adds one registry's settings, checking them.
    pub fn insert(&mut self, name: String, config: RegistryConfig) -> Result<(), SettingsError> {
        let key = if is_default_hub(&name) {
            DEFAULT_DOMAIN.to_owned()
        } else {
            name.clone()
        };
        endpoint_for(&key, Some(&config))?;
        if key == DEFAULT_DOMAIN {
            if let Some(first) = &self.hub_written_as {
                return Err(SettingsError::DuplicateHub {
                    first: first.clone(),
                    second: name,
                });
            }
            self.hub_written_as = Some(name);
        }
        self.registries.insert(key, config);
        Ok(())
    }

    /// How to reach the registry that serves `repo`.
    pub fn endpoint(&self, repo: &Repository) -> Endpoint {
        let config = self.registries.get(repo.domain());
        endpoint_for(repo.domain(), config)
            .expect("settings are checked when inserted and registry names when parsed")
    }
}

fn endpoint_for(
    registry: &str,
    config: Option<&RegistryConfig>,
) -> Result<Endpoint, SettingsError> {
    let default = RegistryConfig::default();
    let config = config.unwrap_or(&default);
    let conflict = |problem| SettingsError::Conflict {
        registry: registry.to_owned(),
        problem,
    };
    let (scheme, authority) = match &config.endpoint {
        Some(endpoint) => parse_endpoint(registry, endpoint)?,
        None if registry == DEFAULT_DOMAIN => {
            parse_endpoint(registry, HUB_ENDPOINT).expect("the hub endpoint is well formed")
        }
        None if config.insecure => (Scheme::Http, registry.to_owned()),
        None => (Scheme::Https, registry.to_owned()),
    };
    if config.insecure && scheme == Scheme::Https {
        return Err(conflict(
            "\"insecure\": true means plain HTTP, but the endpoint is https://",
        ));
    }
    if config.ca.is_some() && scheme == Scheme::Http {
        return Err(conflict(
            "a CA file applies only to HTTPS, but the registry is served over plain HTTP",
        ));
    }
    Ok(Endpoint {
        registry: registry.to_owned(),
        scheme,
        authority,
        ca: config.ca.clone(),
    })
}

fn parse_endpoint(registry: &str, endpoint: &str) -> Result<(Scheme, String), SettingsError> {
    let bad = |problem| SettingsError::BadEndpoint {
        registry: registry.to_owned(),
        endpoint: endpoint.to_owned(),
        problem,
    };
    let (scheme, rest) = if let Some(rest) = endpoint.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = endpoint.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(bad("must start with https:// or http://"));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err(bad(
            "has a path; the registry API must be at /v2/ of the host",
        ));
    }
    if authority.contains(['@', '?', '#']) {
        return Err(bad(
            "may hold only a host and port (credentials come from the engine config)",
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    if !host_ok || !port_ok {
        return Err(bad(
            "is not a host name or IPv4 address with an optional port",
        ));
    }
    Ok((scheme, authority.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use eci_policy::reference::Reference;

    fn repo(s: &str) -> Repository {
        Reference::parse_normalized(s).unwrap().into_repository()
    }

    #[test]
    fn endpoints_follow_the_settings_and_hub_aliases() {
        let settings = RegistrySettings::from_json(
            r#"{
                "docker.io": {"endpoint": "https://mirror.example:5443/"},
                "127.0.0.1:5000": {"insecure": true},
                "reg.example:5443": {"ca": "/etc/ca.pem"},
                "plain.example": {"endpoint": "http://10.0.0.1:80"}
            }"#,
        )
        .unwrap();
        // (image, scheme, authority, ca, credential key)
        let cases = [
            (
                "busybox",
                "https",
                "mirror.example:5443",
                None,
                HUB_CREDENTIAL_KEY,
            ),
            (
                "iechor.io/a/b",
                "https",
                "mirror.example:5443",
                None,
                HUB_CREDENTIAL_KEY,
            ),
            (
                "127.0.0.1:5000/x",
                "http",
                "127.0.0.1:5000",
                None,
                "127.0.0.1:5000",
            ),
            // Another port is another registry, HTTPS by default.
            (
                "127.0.0.1:5001/x",
                "https",
                "127.0.0.1:5001",
                None,
                "127.0.0.1:5001",
            ),
            (
                "reg.example:5443/x",
                "https",
                "reg.example:5443",
                Some("/etc/ca.pem"),
                "reg.example:5443",
            ),
            (
                "plain.example/x",
                "http",
                "10.0.0.1:80",
                None,
                "plain.example",
            ),
            ("ghcr.io/x/y", "https", "ghcr.io", None, "ghcr.io"),
        ];
        for (image, scheme, authority, ca, key) in cases {
            let e = settings.endpoint(&repo(image));
            assert_eq!(
                (
                    e.scheme.as_str(),
                    e.authority.as_str(),
                    e.ca.as_deref(),
                    e.credential_key()
                ),
                (scheme, authority, ca.map(Path::new), key),
                "{image}"
            );
        }
        let defaults = RegistrySettings::default().endpoint(&repo("busybox"));
        assert_eq!(defaults.url(), HUB_ENDPOINT);
    }

    #[test]
    fn bad_settings_are_refused() {
        let cases = [
            r#"{"x.example": {"endpoint": "x.example:5000"}}"#,
            r#"{"x.example": {"endpoint": "https://x.example/v2"}}"#,
            r#"{"x.example": {"endpoint": "https://user:pw@x.example"}}"#,
            r#"{"x.example": {"endpoint": "https://x.example:0"}}"#,
            r#"{"x.example": {"endpoint": "https://x.example:99999"}}"#,
            r#"{"x.example": {"endpoint": "https://[::1]:5000"}}"#,
            r#"{"x.example": {"endpoint": "https://x.example", "insecure": true}}"#,
            r#"{"x.example": {"insecure": true, "ca": "/ca.pem"}}"#,
            r#"{"x.example": {"endpont": "https://x.example"}}"#,
            r#"{"x.example": {"insecure": "yes"}}"#,
            r#"{"iechor.io": {}, "docker.io": {}}"#,
            r#"["x.example"]"#,
        ];
        for text in cases {
            assert!(RegistrySettings::from_json(text).is_err(), "{text}");
        }
    }
}
