//! Registry credentials from the user's engine config (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): `auths` entries and credential helpers, as the docker CLI stores them.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;

/// Where credentials come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum CredentialSource {
    /// `$DOCKER_CONFIG`, else `$HOME/.docker`, as the docker CLI looks.
    #[default]
    EngineConfig,
    /// The `config.json` in this directory (a `DOCKER_CONFIG` directory).
    ConfigDir(PathBuf),
    /// Never send credentials.
    Anonymous,
}

/// What to send to one registry. Kept apart from `RegistryAuth` so it can be compared and shown
/// without the secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    Anonymous,
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Anonymous => f.write_str("Anonymous"),
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

impl Credential {
    pub(crate) fn to_auth(&self) -> RegistryAuth {
        match self {
            Credential::Anonymous => RegistryAuth::Anonymous,
            Credential::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
        }
    }
}

impl CredentialSource {
    fn config_file(&self) -> Option<PathBuf> {
        let dir = match self {
            CredentialSource::Anonymous => return None,
            CredentialSource::ConfigDir(dir) => dir.clone(),
            CredentialSource::EngineConfig => std::env::var_os("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?,
        };
        Some(dir.join("config.json"))
    }

    /// The credential stored for `key` (`https://index.docker.io/v1/` for the hub, else
    /// `host[:port]`). Anything missing or unreadable means anonymous, as for the docker CLI: a
    /// registry that needs credentials then answers "authentication required", which is the
    /// message the user can act on.
    pub(crate) fn credential_for(&self, key: &str) -> Credential {
        let Some(path) = self.config_file() else {
            return Credential::Anonymous;
        };
        let Ok(file) = File::open(&path) else {
            return Credential::Anonymous;
        };
        match docker_credential::get_credential_from_reader(BufReader::new(file), key) {
            Ok(DockerCredential::UsernamePassword(username, password)) => {
                Credential::Basic { username, password }
            }
            Ok(DockerCredential::IdentityToken(_)) => {
                tracing::warn!(
                    registry = key,
                    "identity tokens in the engine config are not supported; asking anonymously"
                );
                Credential::Anonymous
            }
            Err(CredentialRetrievalError::NoCredentialConfigured) => Credential::Anonymous,
            Err(error) => {
                tracing::warn!(
                    registry = key,
                    config = %path.display(),
                    %error,
                    "cannot read registry credentials; asking anonymously"
                );
                Credential::Anonymous
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_auths_by_registry_key() {
        let dir = tempfile::tempdir().unwrap();
        // "user:pw" and "hub:secret"
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths": {
                "127.0.0.1:5000": {"auth": "dXNlcjpwdw=="},
                "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
                "broken.example": {"auth": "!!"}
            }}"#,
        )
        .unwrap();
        let source = CredentialSource::ConfigDir(dir.path().to_owned());
        let basic = |u: &str, p: &str| Credential::Basic {
            username: u.into(),
            password: p.into(),
        };
        let cases = [
            ("127.0.0.1:5000", basic("user", "pw")),
            ("https://index.docker.io/v1/", basic("hub", "secret")),
            // Another port is another registry: its credentials must not leak there.
            ("127.0.0.1:5001", Credential::Anonymous),
            ("broken.example", Credential::Anonymous),
        ];
        for (key, want) in cases {
            assert_eq!(source.credential_for(key), want, "{key}");
        }
        assert_eq!(
            CredentialSource::Anonymous.credential_for("127.0.0.1:5000"),
            Credential::Anonymous
        );
        let missing = CredentialSource::ConfigDir(dir.path().join("nowhere"));
        assert_eq!(
            missing.credential_for("127.0.0.1:5000"),
            Credential::Anonymous
        );
    }
}
