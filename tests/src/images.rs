//! Test images: `FROM scratch` images of the static busybox (and optionally the static docker
//! CLI) built on a harness engine, pushed to a harness registry, and multi-platform indexes over
//! them — with the digests the registry serves, for tests to compare against.
//!
//! Every image carries `/etc/eci-e2e/label` ([`LABEL_PATH`]) holding [`ImageSpec::label`], so
//! images of different names or platforms always differ in content and digest.

use std::fmt;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::json;

use crate::process;
use crate::{Engine, HarnessError, Registry, Result};

/// Where each test image keeps its label.
pub const LABEL_PATH: &str = "/etc/eci-e2e/label";

/// Where each test image records the platform it was built for.
pub const PLATFORM_PATH: &str = "/etc/eci-e2e/platform";

/// Where images built [`ImageSpec::with_docker_cli`] keep the docker CLI.
pub const DOCKER_CLI_PATH: &str = "/usr/local/bin/docker";

pub(crate) const BUSYBOX: &str = "/bin/busybox";

/// An image platform, as in an index's `platform` object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn linux_amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    pub fn linux_arm64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        }
    }

    /// The platform of the machine the tests run on (and of its busybox).
    pub fn host() -> Platform {
        match std::env::consts::ARCH {
            "aarch64" => Platform::linux_arm64(),
            "x86_64" => Platform::linux_amd64(),
            other => Platform {
                os: "linux".into(),
                architecture: other.into(),
                variant: None,
            },
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut platform = json!({ "architecture": self.architecture, "os": self.os });
        if let Some(variant) = &self.variant {
            platform["variant"] = json!(variant);
        }
        platform
    }
}

impl fmt::Display for Platform {
    /// `os/architecture[/variant]`, as `docker build --platform` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// What to put in a test image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Distinguishes the image's content (it is written into the label).
    pub name: String,
    /// The platform recorded in the image config. The binaries are the host's whatever it says,
    /// so only the host's platform can run.
    pub platform: Platform,
    /// Also copy the static docker CLI to [`DOCKER_CLI_PATH`] (about 40 MB).
    pub with_docker_cli: bool,
}

impl ImageSpec {
    /// A busybox image named `name` for the host's platform.
    pub fn new(name: impl Into<String>) -> ImageSpec {
        ImageSpec {
            name: name.into(),
            platform: Platform::host(),
            with_docker_cli: false,
        }
    }

    pub fn platform(mut self, platform: Platform) -> ImageSpec {
        self.platform = platform;
        self
    }

    pub fn with_docker_cli(mut self) -> ImageSpec {
        self.with_docker_cli = true;
        self
    }

    /// The content of [`LABEL_PATH`] in the image.
    pub fn label(&self) -> String {
        format!("name={}\nplatform={}\n", self.name, self.platform)
    }
}

/// An image pushed to a harness registry, with the digests the registry serves for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    /// `127.0.0.1:PORT`.
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub spec: ImageSpec,
    /// Digest of the image manifest (what `repo@sha256:…` pins).
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub manifest_size: u64,
    /// Digest of the image config, which is also the image ID on any engine that pulls it.
    pub config_digest: String,
}

impl PushedImage {
    /// `127.0.0.1:PORT/repository:tag`.
    pub fn reference(&self) -> String {
        format!("{}/{}:{}", self.registry, self.repository, self.tag)
    }

    /// `127.0.0.1:PORT/repository@sha256:…`.
    pub fn pinned_reference(&self) -> String {
        format!(
            "{}/{}@{}",
            self.registry, self.repository, self.manifest_digest
        )
    }
}

/// Which kind of multi-platform document [`push_index`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexFormat {
    /// `application/vnd.oci.image.index.v1+json`.
    Oci,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`.
    DockerManifestList,
}

impl IndexFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            IndexFormat::Oci => "application/vnd.oci.image.index.v1+json",
            IndexFormat::DockerManifestList => {
                "application/vnd.docker.distribution.manifest.list.v2+json"
            }
        }
    }
}

/// A multi-platform index pushed to a harness registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedIndex {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    /// Digest of the index document.
    pub digest: String,
    pub media_type: String,
    /// The platform images it lists, in order.
    pub images: Vec<PushedImage>,
}

impl PushedIndex {
    /// `127.0.0.1:PORT/repository:tag`.
    pub fn reference(&self) -> String {
        format!("{}/{}:{}", self.registry, self.repository, self.tag)
    }

    /// `127.0.0.1:PORT/repository@sha256:…` of the index.
    pub fn pinned_reference(&self) -> String {
        format!("{}/{}@{}", self.registry, self.repository, self.digest)
    }
}

/// Builds `spec` on `engine` as `tag` and returns the image ID.
pub fn build_image(engine: &Engine, spec: &ImageSpec, tag: &str) -> Result<String> {
    let context = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(engine.root())
        .map_err(HarnessError::io("creating a build context"))?;
    write_context(context.path(), spec, engine.docker_cli_path())?;
    let platform = spec.platform.to_string();
    let output = process::run(
        engine
            .docker()
            .args(["build", "--quiet", "--platform", &platform, "--tag", tag])
            .arg(context.path()),
    )?;
    output
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("sha256:"))
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::unexpected("docker build --quiet", output.clone()))
}

/// Builds `spec` on `engine`, pushes it to `registry` as `repository:tag` and reads back what
/// the registry serves. A TLS or htpasswd registry must be trusted and logged in first
/// ([`Engine::trust_registry`], [`Engine::login`]).
pub fn push_image(
    engine: &Engine,
    registry: &Registry,
    spec: &ImageSpec,
    repository: &str,
    tag: &str,
) -> Result<PushedImage> {
    let reference = format!("{}/{repository}:{tag}", registry.addr());
    let image_id = build_image(engine, spec, &reference)?;
    let output = engine.run_docker(["push", &reference])?;
    let pushed_digest = output
        .split_whitespace()
        .find(|word| word.starts_with("sha256:"))
        .ok_or_else(|| HarnessError::unexpected("docker push", output.clone()))?;
    let manifest = registry.manifest(repository, tag)?;
    if manifest.digest != pushed_digest {
        return Err(HarnessError::unexpected(
            format!("the registry's manifest for {reference}"),
            format!(
                "digest {} but docker push said {pushed_digest}",
                manifest.digest
            ),
        ));
    }
    let config_digest = manifest.json["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if config_digest != image_id {
        return Err(HarnessError::unexpected(
            format!("the registry's manifest for {reference}"),
            format!("config digest {config_digest:?} but the built image is {image_id}"),
        ));
    }
    Ok(PushedImage {
        registry: registry.addr(),
        repository: repository.to_string(),
        tag: tag.to_string(),
        spec: spec.clone(),
        manifest_digest: manifest.digest,
        manifest_media_type: manifest.media_type,
        manifest_size: manifest.bytes.len() as u64,
        config_digest,
    })
}

/// Writes an index listing `images` (all already pushed to `repository` of `registry`, which
/// distribution requires) under `repository:tag`.
pub fn push_index(
    registry: &Registry,
    repository: &str,
    tag: &str,
    images: &[&PushedImage],
    format: IndexFormat,
) -> Result<PushedIndex> {
    if let Some(stranger) = images
        .iter()
        .find(|i| i.repository != repository || i.registry != registry.addr())
    {
        return Err(HarnessError::unexpected(
            format!("push_index to {}/{repository}", registry.addr()),
            format!("{} is not in that repository", stranger.reference()),
        ));
    }
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            json!({
                "mediaType": image.manifest_media_type,
                "digest": image.manifest_digest,
                "size": image.manifest_size,
                "platform": image.spec.platform.to_json(),
            })
        })
        .collect();
    let media_type = format.media_type();
    let document = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": manifests,
    });
    let body = serde_json::to_vec_pretty(&document)
        .map_err(|e| HarnessError::unexpected("serialising the index", e.to_string()))?;
    let digest = registry.put_manifest(repository, tag, media_type, &body)?;
    Ok(PushedIndex {
        registry: registry.addr(),
        repository: repository.to_string(),
        tag: tag.to_string(),
        digest,
        media_type: media_type.to_string(),
        images: images.iter().map(|i| (*i).clone()).collect(),
    })
}

/// One directory per layer, so the busybox and CLI layers are shared between images and only
/// the small label layer differs.
fn write_context(dir: &Path, spec: &ImageSpec, docker_cli: &Path) -> Result<()> {
    let mut dockerfile = String::from("FROM scratch\nCOPY busybox/ /\n");
    let bin = dir.join("busybox/bin");
    create_dirs(&bin)?;
    create_dirs(&dir.join("busybox/tmp"))?;
    let busybox = Path::new(BUSYBOX);
    if !busybox.is_file() {
        return Err(HarnessError::MissingFile {
            path: busybox.into(),
            package: "busybox-static",
        });
    }
    if process::is_dynamic_elf(busybox)? {
        return Err(HarnessError::NotStatic {
            path: busybox.into(),
            remedy: "install the Debian package `busybox-static`",
        });
    }
    link_or_copy(busybox, &bin.join("busybox"))?;
    // The legacy builder's cache ignores the platform and then refuses a cached layer of
    // another platform, so the first layer already differs per platform.
    let platform_file = dir
        .join("busybox")
        .join(PLATFORM_PATH.trim_start_matches('/'));
    create_dirs(platform_file.parent().unwrap_or(dir))?;
    fs::write(&platform_file, format!("{}\n", spec.platform))
        .map_err(HarnessError::io("writing the image platform"))?;
    for applet in applets()? {
        let link = bin.join(applet);
        symlink("busybox", &link)
            .map_err(HarnessError::io(format!("linking {}", link.display())))?;
    }
    if spec.with_docker_cli {
        if process::is_dynamic_elf(docker_cli)? {
            return Err(HarnessError::NotStatic {
                path: docker_cli.into(),
                remedy: "put a static docker CLI at /usr/local/bin/docker or name one in \
                         ECI_E2E_DOCKER_CLI",
            });
        }
        let cli_dir = dir.join("cli/usr/local/bin");
        create_dirs(&cli_dir)?;
        link_or_copy(docker_cli, &cli_dir.join("docker"))?;
        dockerfile.push_str("COPY cli/ /\n");
    }
    let label = dir.join("label").join(LABEL_PATH.trim_start_matches('/'));
    create_dirs(label.parent().unwrap_or(dir))?;
    fs::write(&label, spec.label()).map_err(HarnessError::io("writing the image label"))?;
    dockerfile
        .push_str("COPY label/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin\nCMD [\"/bin/sh\"]\n");
    fs::write(dir.join("Dockerfile"), dockerfile)
        .map_err(HarnessError::io("writing the Dockerfile"))
}

/// The applet names, so `sh`, `sleep`, `wget`… resolve inside the image.
fn applets() -> Result<&'static [String]> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(applets) = APPLETS.get() {
        return Ok(applets);
    }
    let listed = process::run(std::process::Command::new(BUSYBOX).arg("--list"))?;
    let applets = listed
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty() && *name != "busybox" && !name.contains('/'))
        .map(str::to_owned)
        .collect();
    Ok(APPLETS.get_or_init(|| applets))
}

fn create_dirs(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(HarnessError::io(format!("creating {}", path.display())))
}

/// A hard link avoids copying the 40 MB CLI for every build; copy across file systems.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    fs::hard_link(from, to)
        .or_else(|_| fs::copy(from, to).map(drop))
        .map_err(HarnessError::io(format!(
            "copying {} to {}",
            from.display(),
            to.display()
        )))
}
