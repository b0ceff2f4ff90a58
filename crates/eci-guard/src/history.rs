//! `eci-guard history`: the blocked requests the enforcer recorded, filtered, as JSON or CSV.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use eci_history::{Filter, Format};

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The enforcer's state directory (default: the one `serve` uses).
    #[arg(long, value_name = "DIR", env = "ECI_GUARD_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    #[command(flatten)]
    filter: Filter,
}

pub fn run(args: HistoryArgs) -> ExitCode {
    let state_dir = args
        .state_dir
        .unwrap_or_else(eci_proxy::ServeConfig::default_state_dir);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = eci_history::export(&state_dir, &args.filter, args.format, &mut out);
    // Flush before judging: a write error to a closed pipe is the reader's choice, not ours.
    let _ = out.flush();
    match result {
        Ok(count) => {
            eprintln!("eci-guard: {count} blocked request(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eci-guard: history in {}: {e}", state_dir.display());
            ExitCode::from(2)
        }
    }
}
