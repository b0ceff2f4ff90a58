//! A loopback registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with a per-run
//! config and storage, plain or with TLS and htpasswd, plus a small client for its API.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustix::process::Signal;
use sha2::{Digest, Sha256};

use crate::netns;
use crate::process::{self, RunDir};
use crate::{HarnessError, Result};

const READY_TIMEOUT: Duration = Duration::from_secs(20);
const PORT_ATTEMPTS: u32 = 8;
const USERNAME: &str = "eci-e2e";
const PASSWORD: &str = "eci-e2e-secret";

/// Every manifest kind the harness reads, so the registry never converts what it serves.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Which registry to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Serve HTTPS with a fresh self-signed CA ([`Registry::ca_pem_path`]).
    pub tls: bool,
    /// Require htpasswd basic auth ([`Registry::credentials`]).
    pub htpasswd: bool,
}

impl RegistryConfig {
    /// Plain HTTP, anonymous pushes and pulls.
    pub fn plain() -> RegistryConfig {
        RegistryConfig {
            tls: false,
            htpasswd: false,
        }
    }

    /// HTTPS with a self-signed CA and htpasswd basic auth.
    pub fn tls_with_auth() -> RegistryConfig {
        RegistryConfig {
            tls: true,
            htpasswd: true,
        }
    }
}

/// A username and password the registry accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A manifest (or index) as the registry serves it.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `Content-Type` of the answer.
    pub media_type: String,
    /// `sha256:` of the exact bytes served.
    pub digest: String,
    pub bytes: Vec<u8>,
    pub json: serde_json::Value,
}

#[derive(Debug)]
struct Tls {
    ca_pem: String,
    ca_pem_path: PathBuf,
}

/// A running docker-registry. Dropping it kills the process and removes its storage.
#[derive(Debug)]
pub struct Registry {
    dir: RunDir,
    config: RegistryConfig,
    /// Chosen at start, kept across stop and start.
    port: AtomicU16,
    tls: Option<Tls>,
    credentials: Option<Credentials>,
    agent: ureq::Agent,
    child: Mutex<Option<Child>>,
    /// The port forwarded into every engine's network namespace while the registry runs (a
    /// stopped registry refuses connections there too).
    reach: Mutex<Option<netns::Published>>,
}

impl Registry {
    /// Starts a registry on a free loopback port and waits until its API answers.
    pub fn start(config: RegistryConfig) -> Result<Registry> {
        process::require_root()?;
        process::find(process::REGISTRY)?;
        let dir = RunDir::new()?;
        let root = dir.path();
        fs::create_dir_all(root.join("storage"))
            .map_err(HarnessError::io("creating the registry storage"))?;
        let tls = if config.tls {
            Some(write_certificates(root)?)
        } else {
            None
        };
        let credentials = if config.htpasswd {
            let hash =
                bcrypt::hash_with_result(PASSWORD, 4)?.format_for_version(bcrypt::Version::TwoY);
            fs::write(root.join("htpasswd"), format!("{USERNAME}:{hash}\n"))
                .map_err(HarnessError::io("writing the htpasswd file"))?;
            Some(Credentials {
                username: USERNAME.into(),
                password: PASSWORD.into(),
            })
        } else {
            None
        };
        let agent = http_agent(tls.as_ref())?;
        let registry = Registry {
            dir,
            config,
            port: AtomicU16::new(0),
            tls,
            credentials,
            agent,
            child: Mutex::new(None),
            reach: Mutex::new(None),
        };
        registry.start_on_free_port()?;
        Ok(registry)
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr())
    }

    pub fn config(&self) -> RegistryConfig {
        self.config
    }

    /// The CA certificate (PEM) that signed the server certificate, for TLS registries.
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca_pem_path.as_path())
    }

    /// The CA certificate's PEM text, for TLS registries.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// The accepted credentials, for htpasswd registries.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Where the registry keeps blobs and manifests; it survives [`Registry::stop`].
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's stdout and stderr, across restarts.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Whether the registry process is alive.
    pub fn is_running(&self) -> bool {
        self.lock()
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the registry (SIGTERM, then SIGKILL after 5 s); port and storage are kept.
    pub fn stop(&self) {
        self.reach.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut child) = self.lock().take() {
            process::signal(child.id(), Signal::TERM);
            process::wait_or_kill(&mut child, Duration::from_secs(5));
        }
    }

    /// Starts the registry again on the same port and storage; does nothing if it is running.
    /// Fails if something else took the port meanwhile.
    pub fn start_again(&self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        self.launch(self.port())
    }

    /// Fetches a manifest or index by tag or digest, with credentials if the registry has them.
    pub fn manifest(&self, repository: &str, reference: &str) -> Result<Manifest> {
        let what = format!("GET manifest {repository}:{reference}");
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.url());
        let response = self
            .authorized(self.agent.get(&url))
            .header("Accept", MANIFEST_ACCEPT)
            .call()
            .map_err(http_error(&what))?;
        let (status, media_type, bytes) = read_response(response, &what)?;
        if status != 200 {
            return Err(HarnessError::HttpStatus {
                what,
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        let json = serde_json::from_slice(&bytes)
            .map_err(|e| HarnessError::unexpected(&what, e.to_string()))?;
        Ok(Manifest {
            media_type,
            digest: sha256_digest(&bytes),
            bytes,
            json,
        })
    }

    /// Fetches a blob (e.g. an image config) by digest.
    pub fn blob(&self, repository: &str, digest: &str) -> Result<Vec<u8>> {
        let what = format!("GET blob {repository}@{digest}");
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.url());
        let response = self
            .authorized(self.agent.get(&url))
            .call()
            .map_err(http_error(&what))?;
        let (status, _, bytes) = read_response(response, &what)?;
        if status != 200 {
            return Err(HarnessError::HttpStatus {
                what,
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(bytes)
    }

    /// Stores a manifest or index under `reference` (a tag); returns the registry's digest for
    /// it, checked against the digest of `body`.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<String> {
        let what = format!("PUT manifest {repository}:{reference}");
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.url());
        let response = self
            .authorized(self.agent.put(&url))
            .header("Content-Type", media_type)
            .send(body)
            .map_err(http_error(&what))?;
        let served = response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, _, answer) = read_response(response, &what)?;
        if status != 201 {
            return Err(HarnessError::HttpStatus {
                what,
                status,
                body: String::from_utf8_lossy(&answer).into_owned(),
            });
        }
        let digest = sha256_digest(body);
        match served {
            Some(served) if served == digest => Ok(digest),
            other => Err(HarnessError::unexpected(
                what,
                format!("Docker-Content-Digest {other:?}, body digest {digest}"),
            )),
        }
    }

    /// `GET /v2/` without credentials: the HTTP status (401 when auth is required).
    pub fn anonymous_api_status(&self) -> Result<u16> {
        let what = "GET /v2/".to_string();
        let response = self
            .agent
            .get(format!("{}/v2/", self.url()))
            .call()
            .map_err(http_error(&what))?;
        Ok(response.status().as_u16())
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.credentials {
            Some(c) => {
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.username, c.password));
                request.header("Authorization", format!("Basic {token}"))
            }
            None => request,
        }
    }

    /// distribution cannot listen on port 0 and report the port, so the harness picks a free
    /// one and retries when another process takes it first.
    fn start_on_free_port(&self) -> Result<()> {
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            self.port.store(port, Ordering::Relaxed);
            match self.launch(port) {
                Err(HarnessError::Exited { tail, .. })
                    if tail.contains("address already in use") =>
                {
                    continue
                }
                other => return other,
            }
        }
        Err(HarnessError::NoFreePort {
            attempts: PORT_ATTEMPTS,
        })
    }

    fn launch(&self, port: u16) -> Result<()> {
        let root = self.dir.path();
        let config_path = root.join("config.yml");
        fs::write(&config_path, self.config_yaml(port))
            .map_err(HarnessError::io("writing the registry config"))?;
        let mut cmd = process::tied_command(&process::find(process::REGISTRY)?)?;
        cmd.arg("serve").arg(&config_path);
        let log = self.log_path();
        let (stdout, stderr) = process::log_stdio(&log)?;
        cmd.stdout(stdout).stderr(stderr);
        let mut child =
            process::spawn_tied(cmd).map_err(HarnessError::io("spawning docker-registry"))?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(HarnessError::Exited {
                    what: "docker-registry",
                    status,
                    tail: process::tail(&log, 10),
                    log,
                });
            }
            // Whoever answers on the port must be this process, not a neighbour that won it.
            if listens_on(child.id(), port) {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                process::wait_or_kill(&mut child, Duration::ZERO);
                return Err(HarnessError::NotReady {
                    what: "docker-registry",
                    seconds: READY_TIMEOUT.as_secs(),
                    tail: process::tail(&log, 10),
                    log,
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
        *self.lock() = Some(child);
        *self.reach.lock().unwrap_or_else(|e| e.into_inner()) = Some(netns::publish(port)?);
        // Proves the TLS setup (rustls accepts the certificate) and the auth setup.
        let expected = if self.credentials.is_some() { 401 } else { 200 };
        match self.anonymous_api_status()? {
            status if status == expected => Ok(()),
            status => Err(HarnessError::HttpStatus {
                what: "GET /v2/ after start".into(),
                status,
                body: format!("expected {expected}"),
            }),
        }
    }

    fn config_yaml(&self, port: u16) -> String {
        let root = self.dir.path().display();
        let mut yaml = format!(
            "version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {root}/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: eci-e2e-{port}
"
        );
        if self.tls.is_some() {
            yaml.push_str(&format!(
                "  tls:\n    certificate: {root}/server.crt\n    key: {root}/server.key\n"
            ));
        }
        if self.credentials.is_some() {
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: eci-e2e\n    path: {root}/htpasswd\n"
            ));
        }
        yaml
    }

    fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.lock().take() {
            process::wait_or_kill(&mut child, Duration::ZERO);
        }
    }
}

/// `sha256:<hex>` of `bytes`, the registry's content digest.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(HarnessError::io("binding 127.0.0.1:0"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(HarnessError::io("reading the bound port"))
}

/// Whether process `pid` holds a listening TCP socket on 127.0.0.1:`port`.
fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(table) = fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let wanted_addr = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address, st (0A = LISTEN), inode
            (fields.len() > 9 && fields[1] == wanted_addr && fields[3] == "0A")
                .then(|| format!("socket:[{}]", fields[9]))
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
    })
}

fn write_certificates(root: &Path) -> Result<Tls> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "eci-e2e test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_string()])?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    // rustls refuses a server certificate that is marked as a CA (as one made by a bare
    // `openssl req -x509` is), so this one says CA:FALSE outright.
    server_params.is_ca = IsCa::ExplicitNoCa;
    server_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params.signed_by(&server_key, &issuer)?;

    let ca_pem = ca_cert.pem();
    let ca_pem_path = root.join("ca.crt");
    let write = |path: PathBuf, text: &str| {
        fs::write(&path, text).map_err(HarnessError::io(format!("writing {}", path.display())))
    };
    write(ca_pem_path.clone(), &ca_pem)?;
    write(root.join("server.crt"), &server_cert.pem())?;
    write(root.join("server.key"), &server_key.serialize_pem())?;
    Ok(Tls {
        ca_pem,
        ca_pem_path,
    })
}

fn http_agent(tls: Option<&Tls>) -> Result<ureq::Agent> {
    let mut tls_config = ureq::tls::TlsConfig::builder();
    if let Some(tls) = tls {
        let ca = ureq::tls::Certificate::from_pem(tls.ca_pem.as_bytes())
            .map_err(|e| HarnessError::unexpected("the generated CA", e.to_string()))?;
        tls_config = tls_config.root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![ca])));
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(tls_config.build())
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into())
}

fn http_error(what: &str) -> impl FnOnce(ureq::Error) -> HarnessError {
    let what = what.to_string();
    move |source| HarnessError::Http {
        what,
        source: Box::new(source),
    }
}

fn read_response(
    response: ureq::http::Response<ureq::Body>,
    what: &str,
) -> Result<(u16, String, Vec<u8>)> {
    let status = response.status().as_u16();
    let media_type = response
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response
        .into_body()
        .read_to_vec()
        .map_err(http_error(what))?;
    Ok((status, media_type, bytes))
}
