//! One request's decision, shared by the request path ([`crate::service`]) and `explain`: the
//! classification, the command list, the facts the route needs, and eci-policy's verdicts. The
//! answer is what to forward; nothing here forwards, so the two can never disagree.

use bytes::Bytes;
use eci_policy::audit::{self, Refusal};
use eci_policy::decide::{self, Denial, Exposure, ImageFacts, MountVerdict, Via};
use eci_policy::gojson;
use eci_policy::mounts::{self, KernelFs, MountRef, MountSource, Surface};
use eci_policy::privileges::{self, HostFlag};
use eci_policy::routes::Route;
use eci_policy::settings::Policy;
use eci_policy::unfilterable;
use eci_policy::unreadable::{self, unreadable, Unreadable};
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

use crate::classify::{self, Classified, Inspect};
use crate::digests::SourceFacts;
use crate::error::ProxyError;
use crate::facts;
use crate::image_cache::{ImageCache, Lookup};
use crate::recheck::{self, Sources};
use crate::Limits;

/// What a request's decision reads besides the request: the check sources, the body limits, and
/// the volume lock it may take. Lent by the enforcer (or by `explain`) that owns them.
#[derive(Clone, Copy)]
pub(crate) struct Judging<'a> {
    pub sources: Sources<'a>,
    pub limits: &'a Limits,
    /// Held from the check of a create that judged named volumes until the engine has answered
    /// it, and around every volume create, remove and prune.
    pub volumes: &'a Mutex<()>,
    /// The engine's answers to creates' image inspects kept so far, when they may be used.
    pub images: Option<&'a ImageCache>,
}

/// What the decision looked at, for the block record and for `explain`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    pub route: Option<&'static Route>,
    /// The image as the request or the container names it.
    pub image_name: Option<String>,
    pub image_id: Option<String>,
    /// The engine's view of the image judged, when one was.
    pub image: Option<ImageFacts>,
    /// The mounts of the request (or of the container started) and where each leads.
    pub mounts: Vec<MountRef>,
    pub exposures: Vec<Option<Exposure>>,
    /// The image-list entry that allowed the image.
    pub allowed_by: Option<String>,
    /// The full id of the existing container a start or archive request names.
    pub container_id: Option<String>,
}

/// What to send the engine.
#[derive(Debug)]
pub(crate) enum Forward {
    /// The request as it came, its body unread.
    Stream,
    /// The canonical serialisation of this body (what was checked, rewritten where decided).
    Body(Value),
    /// These bytes as the body.
    Raw(Bytes),
    /// A container create allowed to have the engine socket: these mounts of `value` go to a new
    /// filtered socket.
    Filtered {
        value: Value,
        rewrite: Vec<MountRef>,
    },
}

/// A decision to forward, and the lock to hold until the engine has answered.
pub(crate) struct Decision<'s> {
    pub forward: Forward,
    /// The volume lock: a volume judged is the volume the engine uses.
    pub volumes: Option<MutexGuard<'s, ()>>,
}

impl Decision<'_> {
    fn forward(forward: Forward) -> Decision<'static> {
        Decision {
            forward,
            volumes: None,
        }
    }
}

/// The request target's bound, its route, and the command list: `None` when ECI is off
/// (everything passes, unread).
pub(crate) fn admit(
    policy: &Policy,
    via: Via,
    method: &str,
    target: &str,
    limits: &Limits,
    seen: &mut Seen,
) -> Result<Option<Classified>, ProxyError> {
    if target.len() > limits.max_uri_bytes {
        return Err(ProxyError::UriTooLong {
            limit: limits.max_uri_bytes,
        });
    }
    if !policy.eci_enabled {
        return Ok(None);
    }
    let classified = classify::classify(method, target).map_err(ProxyError::Denied)?;
    seen.route = Some(classified.route);
    if via == Via::Filtered {
        decide::command_verdict(policy, classified.route, target).map_err(ProxyError::Denied)?;
    }
    Ok(Some(classified))
}

/// The decision on an admitted request. `body` is its whole body when
/// [`Inspect::reads_body`] says the route needs it.
pub(crate) async fn decide<'s>(
    judging: &Judging<'s>,
    policy: &Policy,
    via: Via,
    classified: &Classified,
    body: Option<&[u8]>,
    seen: &mut Seen,
) -> Result<Decision<'s>, ProxyError> {
    let body = body.unwrap_or_default();
    let parse = |body: &[u8]| gojson::parse(body, &judging.limits.body).map_err(body_denial);
    let forward = match classified.inspect.clone() {
        Inspect::None => Forward::Stream,
        Inspect::ContainerCreate => {
            return container_create(judging, policy, via, parse(body)?, seen).await;
        }
        Inspect::ContainerStart { id, body: false } | Inspect::Archive { id } => {
            start_check(judging, policy, &id, seen).await?;
            Forward::Stream
        }
        Inspect::ContainerStart { id, body: true } => {
            // The mounts first, then the body.
            start_check(judging, policy, &id, seen).await?;
            start_body(body, &judging.limits.body)?
        }
        Inspect::ExecCreate { id } => {
            let value = parse(body)?;
            let flags = privileges::exec_create(&value).map_err(body_denial)?;
            if !flags.is_empty() {
                let image = container_image(judging, &id, seen).await?;
                judge_host(judging, policy, via, &flags, image.as_ref()).await?;
            }
            Forward::Body(value)
        }
        Inspect::VolumeCreate => {
            let value = parse(body)?;
            mounts::volume_create_under(&value, KernelFs::under(policy)).map_err(body_denial)?;
            return Ok(Decision {
                forward: Forward::Body(value),
                volumes: Some(judging.volumes.lock().await),
            });
        }
        Inspect::VolumeChange => {
            return Ok(Decision {
                forward: Forward::Stream,
                volumes: Some(judging.volumes.lock().await),
            });
        }
        Inspect::SwarmJoin => {
            decide::swarm_join_verdict(policy).map_err(ProxyError::Denied)?;
            Forward::Stream
        }
        Inspect::Service => service(judging, policy, via, parse(body)?, seen).await?,
        Inspect::PluginEnable { name } => {
            plugin_enable(judging, policy, via, &name, seen).await?;
            Forward::Stream
        }
    };
    Ok(Decision::forward(forward))
}

/// A plugin enable: what the plugin mounts, then the host privileges its config asks for. A
/// plugin the engine does not know passes (the engine answers its own 404).
async fn plugin_enable(
    judging: &Judging<'_>,
    policy: &Policy,
    via: Via,
    name: &str,
    seen: &mut Seen,
) -> Result<(), ProxyError> {
    let Some(inspect) = facts::plugin(judging.sources.upstream, name).await? else {
        return Ok(());
    };
    let exposed = facts::plugin_exposure(judging.sources.protected, &inspect);
    if let Some((source, e)) = &exposed {
        seen.mounts.push(MountRef {
            surface: Surface::Mounts,
            index: 0,
            pointer: "/Settings/Mounts".into(),
            source: MountSource::Bind {
                path: source.clone(),
            },
            target: String::new(),
            read_only: false,
        });
        seen.exposures.push(Some(e.clone()));
    }
    let exposed = exposed.as_ref().map(|(source, e)| (source.as_str(), e));
    unfilterable::plugin_verdict(policy, name, exposed).map_err(ProxyError::Denied)?;
    // A plugin runs with what its config asks for: no image list can vouch for it.
    let flags = privileges::plugin(&inspect.raw);
    judge_host(judging, policy, via, &flags, None).await
}

/// A refusal the policy audits instead of enforcing: kept with what was seen, for the record, and
/// the policy to judge the request again under. Enforced refusals stay errors.
pub(crate) fn audited(
    policy: &Policy,
    err: ProxyError,
    seen: &Seen,
    audits: &mut Vec<(Denial, Seen)>,
) -> Result<Policy, ProxyError> {
    let ProxyError::Denied(d) = err else {
        return Err(err);
    };
    match audit::refusal(policy, d) {
        Refusal::Enforce(d) => Err(ProxyError::Denied(d)),
        Refusal::Audit { denial, retry } => {
            audits.push((denial, seen.clone()));
            Ok(retry)
        }
    }
}

/// A body the engine would read differently, or could not be checked, as its refusal.
pub(crate) fn body_denial(e: gojson::BodyError) -> ProxyError {
    ProxyError::Denied(decide::body_denial(&e))
}

/// A start's body, checked: only an empty one passes.
fn start_body(body: &[u8], limits: &gojson::Limits) -> Result<Forward, ProxyError> {
    unreadable::start_body_verdict(body, limits).map_err(ProxyError::Denied)?;
    Ok(Forward::Raw(Bytes::copy_from_slice(body)))
}

/// A container's bind sources are paths the engine resolves again at every start (and for every
/// archive read or write): a symlink planted after the create would otherwise expose the socket.
/// Its mounts are judged again.
async fn start_check(
    judging: &Judging<'_>,
    policy: &Policy,
    id: &str,
    seen: &mut Seen,
) -> Result<(), ProxyError> {
    let Some(info) = facts::container(judging.sources.upstream, id).await? else {
        // The engine answers its own 404.
        return Ok(());
    };
    seen.container_id = Some(info.id.clone());
    let judged = recheck::start(judging.sources, policy, id, &info).await?;
    seen.image_name = judged.image_name;
    seen.image_id = judged.image_id;
    match judged.denial {
        None => Ok(()),
        Some(d) => Err(ProxyError::Denied(d)),
    }
}

/// The engine's view of the image a create names: its answer kept from an earlier create when
/// nothing can have changed it since ([`crate::image_cache`]), else asked now.
async fn create_image(
    judging: &Judging<'_>,
    image_name: &str,
    seen: &mut Seen,
) -> Result<ImageFacts, ProxyError> {
    if image_name.is_empty() {
        return Err(ProxyError::Denied(unreadable(Unreadable::NoImage)));
    }
    let lookup = judging.images.map(|kept| kept.lookup(image_name));
    let image = match lookup {
        Some(Lookup::Kept(image)) => image,
        _ => {
            let image = facts::image(judging.sources.upstream, image_name)
                .await?
                .ok_or_else(|| facts::no_such_image(image_name))?;
            if let (Some(kept), Some(Lookup::Ask(Some(ticket)))) = (judging.images, lookup) {
                kept.keep(ticket, image_name, &image);
            }
            image
        }
    };
    seen.image_id = Some(image.id.clone());
    seen.image = Some(image.clone());
    Ok(image)
}

/// The image of an existing container, named as the container shows it.
async fn container_image(
    judging: &Judging<'_>,
    id: &str,
    seen: &mut Seen,
) -> Result<Option<ImageFacts>, ProxyError> {
    let Some(info) = facts::container(judging.sources.upstream, id).await? else {
        return Ok(None);
    };
    let image_id = info.image;
    seen.image_name = info.config.image;
    seen.image_id = Some(image_id.clone());
    let image = facts::image(judging.sources.upstream, &image_id)
        .await?
        .map(|mut i| {
            if let Some(shown) = &seen.image_name {
                i.name = shown.clone();
            }
            i
        });
    seen.image = image.clone();
    Ok(image)
}

/// The host-privilege decision for a request asking for `flags`, on the image that will run.
async fn judge_host(
    judging: &Judging<'_>,
    policy: &Policy,
    via: Via,
    flags: &[HostFlag],
    image: Option<&ImageFacts>,
) -> Result<(), ProxyError> {
    if flags.is_empty() || !policy.eci_enabled {
        return Ok(());
    }
    if let (Via::Main, Some(image)) = (via, image) {
        judging.sources.digests.prepare(policy, image).await;
    }
    let digests = SourceFacts(judging.sources.digests);
    decide::host_verdict(policy, via, flags, image, &digests).map_err(ProxyError::Denied)
}

/// A container create: its host privileges, then its mounts as the engine will resolve them,
/// under the volume lock when it names a volume; the image and `VolumesFrom` containers are
/// pinned to what was judged.
async fn container_create<'s>(
    judging: &Judging<'s>,
    policy: &Policy,
    via: Via,
    mut value: Value,
    seen: &mut Seen,
) -> Result<Decision<'s>, ProxyError> {
    let kernel = KernelFs::under(policy);
    let create = mounts::container_create_under(&value, kernel).map_err(body_denial)?;
    let mut flags = privileges::container_create(&value).map_err(body_denial)?;
    seen.image_name = Some(create.image.clone()).filter(|i| !i.is_empty());
    // Named volumes are judged as they are now: no volume create, remove or other such create
    // may come between the check and the engine's answer.
    let names_volume = create
        .mounts
        .iter()
        .any(|m| matches!(&m.source, MountSource::Volume { name: Some(_), .. }));
    let volumes = if names_volume {
        Some(judging.volumes.lock().await)
    } else {
        None
    };
    let sources = judging.sources;
    let gathered =
        facts::gather(sources.upstream, sources.protected, &create.mounts, kernel).await?;
    seen.mounts = create.mounts.clone();
    seen.exposures = gathered.exposures.clone();
    flags.extend(gathered.host_flags.iter().cloned());
    let image = if flags.is_empty() {
        None
    } else {
        Some(create_image(judging, &create.image, seen).await?)
    };
    judge_host(judging, policy, via, &flags, image.as_ref()).await?;
    pin_volumes_from(&mut value, &create.mounts, &gathered.volumes_from)?;
    let decision = |forward| Decision { forward, volumes };
    if gathered.exposures.iter().all(Option::is_none) {
        // A host-access image allowed by digest runs as checked, like a socket mount.
        if let Some(image) = &image {
            pin_image(&mut value, &image.id);
        }
        return Ok(decision(Forward::Body(value)));
    }
    let image = match image {
        Some(image) => {
            // Its host privileges were judged on this image: it is the image that runs, whatever
            // the mounts' verdict (an allow that pins nothing, socket mounts audited, included).
            pin_image(&mut value, &image.id);
            image
        }
        None => create_image(judging, &create.image, seen).await?,
    };
    let exposed = (create.mounts.as_slice(), gathered.exposures.as_slice());
    let forward = exposing_create(judging, policy, value, &image, exposed, seen).await?;
    Ok(decision(forward))
}

/// A create with mounts (`exposed`: each, and where it leads) of which one exposes a protected
/// path: refused, or allowed with its socket mounts going to a filtered socket, on `image`
/// pinned as checked.
async fn exposing_create(
    judging: &Judging<'_>,
    policy: &Policy,
    mut value: Value,
    image: &ImageFacts,
    (mounts, exposures): (&[MountRef], &[Option<Exposure>]),
    seen: &mut Seen,
) -> Result<Forward, ProxyError> {
    let verdict = recheck::verdict(judging.sources, policy, image, mounts, exposures).await?;
    match verdict {
        MountVerdict::Allow => Ok(Forward::Body(value)),
        MountVerdict::Deny(d) => Err(ProxyError::Denied(d)),
        MountVerdict::Rewrite {
            mounts: rewritten,
            entry,
        } => {
            seen.allowed_by = Some(entry);
            // The image that runs is the image that was checked: the engine gets its id, so a
            // tag moved after the check changes nothing.
            pin_image(&mut value, &image.id);
            let rewrite: Vec<MountRef> = rewritten
                .iter()
                .filter_map(|i| mounts.get(*i).cloned())
                .collect();
            Ok(if rewrite.is_empty() {
                Forward::Body(value)
            } else {
                Forward::Filtered { value, rewrite }
            })
        }
    }
}

fn pin_image(value: &mut Value, id: &str) {
    if let Some(image) = value
        .as_object_mut()
        .and_then(|o| gojson::field_mut(o, "Image"))
    {
        *image = Value::String(id.to_owned());
    }
}

/// Names each `VolumesFrom` container by the full id of the container judged, keeping its mode:
/// a container renamed or made under that name after the check cannot be the one the engine uses.
fn pin_volumes_from(
    value: &mut Value,
    mounts: &[MountRef],
    pinned: &[(usize, String)],
) -> Result<(), ProxyError> {
    for (i, id) in pinned {
        let Some(m) = mounts.get(*i).filter(|m| m.surface == Surface::VolumesFrom) else {
            continue;
        };
        let Some(Value::String(raw)) = value.pointer_mut(&m.pointer) else {
            return Err(ProxyError::Denied(unreadable(Unreadable::PinVolumesFrom {
                pointer: &m.pointer,
            })));
        };
        let mode = raw.split_once(':').map(|(_, mode)| mode.to_owned());
        *raw = match mode {
            Some(mode) => format!("{id}:{mode}"),
            None => id.clone(),
        };
    }
    Ok(())
}

/// Services run their tasks on swarm nodes, where no filtered socket can be given to each task's
/// container: any exposure is refused; so are host privileges, whose tasks the enforcer never
/// sees.
async fn service(
    judging: &Judging<'_>,
    policy: &Policy,
    via: Via,
    value: Value,
    seen: &mut Seen,
) -> Result<Forward, ProxyError> {
    let kernel = KernelFs::under(policy);
    let spec = mounts::service_spec_under(&value, kernel).map_err(body_denial)?;
    seen.image_name = spec.image.clone();
    let flags = privileges::service_spec(&value).map_err(body_denial)?;
    judge_host(judging, policy, via, &flags, None).await?;
    let exposures = facts::exposures(
        judging.sources.upstream,
        judging.sources.protected,
        &spec.mounts,
        kernel,
    )
    .await?;
    seen.mounts = spec.mounts.clone();
    seen.exposures = exposures.clone();
    unfilterable::service_verdict(policy, spec.image.as_deref(), &exposures)
        .map_err(ProxyError::Denied)?;
    Ok(Forward::Body(value))
}
