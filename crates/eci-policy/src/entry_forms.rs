//! The image-list entries that would let a blocked image mount the socket, for the app's "Allow
//! this image": its exact tag, any tag of its repository, or only the digest the engine has.

use serde::Serialize;

use crate::reference::{RefError, Reference};

/// The three ways to allow one image, each a valid image-list entry in the CLI's short spelling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EntryForms {
    /// `name:tag` (`latest` when the image was named without one; `name@digest` when it was
    /// named by digest only).
    pub exact: String,
    /// `name:*`: any tag of the repository.
    pub any_tag: String,
    /// `name@sha256:…`: only this image, from the name's own digest or the engine's `RepoDigests`
    /// for this repository; `None` when the image is on no registry the engine knows of.
    pub digest: Option<String>,
}

/// The entries allowing `image` (as the block recorded it), with `repo_digests` the engine's
/// `RepoDigests` for it (`repo@sha256:…`, any repository).
pub fn entry_forms(image: &str, repo_digests: &[String]) -> Result<EntryForms, RefError> {
    let reference = Reference::parse_normalized(image)?;
    let repo = reference.repository();
    let name = repo.familiar();
    let exact = match (reference.tag(), reference.digest()) {
        (Some(tag), _) => format!("{name}:{tag}"),
        (None, Some(digest)) => format!("{name}@{digest}"),
        (None, None) => format!("{name}:latest"),
    };
    let digest = reference
        .digest()
        .cloned()
        .or_else(|| {
            repo_digests
                .iter()
                .filter_map(|d| Reference::parse_normalized(d).ok())
                .find(|d| d.repository() == repo)
                .and_then(|d| d.digest().cloned())
        })
        .map(|d| format!("{name}@{d}"));
    Ok(EntryForms {
        exact,
        any_tag: format!("{name}:*"),
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ImageEntry;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn a_tagged_image_on_a_registry_gets_all_three_forms() {
        let forms = entry_forms(
            "127.0.0.1:5000/team/tool:1",
            &[
                format!("127.0.0.1:5000/other@{D2}"),
                format!("127.0.0.1:5000/team/tool@{D1}"),
            ],
        )
        .unwrap();
        assert_eq!(
            forms,
            EntryForms {
                exact: "127.0.0.1:5000/team/tool:1".into(),
                any_tag: "127.0.0.1:5000/team/tool:*".into(),
                digest: Some(format!("127.0.0.1:5000/team/tool@{D1}")),
            }
        );
        // Each form is an entry the settings accept, and it covers the image's repository.
        let repo = Reference::parse_normalized("127.0.0.1:5000/team/tool")
            .unwrap()
            .into_repository();
        for entry in [&forms.exact, &forms.any_tag, forms.digest.as_ref().unwrap()] {
            let parsed = ImageEntry::parse(entry).unwrap_or_else(|e| panic!("{entry}: {e}"));
            assert!(parsed.covers(&repo), "{entry}");
        }
    }

    #[test]
    fn hub_names_are_short_and_untagged_names_mean_latest() {
        let forms = entry_forms("docker.io/library/busybox", &[format!("busybox@{D1}")]).unwrap();
        assert_eq!(forms.exact, "busybox:latest");
        assert_eq!(forms.any_tag, "busybox:*");
        assert_eq!(forms.digest, Some(format!("busybox@{D1}")));
    }

    #[test]
    fn a_local_image_has_no_digest_form_and_a_digest_reference_keeps_its_own() {
        let local = entry_forms("eci-e2e/busybox:1", &[]).unwrap();
        assert_eq!(local.exact, "eci-e2e/busybox:1");
        assert_eq!(local.digest, None);
        // A repo digest of another repository is not this image's digest there.
        let other = entry_forms("team/app:2", &[format!("team/other@{D1}")]).unwrap();
        assert_eq!(other.digest, None);
        let pinned = entry_forms(&format!("team/app@{D2}"), &[format!("team/app@{D1}")]).unwrap();
        assert_eq!(pinned.exact, format!("team/app@{D2}"));
        assert_eq!(pinned.digest, Some(format!("team/app@{D2}")));
    }

    #[test]
    fn a_name_that_is_no_reference_has_no_forms() {
        assert!(entry_forms("UPPER/case", &[]).is_err());
        assert!(entry_forms("", &[]).is_err());
    }
}
