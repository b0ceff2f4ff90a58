//! `eci-guard serve`: the headless enforcer, the same engine the desktop app embeds.

use std::process::ExitCode;

use eci_proxy::{AuditTarget, ServeConfig, AUDIT_TARGET};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub fn run(config: ServeConfig) -> ExitCode {
    init_logging(config.audit_target() == Some(AuditTarget::Journal));
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eci-guard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let (mut int, mut term) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("eci-guard: cannot watch for signals: {e}");
                return Ok(false);
            }
        };
        let shutdown = async move {
            tokio::select! {
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            }
        };
        eci_proxy::serve(config, shutdown).await.map(|()| true)
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("eci-guard: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; with the audit log in the journal, audit events go to the journal as
/// structured fields (and not to stderr, which systemd would put in the journal a second time).
fn init_logging(journal: bool) {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let is_audit = |m: &tracing::Metadata<'_>| m.target() == AUDIT_TARGET;
    let journald = if journal {
        match tracing_journald::layer() {
            Ok(layer) => Some(
                // Fields by their own names (KIND, IMAGE, REASON, …), as the history names them.
                layer
                    .with_syslog_identifier("eci-guard".to_owned())
                    .with_field_prefix(None)
                    .with_filter(tracing_subscriber::filter::filter_fn(move |m| is_audit(m))),
            ),
            Err(e) => {
                eprintln!(
                    "eci-guard: cannot write to the journal ({e}); audit events go to stderr"
                );
                None
            }
        }
    } else {
        None
    };
    let to_journal = journald.is_some();
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter())
        .with_filter(tracing_subscriber::filter::filter_fn(move |m| {
            !(to_journal && is_audit(m))
        }));
    tracing_subscriber::registry()
        .with(stderr)
        .with(journald)
        .init();
}
