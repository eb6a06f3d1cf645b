//! The `alp-connex` binary: one executable, one role per subcommand.
//!
//! Exit status: 0 on success, 2 for a configuration that cannot be used
//! (one line `error: <setting> = <value>: <what is allowed>` on stderr) or
//! a command line clap refuses. `healthcheck` exits 0 or 1 only
//! ([`alp_connex::health`]).

use std::process::ExitCode;

use alp_connex::backend::config::BackendArgs;
use alp_connex::config::{self, Layers, LogLevel, RoleArgs, RoleSettings};
use alp_connex::connector::LogControl;
use alp_connex::health;
use alp_connex::inbound::config::{InboundArgs, InboundSettings};
use alp_connex::mqtt::config::{MqttArgs, MqttSettings};
use alp_connex::mqtt_sim::{self, MqttSimArgs};
use alp_connex::server::config::{Iec104ServerArgs, Iec104ServerSettings};
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
    /// Whether the role running on this host is healthy: exit 0, or 1 with
    /// one line saying why.
    #[command(
        long_about = "Whether the role running on this host is healthy: prints one line and exits 0 when it is, 1 when it is not (also when its settings cannot be read).\n\n\
A connector (iec104-inbound, iec104-server, mqtt) is healthy when its status key connectors:{ID}:status in Valkey was written within the last 10 s and shows it connected to its source (iec104-inbound, mqtt) or listening and following Valkey (iec104-server); the backend when its /readyz answers 200.\n\n\
Give the role and its options as the role was started (the same --config file and ALP_CONNEX_* environment apply), e.g. `alp-connex healthcheck iec104-inbound --config /etc/alp-connex/inbound-rtu-a.toml`. Without a role, the command line of process 1 is used: the role of a container started from the image."
    )]
    Healthcheck(HealthcheckArgs),
}

/// `alp-connex healthcheck [ROLE [ROLE OPTIONS]]`.
#[derive(Debug, clap::Args)]
struct HealthcheckArgs {
    /// The role to check, with the options it was started with.
    #[command(subcommand)]
    role: Option<CheckedRole>,
}

/// The roles `healthcheck` checks, with their own command lines.
#[derive(Debug, Subcommand)]
enum CheckedRole {
    /// The IEC 104 inbound connector.
    Iec104Inbound(InboundArgs),
    /// The IEC 104 server.
    Iec104Server(Iec104ServerArgs),
    /// The MQTT connector.
    Mqtt(MqttArgs),
    /// The backend.
    Backend(BackendArgs),
}

/// The allocator of the static (musl) build: see Cargo.toml.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status of a configuration error.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    match Cli::parse().role {
        Role::Iec104Inbound(args) => configured(&args, |layers, settings, log| {
            log_settings(&settings);
            run_role(alp_connex::inbound::run(layers, settings, log))
        }),
        Role::Iec104Server(args) => configured(&args, |layers, settings, log| {
            run_role(alp_connex::server::run(layers, settings, log))
        }),
        Role::Mqtt(args) => configured(&args, |layers, settings, log| {
            log_settings(&settings);
            run_role(alp_connex::mqtt::run(layers, settings, log))
        }),
        Role::Backend(args) => configured(&args, |_, settings, _| {
            log_settings(&settings);
            run_role(alp_connex::backend::run(settings))
        }),
        // No settings layers (file, environment, managed configuration):
        // the command line alone, checked by clap and the simulator.
        Role::RtuSim(args) => sim::main(&args),
        Role::MqttSim(args) => mqtt_sim::main(&args),
        Role::Healthcheck(args) => healthcheck(args.role),
    }
}

/// `healthcheck`: the verdict on one line, exit 0 when healthy, else 1.
fn healthcheck(role: Option<CheckedRole>) -> ExitCode {
    let role = match role {
        Some(role) => Ok(role),
        None => role_of_process_1(),
    };
    let verdict = match role.and_then(health_target) {
        Ok(target) => health::check_blocking(&target, health::TIMEOUT),
        Err(verdict) => verdict,
    };
    println!("{verdict}");
    if verdict.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What to check for `role`, from its settings read as the role reads
/// them; a verdict when there is nothing to check.
fn health_target(role: CheckedRole) -> Result<health::Target, health::Verdict> {
    fn settings<A: RoleArgs>(args: &A) -> Result<A::Settings, health::Verdict> {
        args.load().map_err(|e| {
            health::Verdict::unhealthy(format!(
                "{}: configuration: {e}",
                <A::Settings as RoleSettings>::ROLE
            ))
        })
    }
    fn connector(kind: &'static str, id: &str, redis: &config::RedisSettings) -> health::Target {
        health::Target::Connector {
            kind,
            id: id.to_owned(),
            store: alp_connex::store::StoreConfig::from_settings(redis, id),
        }
    }
    Ok(match role {
        CheckedRole::Iec104Inbound(a) => {
            let s = settings(&a)?;
            connector(InboundSettings::ROLE, &s.id, &s.redis)
        }
        CheckedRole::Iec104Server(a) => {
            let s = settings(&a)?;
            connector(Iec104ServerSettings::ROLE, &s.id, &s.redis)
        }
        CheckedRole::Mqtt(a) => {
            let s = settings(&a)?;
            connector(MqttSettings::ROLE, &s.id, &s.redis)
        }
        CheckedRole::Backend(a) => {
            let s = settings(&a)?;
            health::Target::backend(s.http.bind, s.http.port)
        }
    })
}

/// The role of process 1 (a container's main process), read from its
/// command line.
fn role_of_process_1() -> Result<CheckedRole, health::Verdict> {
    let raw = std::fs::read("/proc/1/cmdline").map_err(|e| {
        health::Verdict::unhealthy(format!(
            "no role given and the command line of process 1 not readable: {e}"
        ))
    })?;
    let argv: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let shown = argv.first().map_or("(nothing)", String::as_str).to_owned();
    let cli = Cli::try_parse_from(&argv).map_err(|_| {
        health::Verdict::unhealthy(format!(
            "no role given and process 1 is not an alp-connex role: {shown}"
        ))
    })?;
    match cli.role {
        Role::Iec104Inbound(a) => Ok(CheckedRole::Iec104Inbound(a)),
        Role::Iec104Server(a) => Ok(CheckedRole::Iec104Server(a)),
        Role::Mqtt(a) => Ok(CheckedRole::Mqtt(a)),
        Role::Backend(a) => Ok(CheckedRole::Backend(a)),
        Role::RtuSim(_) | Role::MqttSim(_) => Err(health::Verdict::healthy(
            "process 1 is a demo source, healthy while it runs",
        )),
        Role::Healthcheck(_) => Err(health::Verdict::unhealthy(
            "process 1 is itself a healthcheck",
        )),
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
