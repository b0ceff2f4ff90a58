//! Asking registries: one `oci-client` per registry and credential (the client keeps the first
//! credentials it is given), each call bounded as a whole, manifests and indexes read into
//! [`ImageDigests`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use eci_policy::reference::{Digest, ImageEntry, Repository, DEFAULT_DOMAIN};
use futures_util::future::try_join_all;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference as OciReference;
use serde::Deserialize;

use crate::credentials::{Credential, CredentialSource};
use crate::digests::{ImageDigests, PlatformImage};
use crate::failure::{Failure, FailureKind};
use crate::settings::{Endpoint, RegistrySettings};

/// Every manifest kind we can read, so the registry never converts what it serves (a converted
/// manifest would have another digest than the one the engine records).
const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// How long credentials read from the engine config are reused before being read again, so a
/// `docker login` is picked up without running credential helpers on every request.
const CREDENTIAL_TTL: Duration = Duration::from_secs(30);

/// Limits on every registry call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole of one call (connect, TLS, auth round trips, body).
    pub request: Duration,
    /// The TCP connect phase alone, so an unreachable host fails fast.
    pub connect: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            request: Duration::from_secs(15),
            connect: Duration::from_secs(5),
        }
    }
}

struct RegistryClient {
    endpoint: Endpoint,
    credential: Credential,
    auth: RegistryAuth,
    client: oci_client::Client,
}

struct Cached {
    client: Arc<RegistryClient>,
    checked: Instant,
}

/// Asks registries about repositories, per the registry settings and the user's credentials.
pub(crate) struct Fetcher {
    settings: RegistrySettings,
    credentials: CredentialSource,
    timeouts: Timeouts,
    clients: Mutex<HashMap<String, Cached>>,
}

impl Fetcher {
    pub(crate) fn new(
        settings: RegistrySettings,
        credentials: CredentialSource,
        timeouts: Timeouts,
    ) -> Fetcher {
        Fetcher {
            settings,
            credentials,
            timeouts,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn endpoint(&self, repo: &Repository) -> Endpoint {
        self.settings.endpoint(repo)
    }

    /// The client for `repo`'s registry, made anew when the stored credential changed, since a
    /// client never forgets the first credential it saw.
    fn client(&self, repo: &Repository) -> Result<Arc<RegistryClient>, Failure> {
        let registry = repo.domain().to_owned();
        {
            let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(cached) = clients.get(&registry) {
                if cached.checked.elapsed() < CREDENTIAL_TTL {
                    return Ok(cached.client.clone());
                }
            }
        }
        let endpoint = self.settings.endpoint(repo);
        let credential = self.credentials.credential_for(endpoint.credential_key());
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = clients.get_mut(&registry) {
            if cached.client.credential == credential {
                cached.checked = Instant::now();
                return Ok(cached.client.clone());
            }
        }
        let client = Arc::new(RegistryClient {
            client: build_client(&endpoint, self.timeouts)?,
            auth: credential.to_auth(),
            credential,
            endpoint,
        });
        clients.insert(
            registry,
            Cached {
                client: client.clone(),
                checked: Instant::now(),
            },
        );
        Ok(client)
    }

    /// The digests `entry` stands for: what its tag or pinned digest names in its repository and,
    /// for an index, every platform image. `None` for `"*"` and `name:*`, which name no digest.
    pub(crate) async fn resolve(
        &self,
        entry: &ImageEntry,
    ) -> Result<Option<ImageDigests>, Failure> {
        match manifest_ref(entry) {
            Some((repo, reference)) => self.resolve_ref(repo, reference).await.map(Some),
            None => Ok(None),
        }
    }

    /// Like [`Fetcher::resolve`], but first asks only for the digest the entry names now (one
    /// `HEAD`): when it is still `known`'s, the content behind it is too, and `Ok(None)` says so
    /// without reading the index and its platform manifests again.
    pub(crate) async fn resolve_if_changed(
        &self,
        entry: &ImageEntry,
        known: Option<&ImageDigests>,
    ) -> Result<Option<ImageDigests>, Failure> {
        let Some((repo, reference)) = manifest_ref(entry) else {
            return Ok(None);
        };
        if let Some(known) = known {
            if self.head(repo, reference).await? == known.digest {
                return Ok(None);
            }
        }
        self.resolve_ref(repo, reference).await.map(Some)
    }

    async fn head(&self, repo: &Repository, reference: ManifestRef<'_>) -> Result<Digest, Failure> {
        let rc = self.client(repo)?;
        let what = rc.what(repo, reference);
        let oci = rc.oci_reference(repo, reference);
        let call = rc.client.fetch_manifest_digest(&oci, &rc.auth);
        let digest = tokio::time::timeout(self.timeouts.request, call)
            .await
            .map_err(|_| Failure::timeout(&what, self.timeouts.request))?
            .map_err(|e| rc.client_failure(&what, &e))?;
        digest
            .parse()
            .map_err(|e| Failure::new(FailureKind::Registry, format!("{what}: {e}")))
    }

    /// The digests published under `repo@digest` (asked for `name:*` entries).
    pub(crate) async fn resolve_digest(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<ImageDigests, Failure> {
        self.resolve_ref(repo, ManifestRef::Digest(digest)).await
    }

    async fn resolve_ref(
        &self,
        repo: &Repository,
        reference: ManifestRef<'_>,
    ) -> Result<ImageDigests, Failure> {
        let rc = self.client(repo)?;
        let (bytes, digest) = self.manifest(&rc, repo, reference).await?;
        let parsed = parse_manifest(&bytes).map_err(|m| rc.failure(repo, reference, m))?;
        match parsed {
            Parsed::Image { media_type, config } => Ok(ImageDigests {
                images: vec![PlatformImage {
                    platform: None,
                    manifest: digest.clone(),
                    config,
                }],
                digest,
                media_type,
            }),
            Parsed::Index {
                media_type,
                children,
            } => {
                let images = try_join_all(children.into_iter().map(|(platform, child)| {
                    let rc = rc.clone();
                    async move {
                        let (bytes, manifest) = self
                            .manifest(&rc, repo, ManifestRef::Digest(&child))
                            .await?;
                        match parse_manifest(&bytes) {
                            Ok(Parsed::Image { config, .. }) => Ok(PlatformImage {
                                platform,
                                manifest,
                                config,
                            }),
                            Ok(Parsed::Index { .. }) => Err(rc.failure(
                                repo,
                                ManifestRef::Digest(&child),
                                "an index inside an index is not supported".into(),
                            )),
                            Err(m) => Err(rc.failure(repo, ManifestRef::Digest(&child), m)),
                        }
                    }
                }))
                .await?;
                Ok(ImageDigests {
                    digest,
                    media_type,
                    images,
                })
            }
        }
    }

    async fn manifest(
        &self,
        rc: &RegistryClient,
        repo: &Repository,
        reference: ManifestRef<'_>,
    ) -> Result<(Vec<u8>, Digest), Failure> {
        let what = rc.what(repo, reference);
        let oci = rc.oci_reference(repo, reference);
        let call = rc.client.pull_manifest_raw(&oci, &rc.auth, ACCEPT);
        let (bytes, digest) = tokio::time::timeout(self.timeouts.request, call)
            .await
            .map_err(|_| Failure::timeout(&what, self.timeouts.request))?
            .map_err(|e| rc.client_failure(&what, &e))?;
        let digest = digest
            .parse()
            .map_err(|e| Failure::new(FailureKind::Registry, format!("{what}: {e}")))?;
        Ok((bytes.to_vec(), digest))
    }

    /// How many tags `repo` has (distribution 2.8 ignores `n`, so this is one request).
    pub(crate) async fn count_tags(&self, repo: &Repository) -> Result<usize, Failure> {
        let rc = self.client(repo)?;
        let what = format!("list the tags of {repo} at {}", rc.endpoint);
        let oci = rc.oci_reference(repo, ManifestRef::Tag("latest"));
        let call = rc.client.list_tags(&oci, &rc.auth, None, None);
        let tags = tokio::time::timeout(self.timeouts.request, call)
            .await
            .map_err(|_| Failure::timeout(&what, self.timeouts.request))?
            .map_err(|e| rc.client_failure(&what, &e))?;
        Ok(tags.tags.len())
    }
}

impl RegistryClient {
    fn oci_reference(&self, repo: &Repository, reference: ManifestRef<'_>) -> OciReference {
        let registry = self.endpoint.authority.clone();
        let path = repo.path().to_owned();
        match reference {
            ManifestRef::Tag(tag) => OciReference::with_tag(registry, path, tag.to_owned()),
            ManifestRef::Digest(d) => OciReference::with_digest(registry, path, d.to_string()),
        }
    }

    fn what(&self, repo: &Repository, reference: ManifestRef<'_>) -> String {
        let sep = match reference {
            ManifestRef::Tag(_) => ':',
            ManifestRef::Digest(_) => '@',
        };
        format!("{repo}{sep}{reference} at {}", self.endpoint)
    }

    /// The client's error, with what the user can do about it.
    fn client_failure(&self, what: &str, error: &OciDistributionError) -> Failure {
        let mut failure = Failure::from_client(what, error);
        let hint = match failure.kind {
            FailureKind::AuthRequired if self.endpoint.registry == DEFAULT_DOMAIN => {
                "credentials come from the engine config: docker login".to_owned()
            }
            FailureKind::AuthRequired => format!(
                "credentials come from the engine config: docker login {}",
                self.endpoint.registry
            ),
            FailureKind::Tls => "trust the registry's CA with \"ca\" in the registry settings, \
                 or reach it over plain HTTP with \"insecure\": true"
                .to_owned(),
            _ => return failure,
        };
        failure.message = format!("{} ({hint})", failure.message);
        failure
    }

    fn failure(&self, repo: &Repository, reference: ManifestRef<'_>, message: String) -> Failure {
        Failure::new(
            FailureKind::Registry,
            format!("{}: {message}", self.what(repo, reference)),
        )
    }
}

fn manifest_ref(entry: &ImageEntry) -> Option<(&Repository, ManifestRef<'_>)> {
    match entry {
        ImageEntry::All | ImageEntry::AnyTag { .. } | ImageEntry::AnyRepository { .. } => None,
        ImageEntry::Tag { repo, tag } => Some((repo, ManifestRef::Tag(tag.as_str()))),
        ImageEntry::Digest { repo, digest } => Some((repo, ManifestRef::Digest(digest))),
    }
}

#[derive(Debug, Clone, Copy)]
enum ManifestRef<'a> {
    Tag(&'a str),
    Digest(&'a Digest),
}

impl std::fmt::Display for ManifestRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestRef::Tag(t) => f.write_str(t),
            ManifestRef::Digest(d) => write!(f, "{d}"),
        }
    }
}

fn build_client(endpoint: &Endpoint, timeouts: Timeouts) -> Result<oci_client::Client, Failure> {
    install_crypto_provider();
    let mut extra_root_certificates = Vec::new();
    if let Some(ca) = &endpoint.ca {
        let data = std::fs::read(ca).map_err(|e| {
            Failure::new(
                FailureKind::Tls,
                format!(
                    "cannot read the CA file {} for {}: {e}",
                    ca.display(),
                    endpoint.registry
                ),
            )
        })?;
        extra_root_certificates.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        });
    }
    let config = ClientConfig {
        protocol: match endpoint.scheme {
            crate::settings::Scheme::Http => ClientProtocol::Http,
            crate::settings::Scheme::Https => ClientProtocol::Https,
        },
        extra_root_certificates,
        // Indexes are read whole here; the client must never pick one platform for us.
        platform_resolver: None,
        connect_timeout: Some(timeouts.connect),
        read_timeout: Some(timeouts.request),
        ..ClientConfig::default()
    };
    oci_client::Client::try_from(config)
        .map_err(|e| Failure::from_client(&format!("set up a client for {endpoint}"), &e))
}

/// The HTTP client is built without a bundled crypto provider (ring is already in the tree;
/// aws-lc would be a second one); it uses the process default, installed once here.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<RawDescriptor>>,
    #[serde(default)]
    config: Option<RawDescriptor>,
}

#[derive(Deserialize)]
struct RawDescriptor {
    digest: String,
    #[serde(default)]
    platform: Option<RawPlatform>,
    #[serde(default)]
    annotations: Option<HashMap<String, String>>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Image {
        media_type: String,
        config: Digest,
    },
    /// Platform images as (platform, manifest digest), attestations left out.
    Index {
        media_type: String,
        children: Vec<(Option<String>, Digest)>,
    },
}

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn parse_manifest(bytes: &[u8]) -> Result<Parsed, String> {
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| format!("unreadable manifest: {e}"))?;
    if raw.schema_version != Some(2) {
        return Err(format!(
            "manifest schema version {:?} is not supported (only 2)",
            raw.schema_version
        ));
    }
    let digest = |d: &str| {
        d.parse::<Digest>()
            .map_err(|e| format!("manifest lists a bad digest: {e}"))
    };
    match (raw.manifests, raw.config) {
        (Some(manifests), None) => {
            let mut children = Vec::new();
            for m in manifests {
                if is_attestation(&m) {
                    continue;
                }
                let platform = m.platform.map(|p| match p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                });
                children.push((platform, digest(&m.digest)?));
            }
            Ok(Parsed::Index {
                media_type: raw.media_type.unwrap_or_else(|| OCI_INDEX.into()),
                children,
            })
        }
        (None, Some(config)) => Ok(Parsed::Image {
            media_type: raw.media_type.unwrap_or_else(|| OCI_MANIFEST.into()),
            config: digest(&config.digest)?,
        }),
        _ => Err("neither an image manifest nor an index".into()),
    }
}

/// BuildKit's provenance and SBOM manifests sit in the index beside the platform images; they
/// are no image anyone runs.
fn is_attestation(descriptor: &RawDescriptor) -> bool {
    let annotated = descriptor
        .annotations
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|t| t == "attestation-manifest");
    let unknown_platform = descriptor
        .platform
        .as_ref()
        .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
    annotated || unknown_platform
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    #[test]
    fn manifests_and_indexes_are_read_and_attestations_skipped() {
        let image = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
                "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{}","size":1}},
                "layers":[]}}"#,
            d(1)
        );
        assert_eq!(
            parse_manifest(image.as_bytes()),
            Ok(Parsed::Image {
                media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
                config: d(1).parse().unwrap()
            })
        );
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[
                {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"platform":{{"os":"unknown","architecture":"unknown"}}}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1,"annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}}
            ]}}"#,
            d(2),
            d(3),
            d(4),
            d(5)
        );
        assert_eq!(
            parse_manifest(index.as_bytes()),
            Ok(Parsed::Index {
                media_type: OCI_INDEX.into(),
                children: vec![
                    (Some("linux/amd64".into()), d(2).parse().unwrap()),
                    (Some("linux/arm64/v8".into()), d(3).parse().unwrap()),
                ]
            })
        );
        let refused = [
            r#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]}"#.to_string(),
            r#"{"schemaVersion":2}"#.to_string(),
            format!(
                r#"{{"schemaVersion":2,"config":{{"digest":"{}"}},"manifests":[]}}"#,
                d(1)
            ),
            r#"{"schemaVersion":2,"config":{"digest":"sha256:short"}}"#.to_string(),
            "not json".to_string(),
        ];
        for text in refused {
            assert!(parse_manifest(text.as_bytes()).is_err(), "{text}");
        }
    }
}
