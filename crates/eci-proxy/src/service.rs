//! One request: classify, gather the facts, ask the pure decisions, then forward (streaming, or
//! with a canonical rewritten body, or spliced after a 101) or refuse. Refusals become HTTP and a
//! block record in [`handle`] and nowhere else.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use eci_policy::decide::{Denial, MountVerdict};
use eci_policy::gojson;
use eci_policy::mounts::{self, MountRef};
use eci_policy::routes::Route;
use eci_policy::settings::Policy;
use eci_policy::unfilterable;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::blocks::{BlockEvent, ClientInfo, SocketKind};
use crate::classify::{self, Inspect};
use crate::error::ProxyError;
use crate::facts;
use crate::recheck;
use crate::server::{ConnUpstream, Origin, Peer, Shared};
use crate::upstream::UpstreamBody;

/// The body of an answer to the client: the engine's stream, or one we made.
pub type ClientBody = Either<Incoming, Full<Bytes>>;

/// What is known about a request when it is refused, for its block record.
#[derive(Default)]
struct Ctx {
    route: Option<&'static Route>,
    image_name: Option<String>,
    image_id: Option<String>,
}

/// Serves one request; never fails (refusals are answers).
pub async fn handle(
    shared: &Arc<Shared>,
    origin: &Origin,
    peer: Option<Peer>,
    conn: &ConnUpstream,
    req: Request<Incoming>,
) -> Response<ClientBody> {
    let policy = shared.policy.snapshot();
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    // A cheap clone (shared bytes); read only if the request is refused.
    let user_agent = req.headers().get(header::USER_AGENT).cloned();
    let mut ctx = Ctx::default();
    match process(shared, origin, conn, &policy, req, &target, &mut ctx).await {
        Ok(resp) => resp,
        Err(err) => {
            if let ProxyError::Denied(d) = &err {
                let client = ClientInfo {
                    pid: peer.and_then(|p| p.pid),
                    uid: peer.map(|p| p.uid),
                    gid: peer.map(|p| p.gid),
                    user_agent: user_agent
                        .as_ref()
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                };
                let block = block_event(origin, &policy, &method, &target, d, ctx, client);
                shared.blocks.record(block);
            } else {
                tracing::warn!(%method, %target, error = %err, "request failed");
            }
            err.into_response().map(Either::Right)
        }
    }
}

fn block_event(
    origin: &Origin,
    policy: &Policy,
    method: &Method,
    target: &str,
    d: &Denial,
    ctx: Ctx,
    client: ClientInfo,
) -> BlockEvent {
    let socket = match origin {
        Origin::Main { path } => SocketKind::Main {
            path: path.to_string(),
        },
        Origin::Filtered { path, container } => SocketKind::Filtered {
            path: path.to_string(),
            container: container.get().cloned(),
        },
    };
    BlockEvent {
        at: SystemTime::now(),
        socket,
        image_name: ctx.image_name,
        image_id: ctx.image_id,
        kind: d.kind,
        commands: ctx.route.map(classify::commands_of).unwrap_or_default(),
        method: method.to_string(),
        path: target.to_owned(),
        status: d.status,
        reason: d.reason.clone(),
        message: d.message.clone(),
        policy_version: policy.version.clone(),
        client,
    }
}

async fn process(
    shared: &Arc<Shared>,
    origin: &Origin,
    conn: &ConnUpstream,
    policy: &Policy,
    req: Request<Incoming>,
    target: &str,
    ctx: &mut Ctx,
) -> Result<Response<ClientBody>, ProxyError> {
    if target.len() > shared.limits.max_uri_bytes {
        return Err(ProxyError::UriTooLong {
            limit: shared.limits.max_uri_bytes,
        });
    }
    let (mut parts, body) = req.into_parts();
    // The engine must route exactly the target we classified: always origin-form.
    if parts.uri.authority().is_some() || parts.uri.scheme().is_some() {
        parts.uri = Uri::try_from(target).map_err(|e| {
            ProxyError::Denied(Denial::invalid(400, format!("invalid request target: {e}")))
        })?;
    }
    if !policy.eci_enabled {
        return forward(shared, conn, Request::from_parts(parts, Either::Left(body))).await;
    }
    let classified =
        classify::classify(parts.method.as_str(), target).map_err(ProxyError::Denied)?;
    ctx.route = Some(classified.route);
    if let Origin::Filtered { .. } = origin {
        eci_policy::decide::command_verdict(policy, classified.route, target)
            .map_err(ProxyError::Denied)?;
    }
    match classified.inspect.clone() {
        Inspect::None => {
            forward(shared, conn, Request::from_parts(parts, Either::Left(body))).await
        }
        Inspect::ContainerCreate => {
            let body = read_body(shared, body).await?;
            container_create(shared, conn, policy, parts, body, ctx).await
        }
        Inspect::ContainerStart { id, body: false } => {
            start_check(shared, policy, &id, ctx).await?;
            forward(shared, conn, Request::from_parts(parts, Either::Left(body))).await
        }
        Inspect::ContainerStart { id, body: true } => {
            let body = read_body(shared, body).await?;
            start_check(shared, policy, &id, ctx).await?;
            container_start(shared, conn, parts, body).await
        }
        Inspect::Service => {
            let body = read_body(shared, body).await?;
            service(shared, conn, policy, parts, body, ctx).await
        }
        Inspect::PluginEnable { name } => {
            let exposed =
                facts::plugin_exposure(&shared.upstream, &shared.protected, &name).await?;
            let exposed = exposed.flatten();
            let exposed = exposed.as_ref().map(|(source, e)| (source.as_str(), e));
            unfilterable::plugin_verdict(policy, &name, exposed).map_err(ProxyError::Denied)?;
            forward(shared, conn, Request::from_parts(parts, Either::Left(body))).await
        }
    }
}

fn body_denial(e: gojson::BodyError) -> ProxyError {
    ProxyError::Denied(Denial::invalid(e.status(), e.to_string()))
}

/// Reads the whole body of a request we must inspect, bounded, whatever its framing headers say
/// (hyper has already de-chunked it and refused conflicting framing).
async fn read_body(shared: &Shared, body: Incoming) -> Result<Bytes, ProxyError> {
    let limit = shared.limits.body.max_bytes;
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(body_denial(gojson::BodyError::TooLarge { limit }))
        }
        Err(e) => Err(ProxyError::Denied(Denial::invalid(
            400,
            format!("cannot read the request body: {e}"),
        ))),
    }
}

/// The request as the engine gets it after inspection: the canonical serialisation of what we
/// checked, with its own length.
fn canonical(mut parts: http::request::Parts, value: &Value) -> Request<UpstreamBody> {
    let bytes = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
    // Content-Type stays the client's: the engine checks it, and so it does here too.
    set_length(&mut parts.headers, bytes.len());
    Request::from_parts(parts, Either::Right(Full::new(bytes)))
}

fn set_length(headers: &mut HeaderMap, len: usize) {
    headers.remove(header::TRANSFER_ENCODING);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// Facts → decision for the mounts of a container create; `Ok(None)` when nothing reaches a
/// protected socket.
async fn judge_mounts(
    shared: &Arc<Shared>,
    policy: &Policy,
    image_name: &str,
    mounts: &[MountRef],
    ctx: &mut Ctx,
) -> Result<Option<(MountVerdict, String)>, ProxyError> {
    let exposures = facts::exposures(&shared.upstream, &shared.protected, mounts).await?;
    if exposures.iter().all(Option::is_none) {
        return Ok(None);
    }
    if image_name.is_empty() {
        return Err(ProxyError::Denied(Denial::invalid(
            400,
            "the create request names no image",
        )));
    }
    let image = facts::image(&shared.upstream, image_name)
        .await?
        .ok_or_else(|| facts::no_such_image(image_name))?;
    let id = image.id.clone();
    ctx.image_id = Some(id.clone());
    let verdict = recheck::verdict(shared, policy, &image, mounts, &exposures).await?;
    Ok(Some((verdict, id)))
}

/// A container's bind sources are paths the engine resolves again at every start: a symlink
/// planted after the create (say by another container writing into a shared directory) would
/// otherwise expose the socket. Its mounts are judged again before it starts.
async fn start_check(
    shared: &Arc<Shared>,
    policy: &Policy,
    id: &str,
    ctx: &mut Ctx,
) -> Result<(), ProxyError> {
    let Some(info) = facts::container(&shared.upstream, id).await? else {
        // The engine answers its own 404.
        return Ok(());
    };
    let judged = recheck::start(shared, policy, id, &info).await?;
    ctx.image_name = judged.image_name;
    ctx.image_id = judged.image_id;
    match judged.denial {
        None => Ok(()),
        Some(d) => Err(ProxyError::Denied(d)),
    }
}

async fn container_create(
    shared: &Arc<Shared>,
    conn: &ConnUpstream,
    policy: &Policy,
    parts: http::request::Parts,
    body: Bytes,
    ctx: &mut Ctx,
) -> Result<Response<ClientBody>, ProxyError> {
    let mut value = gojson::parse(&body, &shared.limits.body).map_err(body_denial)?;
    let create = mounts::container_create(&value).map_err(body_denial)?;
    ctx.image_name = Some(create.image.clone()).filter(|i| !i.is_empty());
    let (indices, checked_id) =
        match judge_mounts(shared, policy, &create.image, &create.mounts, ctx).await? {
            None | Some((MountVerdict::Allow, _)) => {
                return forward(shared, conn, canonical(parts, &value)).await
            }
            Some((MountVerdict::Deny(d), _)) => return Err(ProxyError::Denied(d)),
            Some((MountVerdict::Rewrite { mounts, .. }, id)) => (mounts, id),
        };
    // The image that runs is the image that was checked: the engine gets its id, so a tag moved
    // after the check changes nothing.
    if let Some(image) = value
        .as_object_mut()
        .and_then(|o| gojson::field_mut(o, "Image"))
    {
        *image = Value::String(checked_id);
    }
    if indices.is_empty() {
        return forward(shared, conn, canonical(parts, &value)).await;
    }
    let pending = shared
        .filtered
        .create(shared)
        .map_err(ProxyError::FilteredSocket)?;
    let source = pending.path().to_string_lossy().into_owned();
    for i in indices {
        if let Some(m) = create.mounts.get(i) {
            mounts::rewrite_source(&mut value, m, &source).map_err(body_denial)?;
        }
    }
    let resp = forward(shared, conn, canonical(parts, &value)).await?;
    if resp.status() != StatusCode::CREATED {
        return Ok(resp);
    }
    let (mut head, body) = resp.into_parts();
    let bytes = collect(body).await?;
    match serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("Id").and_then(Value::as_str).map(str::to_owned))
    {
        Some(id) => pending.bind(&id),
        // No id to bind to: the socket goes with `pending`, and the container cannot reach it.
        None => tracing::warn!("the engine's create answer has no Id"),
    }
    set_length(&mut head.headers, bytes.len());
    Ok(Response::from_parts(head, Either::Right(Full::new(bytes))))
}

async fn collect(body: ClientBody) -> Result<Bytes, ProxyError> {
    match body {
        Either::Left(b) => Ok(b.collect().await?.to_bytes()),
        Either::Right(b) => Ok(b.collect().await.map(|c| c.to_bytes()).unwrap_or_default()),
    }
}

/// Engines apply a `HostConfig` sent with a start (API < 1.24), binds and all. Clients send
/// none; an empty body, `null` or `{}` passes, anything else is refused rather than checked.
async fn container_start(
    shared: &Arc<Shared>,
    conn: &ConnUpstream,
    mut parts: http::request::Parts,
    body: Bytes,
) -> Result<Response<ClientBody>, ProxyError> {
    let trivial = body.iter().all(u8::is_ascii_whitespace)
        || match gojson::parse(&body, &shared.limits.body) {
            Ok(Value::Null) => true,
            Ok(Value::Object(o)) => o.is_empty(),
            _ => false,
        };
    if !trivial {
        return Err(ProxyError::Denied(Denial::invalid(
            400,
            "a container start with a host config body (API before 1.24) cannot be checked; give the host config at create",
        )));
    }
    set_length(&mut parts.headers, body.len());
    forward(
        shared,
        conn,
        Request::from_parts(parts, Either::Right(Full::new(body))),
    )
    .await
}

/// Services run their tasks on swarm nodes, where no filtered socket can be given to each task's
/// container: any exposure is refused, for allowed images with the reason.
async fn service(
    shared: &Arc<Shared>,
    conn: &ConnUpstream,
    policy: &Policy,
    parts: http::request::Parts,
    body: Bytes,
    ctx: &mut Ctx,
) -> Result<Response<ClientBody>, ProxyError> {
    let value = gojson::parse(&body, &shared.limits.body).map_err(body_denial)?;
    let spec = mounts::service_spec(&value).map_err(body_denial)?;
    let exposures = facts::exposures(&shared.upstream, &shared.protected, &spec.mounts).await?;
    if let Err(d) = unfilterable::service_verdict(policy, spec.image.as_deref(), &exposures) {
        ctx.image_name = spec.image.clone();
        return Err(ProxyError::Denied(d));
    }
    forward(shared, conn, canonical(parts, &value)).await
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        || headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Sends the request to the engine. Upgrades (attach, exec, BuildKit session) get a connection of
/// their own, spliced both ways with half-close once the engine answers 101.
async fn forward(
    shared: &Arc<Shared>,
    conn: &ConnUpstream,
    mut req: Request<UpstreamBody>,
) -> Result<Response<ClientBody>, ProxyError> {
    let resp = if wants_upgrade(req.headers()) {
        let client_side = hyper::upgrade::on(&mut req);
        let mut sender = shared.upstream.dial().await?;
        let mut resp = sender.send_request(req).await?;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let engine_side = hyper::upgrade::on(&mut resp);
            let mut shutdown = shared.shutdown.clone();
            tokio::spawn(async move {
                let (client, engine) = match tokio::try_join!(client_side, engine_side) {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::debug!(error = %e, "upgrade failed");
                        return;
                    }
                };
                let mut client = TokioIo::new(client);
                let mut engine = TokioIo::new(engine);
                tokio::select! {
                    r = tokio::io::copy_bidirectional(&mut client, &mut engine) => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "upgraded stream ended");
                        }
                    }
                    _ = shutdown.changed() => {}
                }
            });
        }
        resp
    } else {
        let mut slot = conn.sender.lock().await;
        let alive = match slot.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        let sender = match slot.take() {
            Some(s) if alive => slot.insert(s),
            _ => {
                let (sender, driver) = shared.upstream.connect().await?;
                // Driven by this client connection's task; if that task is gone, so is the
                // client, and the request fails with the closed connection.
                let _ = conn.drivers.send(driver);
                slot.insert(sender)
            }
        };
        sender.send_request(req).await?
    };
    Ok(resp.map(Either::Left))
}
