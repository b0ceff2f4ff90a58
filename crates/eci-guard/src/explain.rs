//! `eci-guard explain`: what the enforcer would do with a request or a docker command line under
//! the settings in force, and why, from the enforcer's own fact gathering and decisions.
//! Exit 0 allow, 1 deny, 2 cannot tell.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};
use eci_proxy::{
    ExplainConfig, Explainer, Explanation, Outcome, RegistryDigests, ServeConfig, Socket,
};

use crate::Format;
use eci_policy::docker_line;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The request's method (with --path).
    #[arg(long, requires = "path")]
    method: Option<String>,
    /// The request target, e.g. `/v1.41/containers/create`.
    #[arg(long, requires = "method")]
    path: Option<String>,
    /// A file holding the request body (`-` for stdin).
    #[arg(long, requires = "path")]
    body: Option<PathBuf>,
    /// The socket the request arrives on: the main one, or a container's filtered socket (where
    /// the command list applies).
    #[arg(long, value_enum, default_value_t = SocketArg::Main)]
    socket: SocketArg,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// The enforcer's settings, engine and state, as for `serve`.
    #[command(flatten)]
    serve: ServeConfig,
    /// A docker command line instead of a request: `-- docker run -v … IMAGE`.
    #[arg(last = true, conflicts_with = "method")]
    command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SocketArg {
    Main,
    Filtered,
}

pub fn run(args: ExplainArgs) -> ExitCode {
    let (method, target, body) = match request(&args) {
        Ok(r) => r,
        Err(why) => {
            eprintln!("eci-guard explain: {why}");
            return ExitCode::from(2);
        }
    };
    let socket = match args.socket {
        SocketArg::Main => Socket::Main,
        SocketArg::Filtered => Socket::Filtered,
    };
    let registries = match &args.serve.registries {
        Some(path) => match eci_registry::RegistrySettings::load(path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("eci-guard explain: {e}");
                return ExitCode::from(2);
            }
        },
        None => eci_registry::RegistrySettings::default(),
    };
    let format = args.format;
    let Some((explanation, problem)) =
        explain(args.serve, registries, socket, &method, &target, &body)
    else {
        return ExitCode::from(2);
    };
    if let Some(problem) = problem {
        eprintln!("eci-guard explain: {problem}");
    }
    let mut out = std::io::stdout().lock();
    let _ = match format {
        Format::Json => serde_json::to_writer_pretty(&mut out, &explanation)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        Format::Human => out.write_all(human(&explanation).as_bytes()),
    };
    ExitCode::from(match explanation.outcome {
        Outcome::Allow | Outcome::AllowFiltered => 0,
        Outcome::Deny => 1,
        Outcome::CannotTell => 2,
    })
}

/// The enforcer's judge run once on the request, with the facts `serve` would have: the
/// explanation and any settings problem; `None` when no runtime could start.
fn explain(
    serve: eci_proxy::ServeConfig,
    registries: eci_registry::RegistrySettings,
    socket: Socket,
    method: &str,
    target: &str,
    body: &[u8],
) -> Option<(Explanation, Option<String>)> {
    let enforcer = serve.into_enforcer_config();
    let config = ExplainConfig {
        upstream: enforcer.upstream,
        settings: enforcer.settings,
        protect: enforcer
            .listen
            .into_iter()
            .chain(enforcer.protect)
            .collect(),
        state_dir: enforcer.state_dir,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eci-guard explain: cannot start the async runtime: {e}");
            return None;
        }
    };
    Some(runtime.block_on(async {
        // The enforcer's digest cache; entries it has never fetched are fetched now, as the
        // enforcer does when the settings name them.
        let digests = Arc::new(RegistryDigests::open(&config.state_dir, registries));
        let explainer = Explainer::new(&config, digests.clone());
        digests.service().refresh_pending().await;
        let x = explainer.explain(socket, method, target, body).await;
        (x, explainer.settings_problem)
    }))
}

/// The request to explain: given as such, or translated from a docker command line.
fn request(args: &ExplainArgs) -> Result<(String, String, Vec<u8>), String> {
    if let (Some(method), Some(path)) = (&args.method, &args.path) {
        let body = match &args.body {
            None => Vec::new(),
            Some(p) if p.as_os_str() == "-" => {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                    .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
                b
            }
            Some(p) => std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        };
        return Ok((method.clone(), path.clone(), body));
    }
    if args.command.is_empty() {
        return Err(
            "give a request (--method, --path, --body) or a docker command line after --".into(),
        );
    }
    let t = docker_line::translate(&args.command).map_err(|e| e.to_string())?;
    Ok((
        t.method.to_owned(),
        t.target,
        t.body.to_string().into_bytes(),
    ))
}

/// The explanation as aligned lines: what was seen, then what would be done.
fn human(x: &Explanation) -> String {
    let mut s = String::new();
    seen_lines(&mut s, x);
    verdict_lines(&mut s, x);
    s
}

/// The request, the policy, the route, the mounts, the image and the image-list entries.
fn seen_lines(s: &mut String, x: &Explanation) {
    use std::fmt::Write as _;
    let socket = match x.socket {
        Socket::Main => "main socket",
        Socket::Filtered => "a filtered socket",
    };
    let _ = writeln!(s, "request   {} {} (on {socket})", x.method, x.target);
    let _ = writeln!(
        s,
        "policy    {} (ECI {})",
        x.policy_version,
        if x.eci_enabled {
            "on"
        } else {
            "off: everything passes"
        }
    );
    if let Some(route) = &x.route {
        let _ = writeln!(s, "route     {route}; counts as: {}", x.commands.join(", "));
    }
    for m in &x.mounts {
        let _ = writeln!(
            s,
            "mount     {} {} {} -> {}: {}",
            m.pointer,
            m.kind,
            m.source,
            m.target,
            m.exposes
                .as_deref()
                .map_or("reaches no protected socket".to_owned(), |e| format!(
                    "exposes {e}"
                ))
        );
    }
    if let Some(i) = &x.image {
        let _ = writeln!(s, "image     {} = {}", i.name, i.id);
        for d in &i.repo_digests {
            let _ = writeln!(s, "          repo digest {d}");
        }
    }
    for e in &x.entries {
        let _ = writeln!(s, "entry     {}: {}", e.entry, e.finding);
    }
    if let Some(entry) = &x.allowed_by {
        let _ = writeln!(s, "allowed   by {entry}");
    }
}

/// The verdict, the refusals audit mode records, and a refusal's status, message and reason.
fn verdict_lines(s: &mut String, x: &Explanation) {
    use std::fmt::Write as _;
    let verdict = match x.outcome {
        Outcome::Allow => "allow",
        Outcome::AllowFiltered => "allow, with the socket mounts pointed at a filtered socket",
        Outcome::Deny => "deny",
        Outcome::CannotTell => "cannot tell",
    };
    let _ = writeln!(s, "verdict   {verdict}");
    let kind_name = |kind| {
        serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    for a in &x.audited {
        let kind = kind_name(a.kind);
        let _ = writeln!(
            s,
            "audited   would be refused ({kind}), forwarded in audit mode: {}",
            a.reason
        );
    }
    if let (Some(status), Some(kind)) = (x.status, x.kind) {
        let kind = kind_name(kind);
        let _ = writeln!(s, "status    {status}; history kind: {kind}");
    }
    if let Some(m) = &x.message {
        let _ = writeln!(s, "message   {m}");
    }
    if let Some(r) = &x.reason {
        let _ = writeln!(s, "reason    {r}");
    }
}
