//! `eci-guard probe REF`: what the registry says about an image reference, live.

use std::path::Path;
use std::process::ExitCode;

use eci_registry::RegistrySettings;
use tokio_util::sync::CancellationToken;

use crate::Format;

pub fn run(reference: &str, registries: Option<&Path>, format: Format) -> ExitCode {
    let settings = match registries.map(RegistrySettings::load) {
        None => RegistrySettings::default(),
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("eci-guard: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eci-guard: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let cancel = CancellationToken::new();
    let report = runtime.block_on(async {
        // Ctrl-C cancels the probe, which then reports itself as cancelled instead of dying mid-line.
        let on_interrupt = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_interrupt.cancel();
            }
        });
        eci_registry::probe(reference, &settings, &cancel).await
    });
    match format {
        Format::Human => println!("{}", report.human()),
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("eci-guard: cannot print the report: {e}");
                return ExitCode::from(2);
            }
        },
    }
    ExitCode::from(report.exit_code())
}
