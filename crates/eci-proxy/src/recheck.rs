//! The mount check of an existing container, judged as its start would be: one implementation
//! for the request path (`POST /containers/{id}/start` and `restart`) and the engine watch
//! (starts nobody asked the enforcer for).

use eci_policy::decide::{host_verdict, mount_verdict, Denial, ImageFacts, MountVerdict, Via};
use eci_policy::mounts::{KernelFs, MountRef};
use eci_policy::privileges::{self, HostFlag};
use eci_policy::settings::Policy;
use eci_policy::unfilterable;
use serde_json::json;

use crate::digests::{DigestSource, SourceFacts};
use crate::error::ProxyError;
use crate::facts::{self, Protected};
use crate::inspect::Container;
use crate::upstream::Upstream;

/// What a check reads besides the request: the engine, the protected paths and the registry
/// digests. Lent by the enforcer that owns them.
#[derive(Clone, Copy)]
pub(crate) struct Sources<'a> {
    pub upstream: &'a Upstream,
    pub protected: &'a Protected,
    pub digests: &'a dyn DigestSource,
}

/// What the check found: the refusal a start would get (`None`: it may start), and the image
/// it judged, for the block record.
#[derive(Debug, Default)]
pub(crate) struct Recheck {
    pub denial: Option<Denial>,
    pub image_name: Option<String>,
    pub image_id: Option<String>,
}

/// Judges the container `id` as the engine describes it (`info`, its inspect): its mounts,
/// resolved on the host now, under `policy`, on the engine's view of its image.
pub(crate) async fn start(
    sources: Sources<'_>,
    policy: &Policy,
    id: &str,
    info: &Container,
) -> Result<Recheck, ProxyError> {
    let (mounts, exposures) = facts::container_mounts(
        sources.upstream,
        sources.protected,
        info,
        KernelFs::under(policy),
    )
    .await?;
    let mut host_flags = kernel_fs_binds(&mounts);
    if policy.eci_enabled {
        host_flags.extend(configured_privileges(info));
    }
    if exposures.iter().all(Option::is_none) && (host_flags.is_empty() || !policy.eci_enabled) {
        return Ok(Recheck::default());
    }
    let shown = info.config.image.clone().unwrap_or_default();
    let image_id = info.image.clone();
    let mut out = Recheck {
        image_name: Some(shown.clone()).filter(|s| !s.is_empty()),
        ..Recheck::default()
    };
    if !host_flags.is_empty() {
        let shown_or_id = if shown.is_empty() { &image_id } else { &shown };
        if let Err(d) = host_check(sources, policy, &host_flags, &image_id, shown_or_id).await? {
            out.denial = Some(d);
            return Ok(out);
        }
        if exposures.iter().all(Option::is_none) {
            return Ok(Recheck::default());
        }
    }
    let Some(mut image) = facts::image(sources.upstream, &image_id).await? else {
        out.denial = unfilterable::start_image_gone(policy, &shown, &image_id, id);
        return Ok(out);
    };
    image.name = if shown.is_empty() { image_id } else { shown };
    out.image_id = Some(image.id.clone());
    let judged = verdict(sources, policy, &image, &mounts, &exposures).await?;
    out.denial = unfilterable::start_verdict(&image, id, judged);
    Ok(out)
}

/// Host privileges of a container made behind the enforcer's back (directly on the engine, or
/// through a socket that leaked), or a bind source swapped for a kernel filesystem after the
/// create: judged as a create through the main socket would be (the admin's host-access list
/// applies), on the image `image_id` named `name`.
async fn host_check(
    sources: Sources<'_>,
    policy: &Policy,
    host_flags: &[HostFlag],
    image_id: &str,
    name: &str,
) -> Result<Result<(), Denial>, ProxyError> {
    let image = facts::image(sources.upstream, image_id)
        .await?
        .map(|mut i| {
            i.name = name.to_owned();
            i
        });
    if let Some(i) = &image {
        sources.digests.prepare(policy, i).await;
    }
    let digests = SourceFacts(sources.digests);
    Ok(host_verdict(
        policy,
        Via::Main,
        host_flags,
        image.as_ref(),
        &digests,
    ))
}

/// The host privileges a container was created with, as its inspect shows them. The engine
/// fills `CgroupnsMode` with its own default (`host` on cgroup v1), so it tells nothing here.
fn configured_privileges(info: &Container) -> Vec<HostFlag> {
    let mut host_config = info.host_config.raw.clone();
    if let Some(o) = host_config.as_object_mut() {
        o.remove("CgroupnsMode");
    }
    privileges::container_create(&json!({ "HostConfig": host_config })).unwrap_or_else(|e| {
        // What the engine reports and we cannot read is not judged harmless.
        vec![HostFlag {
            pointer: "/HostConfig".to_owned(),
            flag: format!("a host config that cannot be read ({e})"),
        }]
    })
}

/// Binds that now give a writable kernel filesystem that controls the host.
fn kernel_fs_binds(mounts: &[MountRef]) -> Vec<HostFlag> {
    mounts.iter().filter_map(facts::kernel_fs_flag).collect()
}

/// The pure mount decision with its facts gathered: the derived images' bases when the policy
/// allows them, and the registry digests prepared for each image judged.
pub(crate) async fn verdict(
    sources: Sources<'_>,
    policy: &Policy,
    image: &ImageFacts,
    mounts: &[MountRef],
    exposures: &[Option<eci_policy::decide::Exposure>],
) -> Result<MountVerdict, ProxyError> {
    let bases = facts::derived_bases(sources.upstream, policy, image).await?;
    for i in std::iter::once(image).chain(&bases) {
        sources.digests.prepare(policy, i).await;
    }
    let digests = SourceFacts(sources.digests);
    Ok(mount_verdict(
        policy, mounts, exposures, image, &bases, &digests,
    ))
}
