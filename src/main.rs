//! The `alp-connex` binary: one executable, one role per subcommand.
//!
//! Exit status: 0 on success, 2 for a configuration that cannot be used
//! (one line `error: <setting> = <value>: <what is allowed>` on stderr) or
//! a command line clap refuses.

use std::process::ExitCode;

use alp_connex::backend::config::BackendArgs;
use alp_connex::config::{self, Layers, LogLevel, RoleArgs, RoleSettings};
use alp_connex::connector::LogControl;
use alp_connex::inbound::config::InboundArgs;
use alp_connex::mqtt::config::MqttArgs;
use alp_connex::mqtt_sim::{self, MqttSimArgs};
use alp_connex::server::config::Iec104ServerArgs;
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
    /// writing its points into Valkey.
    Iec104Inbound(InboundArgs),
    /// IEC 104 server: serves the Valkey process image to SCADA masters.
    Iec104Server(Iec104ServerArgs),
    /// MQTT connector: maps sensor JSON from an MQTT broker to IEC 104
    /// points in Valkey.
    Mqtt(MqttArgs),
    /// Backend: the management API on PostgreSQL, pushing connector
    /// configuration through Valkey.
    Backend(BackendArgs),
    /// Demo RTU / load generator: an IEC 104 controlled station with
    /// simulated substation points.
    RtuSim(SimArgs),
    /// Demo sensor source / MQTT load generator: publishes simulated
    /// substation sensor JSON to an MQTT broker.
    MqttSim(MqttSimArgs),
}

/// Exit status of a configuration error.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    match Cli::parse().role {
        Role::Iec104Inbound(args) => configured(&args, |layers, settings, log| {
            log_settings(&settings);
            run_role(async move {
                alp_connex::inbound::run(layers, settings, log).await;
                Ok::<(), std::convert::Infallible>(())
            })
        }),
        Role::Iec104Server(args) => configured(&args, |layers, settings, log| {
            run_role(alp_connex::server::run(layers, settings, log))
        }),
        Role::Mqtt(args) => configured(&args, |layers, settings, log| {
            log_settings(&settings);
            run_role(async move {
                alp_connex::mqtt::run(layers, settings, log).await;
                Ok::<(), std::convert::Infallible>(())
            })
        }),
        Role::Backend(args) => configured(&args, |_, settings, _| {
            log_settings(&settings);
            run_role(alp_connex::backend::run(settings))
        }),
        // No settings layers (file, environment, managed configuration):
        // the command line alone, checked by clap and the simulator.
        Role::RtuSim(args) => sim::main(&args),
        Role::MqttSim(args) => mqtt_sim::main(&args),
    }
}

/// The one path of every role with layered settings: `config-gen` prints
/// the role's commented defaults; otherwise the settings are read and
/// checked (exit 2 with one error line when they cannot be used), then
/// `--check-config` prints them with the warnings and exits 0, or logging
/// starts at their level and `start` runs the role.
fn configured<A: RoleArgs>(
    args: &A,
    start: impl FnOnce(Layers<A::Settings>, A::Settings, LogControl) -> ExitCode,
) -> ExitCode {
    if args.is_config_gen() {
        print!("{}", config::generate_for::<A::Settings>());
        return ExitCode::SUCCESS;
    }
    let loaded = args.layers().and_then(|l| l.settings().map(|s| (l, s)));
    let (layers, settings) = match loaded {
        Ok(ls) => ls,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.check_config {
        println!("{settings:#?}");
        for warning in settings.warnings() {
            println!("warning: {warning}");
        }
        return ExitCode::SUCCESS;
    }
    let log = init_logging(settings.log_level());
    start(layers, settings, log)
}

/// The effective settings and their warnings, logged at start.
fn log_settings(settings: &impl RoleSettings) {
    tracing::info!(settings = ?settings, "effective settings");
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
}

/// Runs a role on the tokio runtime every role uses (two workers): exit 0
/// when it ends normally, 1 when it cannot start or fails.
fn run_role<E>(role: impl std::future::Future<Output = Result<(), E>>) -> ExitCode {
    one_malloc_arena();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(role) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// glibc gives each thread that allocates its own malloc arena, each
/// holding freed memory of its own: for a process of a few threads that
/// costs megabytes of resident memory (about 2 MiB of a connector's 21 MiB
/// holding 100,000 points) and buys nothing, since each thread's small
/// allocations go through its lock-free cache anyway. One arena, unless
/// the operator set `MALLOC_ARENA_MAX` (glibc has read it already).
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable of the allocator; it is called
        // before the runtime starts any thread.
        #[allow(unsafe_code, reason = "the one unsafe call of the crate")]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Logging to stderr at the configured level, changeable at run time.
fn init_logging(level: LogLevel) -> alp_connex::connector::LogControl {
    use tracing_subscriber::prelude::*;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(level.filter());
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    Box::new(move |level: LogLevel| {
        let _ = handle.modify(|f| *f = level.filter());
    })
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
