//! The `alp-connex` binary: one executable, one role per subcommand.
//!
//! Exit status: 0 on success, 2 for a configuration that cannot be used
//! (one line `error: <setting> = <value>: <what is allowed>` on stderr) or
//! a command line clap refuses.

use std::process::ExitCode;

use alp_connex::config::{self, InboundArgs, InboundSettings};
use alp_connex::sim::{self, SimArgs};
use clap::{Parser, Subcommand};

/// alp-connex: IEC 60870-5-104 and MQTT into one Valkey process image.
#[derive(Debug, Parser)]
#[command(name = "alp-connex", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Debug, Subcommand)]
enum Role {
    /// IEC 104 inbound connector: a client of a remote IEC 104 server,
    /// writing its points into Valkey. Hidden from `--help` until the role
    /// runs: today it loads and checks its settings and `config-gen` works.
    #[command(hide = true)]
    Iec104Inbound(InboundArgs),
    /// Demo RTU / load generator: an IEC 104 controlled station with
    /// simulated substation points.
    RtuSim(SimArgs),
}

/// Exit status of a configuration error.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    match Cli::parse().role {
        Role::Iec104Inbound(args) => iec104_inbound(&args),
        Role::RtuSim(args) => sim::main(&args),
    }
}

fn iec104_inbound(args: &InboundArgs) -> ExitCode {
    if args.is_config_gen() {
        print!("{}", config::generate());
        return ExitCode::SUCCESS;
    }
    let settings = match config::load(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(&settings);
    tracing::info!(settings = ?settings, "effective settings");
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    ExitCode::SUCCESS
}

fn init_logging(settings: &InboundSettings) {
    tracing_subscriber::fmt()
        .with_max_level(settings.log_level.filter())
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
