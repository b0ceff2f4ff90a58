//! One request: admit and judge it ([`crate::judge`]), then forward (streaming, or with a
//! canonical rewritten body, or spliced after a 101) or refuse. Refusals become HTTP and a block
//! record in [`handle`] and nowhere else.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use eci_policy::decide::{Denial, Via};
use eci_policy::gojson;
use eci_policy::mounts::{self, MountRef};
use eci_policy::routes;
use eci_policy::settings::Policy;
use eci_policy::unreadable::{unreadable, Unreadable};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::blocks::{AllowedRequest, BlockEvent, ClientInfo, SocketKind};
use crate::classify;
use crate::engine_body::EngineBody;
use crate::error::ProxyError;
use crate::image_cache::Changing;
use crate::judge::{self, body_denial, Forward, Seen};
use crate::metrics::Verdict;
use crate::shared::Shared;
use crate::socket::{Origin, Peer};
use crate::upstream::{ConnUpstream, UpstreamBody};

/// The body of an answer to the client: the engine's stream, or one we made.
pub type ClientBody = Either<EngineBody, Full<Bytes>>;

/// Serves one request; never fails (refusals are answers).
pub async fn handle(
    shared: &Arc<Shared>,
    origin: &Origin,
    peer: Option<Peer>,
    conn: &Arc<ConnUpstream>,
    req: Request<Incoming>,
) -> Response<ClientBody> {
    let policy = shared.policy.snapshot();
    // A clone of the target's shared bytes, not a copy: it outlives the request it came with.
    let uri = req.uri().clone();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let asked = Asked {
        origin,
        peer,
        method: req.method().clone(),
        // A cheap clone (shared bytes); read only if the request is refused.
        user_agent: req.headers().get(header::USER_AGENT).cloned(),
        policy: &policy,
        target,
    };
    let mut seen = Seen::default();
    let mut audits = Vec::new();
    let outcome = process(
        shared,
        origin,
        conn,
        &policy,
        req,
        target,
        &mut seen,
        &mut audits,
    )
    .await;
    account(shared, &asked, &outcome, &seen, &audits);
    match outcome {
        Ok(resp) => resp,
        Err(err) => err.into_response().map(Either::Right),
    }
}

/// What a request asked, for its records.
struct Asked<'a> {
    origin: &'a Origin,
    peer: Option<Peer>,
    method: Method,
    user_agent: Option<HeaderValue>,
    policy: &'a Policy,
    target: &'a str,
}

impl Asked<'_> {
    fn client(&self) -> ClientInfo {
        ClientInfo {
            pid: self.peer.and_then(|p| p.pid),
            uid: self.peer.map(|p| p.uid),
            gid: self.peer.map(|p| p.gid),
            user_agent: self
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    fn block(&self, d: &Denial, seen: &Seen, audited: bool) -> BlockEvent {
        let socket = match self.origin {
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
            image_name: seen.image_name.clone(),
            image_id: seen.image_id.clone(),
            kind: d.kind,
            audited,
            commands: seen.route.map(classify::commands_of).unwrap_or_default(),
            method: self.method.to_string(),
            path: self.target.to_owned(),
            status: d.status,
            reason: d.reason.clone(),
            message: d.message.clone(),
            policy_version: self.policy.version.clone(),
            client: self.client(),
        }
    }
}

/// The request's one account: its metrics, its refusals (audited ones, then the block) recorded
/// at this one point, and an allowed request offered to the audit log's sample.
fn account(
    shared: &Shared,
    asked: &Asked<'_>,
    outcome: &Result<Response<ClientBody>, ProxyError>,
    seen: &Seen,
    audits: &[(Denial, Seen)],
) {
    let verdict = match outcome {
        Ok(_) if audits.is_empty() => Verdict::Allowed,
        Ok(_) => Verdict::Audited,
        Err(ProxyError::Denied(_)) => Verdict::Blocked,
        Err(
            ProxyError::Upstream(_)
            | ProxyError::UpstreamUnavailable { .. }
            | ProxyError::Facts { .. }
            | ProxyError::EngineAnswer { .. },
        ) => Verdict::UpstreamError,
        Err(_) => Verdict::Error,
    };
    shared.blocks.metrics().request_on(seen.route, verdict);
    if verdict == Verdict::Allowed {
        shared.blocks.allowed(|| AllowedRequest {
            at: SystemTime::now(),
            socket_path: match asked.origin {
                Origin::Main { path } | Origin::Filtered { path, .. } => path.to_string(),
            },
            method: asked.method.to_string(),
            path: asked.target.to_owned(),
        });
    }
    for (d, seen) in audits {
        shared.blocks.record(asked.block(d, seen, true));
    }
    match outcome {
        Err(ProxyError::Denied(d)) => shared.blocks.record(asked.block(d, seen, false)),
        Err(err) => {
            tracing::warn!(method = %asked.method, target = %asked.target, error = %err, "request failed")
        }
        Ok(_) => {}
    }
}

#[allow(clippy::too_many_arguments)]
async fn process(
    shared: &Arc<Shared>,
    origin: &Origin,
    conn: &Arc<ConnUpstream>,
    policy: &Policy,
    req: Request<Incoming>,
    target: &str,
    seen: &mut Seen,
    audits: &mut Vec<(Denial, Seen)>,
) -> Result<Response<ClientBody>, ProxyError> {
    let via = match origin {
        Origin::Main { .. } => Via::Main,
        Origin::Filtered { .. } => Via::Filtered,
    };
    // Judged again, under a policy that waives the family, after each audited refusal.
    let mut policy = Cow::Borrowed(policy);
    let method = req.method().as_str();
    let admitted = loop {
        match judge::admit(&policy, via, method, target, &shared.limits, seen) {
            Err(err) => policy = Cow::Owned(judge::audited(&policy, err, seen, audits)?),
            Ok(admitted) => break admitted,
        }
    };
    // The kept image inspects are neither used nor kept until this request's answer has been
    // read to its end (an upgraded connection's, until it closes). With ECI off too: nothing is
    // judged now, but the answers kept are used again once it is back on, and a request forwarded
    // under the old policy may still be under way then.
    let changing = match &admitted {
        Some(classified) => classified.route.changes_image_names(),
        None => routes::classify(method, target).is_ok_and(|c| c.route.changes_image_names()),
    }
    .then(|| shared.images.changing());
    let (mut parts, body) = req.into_parts();
    origin_form(&mut parts, target)?;
    let Some(classified) = admitted else {
        let req = Request::from_parts(parts, Either::Left(body));
        return forward(shared, conn, req, changing).await;
    };
    let (body, read) = if classified.inspect.reads_body() {
        (None, Some(read_body(shared, body).await?))
    } else {
        (Some(body), None)
    };
    // The facts the decision reads go over this client connection's engine connection, which
    // is idle until the request is forwarded (docs/perf, finding 18).
    let upstream = shared.upstream.over(conn);
    let judging = shared.judging(&upstream);
    let decision = loop {
        match judge::decide(&judging, &policy, via, &classified, read.as_deref(), seen).await {
            Err(err) => policy = Cow::Owned(judge::audited(&policy, err, seen, audits)?),
            Ok(decision) => break decision,
        }
    };
    if let (false, Some(id)) = (audits.is_empty(), &seen.container_id) {
        // Before the engine can announce the start: the watch must know it is ours.
        shared.note_audited_start(id);
    }
    let resp = send(
        shared,
        conn,
        parts,
        (body, read),
        decision.forward,
        changing,
    )
    .await;
    // The volume lock, if taken, goes once the engine has answered.
    drop(decision.volumes);
    resp
}

/// The engine must route exactly the target we classified: always origin-form.
fn origin_form(parts: &mut http::request::Parts, target: &str) -> Result<(), ProxyError> {
    if parts.uri.authority().is_some() || parts.uri.scheme().is_some() {
        parts.uri = Uri::try_from(target)
            .map_err(|e| ProxyError::Denied(unreadable(Unreadable::Target(e.to_string()))))?;
    }
    Ok(())
}

/// Forwards an allowed request as decided; its body is still the client's stream, or was read
/// (`read`) for the decision. `changing` lasts as long as the engine's answer.
async fn send(
    shared: &Arc<Shared>,
    conn: &ConnUpstream,
    parts: http::request::Parts,
    (body, read): (Option<Incoming>, Option<Bytes>),
    decided: Forward,
    changing: Option<Changing>,
) -> Result<Response<ClientBody>, ProxyError> {
    let req = match decided {
        Forward::Stream => match body {
            Some(body) => Request::from_parts(parts, Either::Left(body)),
            None => with_bytes(parts, read.unwrap_or_default()),
        },
        Forward::Raw(bytes) => with_bytes(parts, bytes),
        Forward::Body(value) => canonical(parts, &value),
        Forward::Filtered { value, rewrite } => {
            return forward_filtered(shared, conn, parts, value, &rewrite, changing).await
        }
    };
    forward(shared, conn, req, changing).await
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
        Err(e) => Err(ProxyError::Denied(unreadable(Unreadable::Body(
            e.to_string(),
        )))),
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

/// The request with exactly these bytes as its body.
fn with_bytes(mut parts: http::request::Parts, bytes: Bytes) -> Request<UpstreamBody> {
    set_length(&mut parts.headers, bytes.len());
    Request::from_parts(parts, Either::Right(Full::new(bytes)))
}

fn set_length(headers: &mut HeaderMap, len: usize) {
    headers.remove(header::TRANSFER_ENCODING);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// Forwards an allowed create whose socket mounts go to a new filtered socket, which is bound to
/// the container the engine made.
async fn forward_filtered(
    shared: &Arc<Shared>,
    conn: &ConnUpstream,
    parts: http::request::Parts,
    mut value: Value,
    rewrite: &[MountRef],
    changing: Option<Changing>,
) -> Result<Response<ClientBody>, ProxyError> {
    let pending = shared
        .filtered
        .create(shared)
        .map_err(ProxyError::FilteredSocket)?;
    // The next create's socket is made now, off this create's path.
    shared
        .filtered
        .refill_in_background(Box::new(shared.clone()));
    let source = pending.path().to_string_lossy().into_owned();
    for m in rewrite {
        mounts::rewrite_source(&mut value, m, &source).map_err(body_denial)?;
    }
    let resp = forward(shared, conn, canonical(parts, &value), changing).await?;
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
/// their own, spliced both ways with half-close once the engine answers 101. `changing`, a change
/// of image names under way ([`crate::image_cache`]), ends with the answer, or with the upgraded
/// connection.
async fn forward(
    shared: &Arc<Shared>,
    conn: &ConnUpstream,
    mut req: Request<UpstreamBody>,
    mut changing: Option<Changing>,
) -> Result<Response<ClientBody>, ProxyError> {
    let resp = if wants_upgrade(req.headers()) {
        let client_side = hyper::upgrade::on(&mut req);
        let mut sender = shared.upstream.dial().await?;
        let mut resp = sender.send_request(req).await?;
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let engine_side = hyper::upgrade::on(&mut resp);
            let mut shutdown = shared.shutdown.clone();
            // The 101's empty body ends at once; the connection is what may change images.
            let changing = changing.take();
            tokio::spawn(async move {
                let _changing = changing;
                let (client, engine) = match tokio::try_join!(client_side, engine_side) {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::debug!(error = %e, "upgrade failed");
                        return;
                    }
                };
                tokio::select! {
                    r = crate::splice::relay(client, engine) => {
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
        conn.send(&shared.upstream, req).await?
    };
    Ok(resp.map(|body| Either::Left(EngineBody::new(body, changing))))
}
