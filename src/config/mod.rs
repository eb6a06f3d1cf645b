//! The configuration machinery every role uses, and the settings they share.
//!
//! Boundary: everything the operator gives at start (command line, TOML
//! file, `ALP_CONNEX_*` environment) becomes one checked settings value of
//! the role or one [`ConfigError`]; no I/O beyond reading the files named.
//! The managed configuration pushed through Valkey is applied later by the
//! role, on top of these settings ([`Layers::with_managed`]).
//!
//! ```text
//! defaults (S::Raw::default) < --config TOML < ALP_CONNEX_* env < CLI (role args)
//!        └──────────── figment merge ──► S::Raw ──resolve──► S ──validate──► role
//! ```
//!
//! Each role owns its command line, settings, managed keys and `config-gen`
//! text in its own folder (`inbound::config`, `server::config`) and gives
//! them to the machinery through [`RoleSettings`] and [`RoleArgs`]; nothing
//! here knows a role.
//!
//! - [`role`]: the two traits a role implements.
//! - [`layers`]: the layering, the managed overlay and figment's errors in
//!   the operator's words.
//! - [`env`]: the `ALP_CONNEX_*` names and the check that each names a
//!   setting.
//! - [`generate_for`]: `config-gen`, rendered from the role's defaults.
//! - [`common`]: the shared sections and checks (`id`, `log_level`,
//!   `redis`, the t0..t3/k/w parameters, the time zone, range checks,
//!   setting descriptions).
//! - [`cli`]: the shared command-line parts (the options every role takes,
//!   the protocol parameters, `redis`).
//! - [`error`]: [`ConfigError`], one line naming setting, value and range.
//! - [`secret`]: [`Secret`], a password that never shows itself.

pub mod cli;
pub mod common;
pub mod env;
pub mod error;
mod generate;
pub mod layers;
pub mod role;
pub mod secret;

pub use cli::RoleOptions;
pub use common::{LogLevel, RedisSettings, SettingDoc, TimeZone};
pub use env::ENV_PREFIX;
pub use error::ConfigError;
pub use generate::generate_for;
pub use layers::Layers;
pub use role::{RoleArgs, RoleSettings};
pub use secret::Secret;
