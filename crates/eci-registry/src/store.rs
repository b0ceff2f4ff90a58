//! The digest cache on disk: one JSON file under the state directory, replaced atomically
//! (temporary file in the same directory, then rename), read at start so an offline restart keeps
//! the last digests fetched.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use eci_policy::reference::{Digest, ImageEntry, Reference, Repository};
use serde::{Deserialize, Serialize};

use crate::digests::{AnyTagAnswer, EntryState};

/// The cache file's name under the state directory.
pub const CACHE_FILE: &str = "registry-digests.json";

/// Bumped when the layout changes; a file of another version is ignored, not misread.
const VERSION: u32 = 1;

/// Read first, so a file of another layout is recognised before it is misread.
#[derive(Deserialize)]
struct Version {
    version: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    /// Keyed by the normalised entry (`iechor.io/library/busybox:latest`).
    #[serde(default)]
    entries: BTreeMap<String, EntryState>,
    /// Keyed by `repository@digest`; only positive answers are kept across restarts.
    #[serde(default)]
    any_tag: BTreeMap<String, AnyTagAnswer>,
}

/// Cache content in memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct Cached {
    pub(crate) entries: HashMap<ImageEntry, EntryState>,
    pub(crate) any_tag: HashMap<(Repository, Digest), AnyTagAnswer>,
}

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the digest cache {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the digest cache {path} is not valid: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the digest cache {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Store {
    path: PathBuf,
}

impl Store {
    pub(crate) fn new(state_dir: &Path) -> Store {
        Store {
            path: state_dir.join(CACHE_FILE),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The cache as last written; empty when there is none yet or it is of another version.
    pub(crate) fn load(&self) -> Result<Cached, StoreError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Cached::default()),
            Err(source) => {
                return Err(StoreError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let corrupt = |source| StoreError::Corrupt {
            path: self.path.clone(),
            source,
        };
        let version: Version = serde_json::from_slice(&text).map_err(corrupt)?;
        if version.version != VERSION {
            return Ok(Cached::default());
        }
        let file: CacheFile = serde_json::from_slice(&text).map_err(corrupt)?;
        let entries = file
            .entries
            .into_iter()
            .filter_map(|(key, state)| Some((ImageEntry::parse(&key).ok()?, state)))
            .collect();
        let any_tag = file
            .any_tag
            .into_iter()
            .filter_map(|(key, answer)| {
                let r = Reference::parse_normalized(&key).ok()?;
                let digest = r.digest()?.clone();
                Some(((r.into_repository(), digest), answer))
            })
            .collect();
        Ok(Cached { entries, any_tag })
    }

    /// Replaces the file with `cached`, so a crash leaves the old file or the new one, never a
    /// mix.
    pub(crate) fn save(&self, cached: &Cached) -> Result<(), StoreError> {
        let write_error = |source| StoreError::Write {
            path: self.path.clone(),
            source,
        };
        let file = CacheFile {
            version: VERSION,
            entries: cached
                .entries
                .iter()
                .map(|(entry, state)| (entry.to_string(), state.clone()))
                .collect(),
            any_tag: cached
                .any_tag
                .iter()
                .filter(|(_, answer)| matches!(answer, AnyTagAnswer::Exists { .. }))
                .map(|((repo, digest), answer)| (format!("{repo}@{digest}"), answer.clone()))
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| write_error(e.into()))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(write_error)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
        tmp.write_all(&json).map_err(write_error)?;
        tmp.as_file().sync_all().map_err(write_error)?;
        tmp.persist(&self.path).map_err(|e| write_error(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::digests::{ImageDigests, PlatformImage};
    use crate::failure::{Failure, FailureKind};

    fn digest(n: u8) -> Digest {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
            .parse()
            .unwrap()
    }

    fn digests(n: u8) -> Arc<ImageDigests> {
        Arc::new(ImageDigests {
            digest: digest(n),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            images: vec![PlatformImage {
                platform: Some("linux/amd64".into()),
                manifest: digest(n),
                config: digest(n + 1),
            }],
        })
    }

    #[test]
    fn the_cache_survives_a_restart_and_drops_only_negative_answers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("state"));
        assert!(store.load().unwrap().entries.is_empty());
        let repo = Reference::parse_normalized("r.example/app")
            .unwrap()
            .into_repository();
        let mut cached = Cached::default();
        cached.entries.insert(
            ImageEntry::parse("busybox").unwrap(),
            EntryState {
                digests: Some(digests(1)),
                fetched_at: Some(chrono::Utc::now()),
                last_error: Some(Failure::new(FailureKind::Unreachable, "refused")),
                attempted_at: Some(chrono::Utc::now()),
            },
        );
        cached.entries.insert(
            ImageEntry::parse("r.example/never:2").unwrap(),
            EntryState {
                last_error: Some(Failure::new(FailureKind::AuthRequired, "401")),
                ..EntryState::default()
            },
        );
        cached.any_tag.insert(
            (repo.clone(), digest(5)),
            AnyTagAnswer::Exists {
                digests: digests(5),
            },
        );
        cached
            .any_tag
            .insert((repo.clone(), digest(7)), AnyTagAnswer::Missing);
        store.save(&cached).unwrap();
        store.save(&cached).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.entries, cached.entries);
        assert_eq!(loaded.any_tag.len(), 1);
        assert_eq!(
            loaded.any_tag.get(&(repo, digest(5))),
            cached.any_tag.get(&(
                Reference::parse_normalized("r.example/app")
                    .unwrap()
                    .into_repository(),
                digest(5)
            ))
        );
        // No temporary files are left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(CACHE_FILE)]);
    }

    #[test]
    fn unreadable_or_foreign_caches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        std::fs::write(store.path(), "{\"version\": 1, \"entries\": 3}").unwrap();
        assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
        std::fs::write(store.path(), "{\"version\": 99, \"entries\": {\"x\": 1}}").unwrap();
        assert!(store.load().unwrap().entries.is_empty());
    }
}
