//! The configuration of the `backend` role: its command line
//! ([`BackendArgs`]), its settings as read from the layers
//! ([`RawSettings`]) and checked ([`BackendSettings`]), and its
//! `config-gen` text ([`setting_docs`]). The backend has no managed
//! configuration of its own: it writes the connectors' ([`MANAGED_KEYS`]
//! is empty).
//!
//! The command line, as documented (docs/backend.md):
//!
//! ```text
//! alp-connex backend [--id ID] [--log-level L] [--config PATH] [--check-config] [--insecure-no-auth]
//!     [http [--bind IP] [--port P] [--max-body BYTES]]
//!     [database [--url URL | --host H --port P --user U --dbname D] [--password-file F] [--pool-size N]]
//!     [redis [--host H[:P]] [--port P] [--pwd X | --pwd-file F]]
//!     [oidc [--issuer URL] [--audience A] [--roles-claim C]
//!           [--reader-role R] [--engineer-role R] [--admin-role R]]
//! alp-connex backend config-gen
//! ```
//!
//! The sections are subcommands in this order, each at most once, as in the
//! other roles. The database is given either as a URL or as its parts, not
//! both; its password comes from a file (`database.password_file`), the
//! environment (`ALP_CONNEX_DATABASE__PASSWORD`), the `--config` file, or
//! inside a URL given by the environment or the file. A URL holding a
//! password on the command line is refused: other local users can read a
//! command line.

use core::fmt;
use std::net::IpAddr;
use std::ops::{Deref, RangeInclusive};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use tokio_postgres::config::{Host, SslMode};

use crate::config::cli::{RedisArgs, check_config_help};
use crate::config::common::{
    PORT_RANGE, RawRedis, SECONDS, check_id, doc, example, non_empty, range_doc, ranged,
    read_password_file, redis_docs, required_id, top_level_docs,
};
use crate::config::{
    ConfigError, LogLevel, RedisSettings, RoleArgs, RoleOptions, RoleSettings, Secret, SettingDoc,
};

/// Backend: the management API on PostgreSQL, pushing connector
/// configuration through Valkey.
///
/// Settings come from defaults < TOML file (--config) < ALP_CONNEX_*
/// environment (ALP_CONNEX_HTTP__PORT for http.port) < command line.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "backend",
    mut_arg("id", |a| a.help(ID_HELP)),
    mut_arg("check_config", |a| a.help(check_config_help("Connects to nothing and listens on nothing")))
)]
pub struct BackendArgs {
    /// `--id`, `--log-level`, `--config`, `--check-config`.
    #[command(flatten)]
    pub options: RoleOptions,
    /// Serve the API without authentication, for a local test only: allowed
    /// only with a loopback http --bind (127.0.0.1, ::1), and warned about at
    /// every start.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// `http`, `database`, `redis`, `oidc` or `config-gen`.
    #[command(subcommand)]
    pub section: Option<BackendSection>,
}

/// What `--id` is to the backend.
const ID_HELP: &str = "The backend's ID, in its log and the application_name of its database connections (required unless given by the file or ALP_CONNEX_ID).";

/// What follows the role's own options.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum BackendSection {
    /// The HTTP listener; may be followed by `database`, `redis`, `oidc`.
    Http(Box<HttpArgs>),
    /// The PostgreSQL database; may be followed by `redis`, `oidc`.
    Database(Box<DatabaseArgs>),
    /// Connection to Valkey; may be followed by `oidc`.
    Redis(Box<BackendRedisArgs>),
    /// The OpenID Connect issuer whose tokens the API accepts.
    Oidc(Box<OidcArgs>),
    /// Print a commented TOML file with every setting and its default.
    ConfigGen,
}

/// The `http` section.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct HttpArgs {
    /// Address to listen on, IPv4 or IPv6 [default: 0.0.0.0].
    #[arg(long, value_name = "IP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// Port to listen on [default: 8080].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// Largest request body accepted, bytes [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_body: Option<u64>,
    /// `database`, `redis` or `oidc` may follow.
    #[command(subcommand)]
    #[serde(skip)]
    pub then: Option<AfterHttp>,
}

/// What may follow the `http` section.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AfterHttp {
    /// The PostgreSQL database; may be followed by `redis`, `oidc`.
    Database(Box<DatabaseArgs>),
    /// Connection to Valkey; may be followed by `oidc`.
    Redis(Box<BackendRedisArgs>),
    /// The OpenID Connect issuer whose tokens the API accepts.
    Oidc(Box<OidcArgs>),
}

/// The `database` section.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct DatabaseArgs {
    /// PostgreSQL URL, postgres://USER@HOST:PORT/DBNAME, instead of --host,
    /// --port, --user, --dbname. A URL with a password is refused here
    /// (visible to other users): give it by ALP_CONNEX_DATABASE__URL or the
    /// --config file, or the password by --password-file.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Database server host name, IP address or socket directory [default:
    /// 127.0.0.1].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Database server port [default: 5432].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    /// Database user [default: alp_connex].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// File holding the database password (or set
    /// ALP_CONNEX_DATABASE__PASSWORD).
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Database name [default: alp_connex].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dbname: Option<String>,
    /// Connections in the pool [default: 8].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u64>,
    /// `redis` or `oidc` may follow.
    #[command(subcommand)]
    #[serde(skip)]
    pub then: Option<AfterDatabase>,
}

/// What may follow the `database` section.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AfterDatabase {
    /// Connection to Valkey; may be followed by `oidc`.
    Redis(Box<BackendRedisArgs>),
    /// The OpenID Connect issuer whose tokens the API accepts.
    Oidc(Box<OidcArgs>),
}

/// The `redis` section of the backend: the shared one, which `oidc` may
/// follow.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct BackendRedisArgs {
    /// The shared `redis` options.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// `oidc` may follow.
    #[command(subcommand)]
    pub then: Option<AfterRedis>,
}

/// What may follow the `redis` section.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum AfterRedis {
    /// The OpenID Connect issuer whose tokens the API accepts.
    Oidc(Box<OidcArgs>),
}

/// The `oidc` section.
#[derive(Debug, Clone, PartialEq, Args, Serialize)]
pub struct OidcArgs {
    /// Issuer URL, exactly as in the tokens' `iss`, e.g.
    /// https://login.microsoftonline.com/TENANT/v2.0.
    #[arg(long, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Audience the tokens must name in `aud`, e.g. api://alp-connex.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Claim holding the user's app roles [default: roles].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles_claim: Option<String>,
    /// App role that may read [default: ALP.Reader].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader_role: Option<String>,
    /// App role that may configure [default: ALP.Engineer].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engineer_role: Option<String>,
    /// App role that may do everything, restore and audit included
    /// [default: ALP.Admin].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_role: Option<String>,
    /// The web UI's client id at the issuer [default: alp-connex-ui].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_client_id: Option<String>,
    /// The scopes the web UI asks for, e.g. "openid profile
    /// api://alp-connex/access" [default: openid profile].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_scope: Option<String>,
    /// The resource indicator (RFC 8707) the web UI names, for issuers that
    /// need one to issue a JWT for this API; none by default (Entra ID
    /// takes the API from the scope).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_resource: Option<String>,
}

/// The sections given on the command line, wherever they stand in the
/// chain.
#[derive(Debug, Default, Clone, Copy)]
struct Given<'a> {
    http: Option<&'a HttpArgs>,
    database: Option<&'a DatabaseArgs>,
    redis: Option<&'a RedisArgs>,
    oidc: Option<&'a OidcArgs>,
}

impl<'a> Given<'a> {
    fn http(mut self, h: &'a HttpArgs) -> Self {
        self.http = Some(h);
        match &h.then {
            Some(AfterHttp::Database(d)) => self.database(d),
            Some(AfterHttp::Redis(r)) => self.redis(r),
            Some(AfterHttp::Oidc(o)) => self.oidc(o),
            None => self,
        }
    }

    fn database(mut self, d: &'a DatabaseArgs) -> Self {
        self.database = Some(d);
        match &d.then {
            Some(AfterDatabase::Redis(r)) => self.redis(r),
            Some(AfterDatabase::Oidc(o)) => self.oidc(o),
            None => self,
        }
    }

    fn redis(mut self, r: &'a BackendRedisArgs) -> Self {
        self.redis = Some(&r.redis);
        match &r.then {
            Some(AfterRedis::Oidc(o)) => self.oidc(o),
            None => self,
        }
    }

    fn oidc(mut self, o: &'a OidcArgs) -> Self {
        self.oidc = Some(o);
        self
    }
}

/// The own sections of `backend` as a settings layer.
#[derive(Serialize)]
struct BackendLayer<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    insecure_no_auth: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<&'a HttpArgs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'a DatabaseArgs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc: Option<&'a OidcArgs>,
}

impl BackendArgs {
    fn given(&self) -> Given<'_> {
        let given = Given::default();
        match &self.section {
            Some(BackendSection::Http(h)) => given.http(h),
            Some(BackendSection::Database(d)) => given.database(d),
            Some(BackendSection::Redis(r)) => given.redis(r),
            Some(BackendSection::Oidc(o)) => given.oidc(o),
            Some(BackendSection::ConfigGen) | None => given,
        }
    }

    /// The `http` section, if given.
    pub fn http(&self) -> Option<&HttpArgs> {
        self.given().http
    }

    /// The `database` section, if given.
    pub fn database(&self) -> Option<&DatabaseArgs> {
        self.given().database
    }

    /// The `oidc` section, if given.
    pub fn oidc(&self) -> Option<&OidcArgs> {
        self.given().oidc
    }
}

impl Deref for BackendArgs {
    type Target = RoleOptions;

    fn deref(&self) -> &RoleOptions {
        &self.options
    }
}

impl RoleArgs for BackendArgs {
    type Settings = BackendSettings;

    fn sections(&self) -> impl Serialize {
        let given = self.given();
        BackendLayer {
            insecure_no_auth: self.insecure_no_auth,
            http: given.http,
            database: given.database,
            oidc: given.oidc,
        }
    }

    fn redis(&self) -> Option<&RedisArgs> {
        self.given().redis
    }

    fn is_config_gen(&self) -> bool {
        matches!(self.section, Some(BackendSection::ConfigGen))
    }

    /// A database URL with a password is refused on the command line.
    fn check_command_line(&self) -> Result<(), ConfigError> {
        let Some(url) = self.database().and_then(|d| d.url.as_deref()) else {
            return Ok(());
        };
        match tokio_postgres::Config::from_str(url) {
            Ok(c) if c.get_password().is_some() => Err(ConfigError::invalid(
                "database.url",
                mask_url(url),
                "holds a password, which other local users can read on a command line: \
                 give the URL by ALP_CONNEX_DATABASE__URL or the --config file, or the password \
                 by --password-file",
            )),
            // Any other fault is told by the check of the settings.
            _ => Ok(()),
        }
    }
}

/// Default listening address: every IPv4 address.
pub const DEFAULT_HTTP_BIND: &str = "0.0.0.0";
/// Default HTTP port.
pub const DEFAULT_HTTP_PORT: u16 = 8080;
/// Default request body limit, bytes (1 MiB).
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;
/// Request body limit, bytes.
pub const MAX_BODY_RANGE: RangeInclusive<u64> = 1024..=(64 << 20);
/// Default database host.
pub const DEFAULT_DATABASE_HOST: &str = "127.0.0.1";
/// Default database port.
pub const DEFAULT_DATABASE_PORT: u16 = 5432;
/// Default database user.
pub const DEFAULT_DATABASE_USER: &str = "alp_connex";
/// Default database name.
pub const DEFAULT_DATABASE_NAME: &str = "alp_connex";
/// Default number of pooled connections.
pub const DEFAULT_POOL_SIZE: u64 = 8;
/// Connections in the pool.
pub const POOL_SIZE_RANGE: RangeInclusive<u64> = 1..=256;
/// Default time to connect to PostgreSQL, seconds.
pub const DEFAULT_CONNECT_TIMEOUT_S: u64 = 5;
/// Time to connect to PostgreSQL, seconds.
pub const CONNECT_TIMEOUT_RANGE_S: RangeInclusive<u64> = 1..=60;
/// Default claim of the app roles (Entra ID's).
pub const DEFAULT_ROLES_CLAIM: &str = "roles";
/// Default app role that may read.
pub const DEFAULT_READER_ROLE: &str = "ALP.Reader";
/// Default app role that may configure.
pub const DEFAULT_ENGINEER_ROLE: &str = "ALP.Engineer";
/// Default app role that may do everything.
pub const DEFAULT_ADMIN_ROLE: &str = "ALP.Admin";

/// The HTTP listener (section `http`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Address to listen on.
    pub bind: IpAddr,
    /// TCP port to listen on.
    pub port: u16,
    /// Largest request body accepted, bytes.
    pub max_body: usize,
}

/// The PostgreSQL database (section `database`): one server, no TLS.
#[derive(Clone, PartialEq)]
pub struct DatabaseSettings {
    /// The connection as tokio-postgres takes it: one host, a user, TLS off
    /// (`sslmode=disable`), the connect timeout and an application name set.
    pub connection: tokio_postgres::Config,
    /// Connections in the pool.
    pub pool_size: usize,
    /// Time to open one connection.
    pub connect_timeout: Duration,
}

impl DatabaseSettings {
    /// `host:port` (or the socket directory and port), for messages.
    pub fn target(&self) -> String {
        let port = self
            .connection
            .get_ports()
            .first()
            .copied()
            .unwrap_or(DEFAULT_DATABASE_PORT);
        match self.connection.get_hosts().first() {
            Some(Host::Tcp(h)) if h.contains(':') => format!("[{h}]:{port}"),
            Some(Host::Tcp(h)) => format!("{h}:{port}"),
            Some(Host::Unix(dir)) => format!("{}:{port}", dir.display()),
            None => format!("?:{port}"),
        }
    }

    /// The database user.
    pub fn user(&self) -> &str {
        self.connection.get_user().unwrap_or_default()
    }

    /// The database name (PostgreSQL's default: the user's name).
    pub fn dbname(&self) -> &str {
        self.connection.get_dbname().unwrap_or_else(|| self.user())
    }

    /// Whether the server is reached over loopback or a unix socket (where
    /// the missing TLS exposes nothing).
    pub fn is_local(&self) -> bool {
        match self.connection.get_hosts().first() {
            Some(Host::Tcp(h)) => {
                h == "localhost"
                    || h.parse::<IpAddr>()
                        .is_ok_and(|ip| ip.to_canonical().is_loopback())
            }
            Some(Host::Unix(_)) => true,
            None => false,
        }
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("target", &self.target())
            .field("user", &self.user())
            .field("dbname", &self.dbname())
            .field(
                "password",
                &self.connection.get_password().map(|_| Secret::new("")),
            )
            .field("tls", &"off")
            .field("application_name", &self.connection.get_application_name())
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The OpenID Connect issuer whose tokens the API accepts and the app roles
/// it maps (section `oidc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// Issuer URL, compared with the tokens' `iss` exactly.
    pub issuer: String,
    /// The audience the tokens must name.
    pub audience: String,
    /// The claim holding the app roles.
    pub roles_claim: String,
    /// App role that may read.
    pub reader_role: String,
    /// App role that may configure.
    pub engineer_role: String,
    /// App role that may do everything.
    pub admin_role: String,
    /// The web UI's client id.
    pub ui_client_id: String,
    /// The scopes the web UI asks for.
    pub ui_scope: String,
    /// The resource indicator the web UI names, if any.
    pub ui_resource: Option<String>,
}

/// How the API authenticates its callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Bearer tokens of an OpenID Connect issuer.
    Oidc(Box<OidcSettings>),
    /// None at all (`insecure_no_auth`, loopback only).
    InsecureNoAuth,
}

/// The settings of the backend, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSettings {
    /// The backend's ID.
    pub id: String,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// The HTTP listener.
    pub http: HttpSettings,
    /// The PostgreSQL database.
    pub database: DatabaseSettings,
    /// The connection to Valkey.
    pub redis: RedisSettings,
    /// How callers are authenticated.
    pub auth: Auth,
}

/// The settings as the layers give them. Every field has its default here,
/// which is also what `config-gen` prints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub log_level: LogLevel,
    /// Serve the API without authentication (loopback only).
    pub insecure_no_auth: bool,
    /// Section `http`.
    pub http: RawHttp,
    /// Section `database`.
    pub database: RawDatabase,
    /// Section `redis`.
    pub redis: RawRedis,
    /// Section `oidc`.
    pub oidc: RawOidc,
}

/// Section `http` as read; see [`HttpSettings`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawHttp {
    pub bind: String,
    pub port: u64,
    pub max_body: u64,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            bind: DEFAULT_HTTP_BIND.to_owned(),
            port: DEFAULT_HTTP_PORT.into(),
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// Section `database` as read; see [`DatabaseSettings`]. The URL and the
/// parts have no defaults here: whether one was given decides the form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawDatabase {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dbname: Option<String>,
    pub pool_size: u64,
    pub connect_timeout_s: u64,
}

impl Default for RawDatabase {
    fn default() -> Self {
        Self {
            url: None,
            host: None,
            port: None,
            user: None,
            password: None,
            password_file: None,
            dbname: None,
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout_s: DEFAULT_CONNECT_TIMEOUT_S,
        }
    }
}

/// Section `oidc` as read; see [`OidcSettings`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawOidc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    pub roles_claim: String,
    pub reader_role: String,
    pub engineer_role: String,
    pub admin_role: String,
    pub ui_client_id: String,
    pub ui_scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_resource: Option<String>,
}

/// The web UI's default client id.
pub const DEFAULT_UI_CLIENT_ID: &str = "alp-connex-ui";
/// The web UI's default scopes.
pub const DEFAULT_UI_SCOPE: &str = "openid profile";

impl Default for RawOidc {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            roles_claim: DEFAULT_ROLES_CLAIM.to_owned(),
            reader_role: DEFAULT_READER_ROLE.to_owned(),
            engineer_role: DEFAULT_ENGINEER_ROLE.to_owned(),
            admin_role: DEFAULT_ADMIN_ROLE.to_owned(),
            ui_client_id: DEFAULT_UI_CLIENT_ID.to_owned(),
            ui_scope: DEFAULT_UI_SCOPE.to_owned(),
            ui_resource: None,
        }
    }
}

/// A database URL for messages: the password, in the authority or the
/// query, replaced by `***`.
pub fn mask_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(parts) => parts,
        None => return String::from("(not a URL)"),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{hosts}"),
            None => format!("{userinfo}@{hosts}"),
        },
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((p, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some(("password", _)) => String::from("password=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{p}?{}", query.join("&"))
        }
        None => path.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

impl RawDatabase {
    /// The connection from the URL or the parts, the password laid in, TLS
    /// off; `id` names the connection (`application_name`).
    pub fn resolve(self, id: &str) -> Result<DatabaseSettings, ConfigError> {
        let connect_timeout = Duration::from_secs(ranged::<u64>(
            "database.connect_timeout_s",
            self.connect_timeout_s,
            &CONNECT_TIMEOUT_RANGE_S,
            SECONDS,
        )?);
        let pool_size = ranged("database.pool_size", self.pool_size, &POOL_SIZE_RANGE, "")?;
        let mut connection = match self.url {
            Some(url) => {
                for (setting, given) in [
                    ("database.host", self.host.is_some()),
                    ("database.port", self.port.is_some()),
                    ("database.user", self.user.is_some()),
                    ("database.dbname", self.dbname.is_some()),
                ] {
                    if given {
                        return Err(ConfigError::Conflict {
                            setting: "database.url",
                            other: setting,
                        });
                    }
                }
                from_url(&url)?
            }
            None => {
                let mut c = tokio_postgres::Config::new();
                let host = self
                    .host
                    .unwrap_or_else(|| DEFAULT_DATABASE_HOST.to_owned());
                non_empty("database.host", &host)?;
                let port = match self.port {
                    Some(p) => ranged("database.port", p, &PORT_RANGE, "")?,
                    None => DEFAULT_DATABASE_PORT,
                };
                let user = self
                    .user
                    .unwrap_or_else(|| DEFAULT_DATABASE_USER.to_owned());
                non_empty("database.user", &user)?;
                let dbname = self
                    .dbname
                    .unwrap_or_else(|| DEFAULT_DATABASE_NAME.to_owned());
                non_empty("database.dbname", &dbname)?;
                c.host(&host).port(port).user(&user).dbname(&dbname);
                c
            }
        };
        let password = match (self.password, self.password_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Conflict {
                    setting: "database.password",
                    other: "database.password_file",
                });
            }
            (Some(p), None) => Some(("database.password", p)),
            (None, Some(path)) => Some((
                "database.password_file",
                read_password_file("database.password_file", &path)?,
            )),
            (None, None) => None,
        };
        if let Some((setting, password)) = password {
            if connection.get_password().is_some() {
                return Err(ConfigError::Conflict {
                    setting,
                    other: "database.url",
                });
            }
            connection.password(password.expose());
        }
        connection
            .ssl_mode(SslMode::Disable)
            .connect_timeout(connect_timeout);
        if connection.get_application_name().is_none() {
            connection.application_name(format!("alp-connex backend {id}"));
        }
        Ok(DatabaseSettings {
            connection,
            pool_size,
            connect_timeout,
        })
    }
}

/// What `database.url` allows, for messages.
const URL_FORM: &str =
    "must be postgres://USER[:PASSWORD]@HOST[:PORT][/DBNAME][?PARAM=VALUE&..] naming one host";

/// The connection of a `postgres://` URL: one host, a user, no TLS asked
/// for.
fn from_url(url: &str) -> Result<tokio_postgres::Config, ConfigError> {
    let bad = |why: String| ConfigError::invalid("database.url", mask_url(url), why);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(bad(URL_FORM.to_owned()));
    }
    let c = tokio_postgres::Config::from_str(url).map_err(|e| bad(format!("{URL_FORM}: {e}")))?;
    if c.get_hosts().len() != 1 {
        return Err(bad(URL_FORM.to_owned()));
    }
    if c.get_ports().len() > 1 {
        return Err(bad(URL_FORM.to_owned()));
    }
    if c.get_ports().first() == Some(&0) {
        return Err(bad(String::from("the port must be in 1..=65535")));
    }
    if c.get_user().is_none_or(str::is_empty) {
        return Err(bad(String::from("names no user (postgres://USER@HOST/..)")));
    }
    if c.get_ssl_mode() == SslMode::Require {
        return Err(bad(String::from(
            "sslmode=require: TLS to PostgreSQL is not supported yet; keep the database on a trusted network (sslmode=disable)",
        )));
    }
    Ok(c)
}

/// What `oidc.issuer` allows, for messages.
const ISSUER_FORM: &str =
    "must be an https:// URL (http:// only for a loopback host) without query or fragment";

/// Checks the issuer URL: https, or http to a loopback host (a local
/// provider), with a host, no credentials, no query, no fragment.
fn check_issuer(issuer: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::invalid("oidc.issuer", format!("{issuer:?}"), ISSUER_FORM);
    let url = url::Url::parse(issuer).map_err(|_| bad())?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.to_canonical().is_loopback(),
        None => return Err(bad()),
    };
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(bad());
    }
    Ok(())
}

impl RawOidc {
    /// The issuer and audience required, the names checked.
    fn resolve(self) -> Result<OidcSettings, ConfigError> {
        let issuer = self.issuer.ok_or(ConfigError::Missing {
            setting: "oidc.issuer",
            hint: "--issuer (section oidc), ALP_CONNEX_OIDC__ISSUER or oidc.issuer in the --config file; or --insecure-no-auth with a loopback http.bind",
        })?;
        let audience = self.audience.ok_or(ConfigError::Missing {
            setting: "oidc.audience",
            hint: "--audience (section oidc), ALP_CONNEX_OIDC__AUDIENCE or oidc.audience in the --config file",
        })?;
        Ok(OidcSettings {
            issuer,
            audience,
            roles_claim: self.roles_claim,
            reader_role: self.reader_role,
            engineer_role: self.engineer_role,
            admin_role: self.admin_role,
            ui_client_id: self.ui_client_id,
            ui_scope: self.ui_scope,
            ui_resource: self.ui_resource,
        })
    }
}

impl OidcSettings {
    /// Checks the section; the error names the first setting that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_issuer(&self.issuer)?;
        non_empty("oidc.audience", &self.audience)?;
        non_empty("oidc.roles_claim", &self.roles_claim)?;
        non_empty("oidc.ui_client_id", &self.ui_client_id)?;
        non_empty("oidc.ui_scope", &self.ui_scope)?;
        let roles = [
            ("oidc.reader_role", &self.reader_role),
            ("oidc.engineer_role", &self.engineer_role),
            ("oidc.admin_role", &self.admin_role),
        ];
        for (i, (setting, role)) in roles.iter().enumerate() {
            non_empty(setting, role)?;
            if let Some((other, _)) = roles.iter().take(i).find(|(_, r)| r == role) {
                return Err(ConfigError::invalid(
                    *setting,
                    format!("{role:?}"),
                    format!("must differ from {other}"),
                ));
            }
        }
        Ok(())
    }
}

impl RawSettings {
    /// Narrows the values, builds the database connection and the
    /// authentication; [`BackendSettings::validate`] checks the rest.
    pub fn resolve(self) -> Result<BackendSettings, ConfigError> {
        let id = required_id(self.id)?;
        let bind: IpAddr = self.http.bind.parse().map_err(|_| {
            ConfigError::invalid(
                "http.bind",
                format!("{:?}", self.http.bind),
                "must be an IPv4 or IPv6 address",
            )
        })?;
        let http = HttpSettings {
            bind,
            port: ranged("http.port", self.http.port, &PORT_RANGE, "")?,
            max_body: ranged("http.max_body", self.http.max_body, &MAX_BODY_RANGE, "")?,
        };
        let auth = if self.insecure_no_auth {
            if self.oidc.issuer.is_some() {
                return Err(ConfigError::Conflict {
                    setting: "insecure_no_auth",
                    other: "oidc.issuer",
                });
            }
            Auth::InsecureNoAuth
        } else {
            Auth::Oidc(Box::new(self.oidc.resolve()?))
        };
        Ok(BackendSettings {
            database: self.database.resolve(&id)?,
            id,
            log_level: self.log_level,
            http,
            redis: self.redis.resolve()?,
            auth,
        })
    }
}

impl BackendSettings {
    /// The defaults with the required settings given (`id`, the issuer
    /// and the audience).
    pub fn with_defaults(
        id: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        RawSettings {
            id: Some(id.into()),
            oidc: RawOidc {
                issuer: Some(issuer.into()),
                audience: Some(audience.into()),
                ..RawOidc::default()
            },
            ..RawSettings::default()
        }
        .resolve()
    }

    /// The `http` listening address.
    pub fn listen(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.http.bind, self.http.port)
    }
}

/// Every setting, in file order (top level, then `http`, `database`,
/// `redis`, `oidc`).
pub fn setting_docs() -> Vec<SettingDoc> {
    let r = range_doc;
    let mut docs = top_level_docs("backend");
    if let Some(id) = docs.first_mut() {
        id.doc = format!(
            "The backend's ID, in its log and the application_name of its database connections, {}; required, no default.",
            crate::config::common::id_allowed()
        );
    }
    docs.extend([
        doc(
            "insecure_no_auth",
            "Serve the API without authentication, for a local test only: true or false. Allowed only with a loopback http.bind (127.0.0.1, ::1) and without oidc.issuer; warned about at every start.",
        ),
        doc("http.bind", "Address to listen on, IPv4 or IPv6."),
        doc("http.port", format!("Port to listen on, {}.", r(&PORT_RANGE))),
        doc(
            "http.max_body",
            format!(
                "Largest request body accepted, bytes, {}; a larger one is refused with 413.",
                r(&MAX_BODY_RANGE)
            ),
        ),
        example(
            "database.url",
            "PostgreSQL URL postgres://USER[:PASSWORD]@HOST[:PORT][/DBNAME], one host, instead of host, port, user and dbname; no default. With a password in it, keep this file readable by the backend only.",
            "\"postgres://alp_connex@db:5432/alp_connex\"",
        ),
        example(
            "database.host",
            format!(
                "Database server host name, IP address or unix socket directory; default {DEFAULT_DATABASE_HOST}. Excludes url."
            ),
            format!("{DEFAULT_DATABASE_HOST:?}"),
        ),
        example(
            "database.port",
            format!(
                "Database server port, {}; default {DEFAULT_DATABASE_PORT}. Excludes url.",
                r(&PORT_RANGE)
            ),
            DEFAULT_DATABASE_PORT.to_string(),
        ),
        example(
            "database.user",
            format!("Database user; default {DEFAULT_DATABASE_USER}. Excludes url."),
            format!("{DEFAULT_DATABASE_USER:?}"),
        ),
        example(
            "database.password",
            "Database password; no default. Better kept out of this file: give it in the environment (ALP_CONNEX_DATABASE__PASSWORD) or in password_file. Excludes a password in url.",
            "\"secret\"",
        ),
        example(
            "database.password_file",
            "File holding the database password (one trailing newline is removed); excludes password and a password in url.",
            "\"/run/secrets/postgres\"",
        ),
        example(
            "database.dbname",
            format!("Database name; default {DEFAULT_DATABASE_NAME}. Excludes url."),
            format!("{DEFAULT_DATABASE_NAME:?}"),
        ),
        doc(
            "database.pool_size",
            format!("Connections in the pool, {}.", r(&POOL_SIZE_RANGE)),
        ),
        doc(
            "database.connect_timeout_s",
            format!(
                "Time to open one connection to PostgreSQL, seconds, {}.",
                r(&CONNECT_TIMEOUT_RANGE_S)
            ),
        ),
    ]);
    docs.extend(redis_docs());
    docs.extend([
        example(
            "oidc.issuer",
            "OpenID Connect issuer URL, exactly as in the tokens' iss: https:// (http:// only for a loopback host); required unless insecure_no_auth. Entra ID: https://login.microsoftonline.com/TENANT/v2.0.",
            "\"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0\"",
        ),
        example(
            "oidc.audience",
            "The audience the tokens must name in aud (the API's application ID URI or client ID); required with issuer.",
            "\"api://alp-connex\"",
        ),
        doc("oidc.roles_claim", "The claim holding the user's app roles, not empty."),
        doc("oidc.reader_role", "App role that may read, not empty."),
        doc(
            "oidc.engineer_role",
            "App role that may read and configure, not empty, different from the other roles.",
        ),
        doc(
            "oidc.admin_role",
            "App role that may do everything, restore and audit included, not empty, different from the other roles.",
        ),
        doc(
            "oidc.ui_client_id",
            "The web UI's client id at the issuer (a public client with the authorization code flow and PKCE), not empty.",
        ),
        doc(
            "oidc.ui_scope",
            "The scopes the web UI asks for, space-separated, not empty; with Entra ID add the API's scope, e.g. \"openid profile api://alp-connex/access\".",
        ),
        example(
            "oidc.ui_resource",
            "The resource indicator (RFC 8707) the web UI names when logging in, for issuers that need one to issue a JWT for this API; none by default.",
            "\"api://alp-connex\"",
        ),
    ]);
    docs
}

/// The backend has no managed configuration of its own: it writes the
/// connectors'.
pub const MANAGED_KEYS: [(&str, &str); 0] = [];

impl RoleSettings for BackendSettings {
    type Raw = RawSettings;
    const ROLE: &'static str = "backend";
    const ENV_EXAMPLE_KEY: &'static str = "http.port";
    const ENV_STRING_KEYS: &'static [&'static str] = &[
        "http.bind",
        "database.url",
        "database.host",
        "database.user",
        "database.password",
        "database.password_file",
        "database.dbname",
        "oidc.issuer",
        "oidc.audience",
        "oidc.roles_claim",
        "oidc.reader_role",
        "oidc.engineer_role",
        "oidc.admin_role",
        "oidc.ui_client_id",
        "oidc.ui_scope",
        "oidc.ui_resource",
    ];
    const MANAGED_KEYS: &'static [(&'static str, &'static str)] = &MANAGED_KEYS;

    fn setting_docs() -> Vec<SettingDoc> {
        setting_docs()
    }

    fn resolve(raw: RawSettings) -> Result<Self, ConfigError> {
        raw.resolve()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_id(&self.id)?;
        ranged::<u16>("http.port", self.http.port.into(), &PORT_RANGE, "")?;
        ranged::<u64>(
            "http.max_body",
            self.http.max_body as u64,
            &MAX_BODY_RANGE,
            "",
        )?;
        match &self.auth {
            Auth::Oidc(oidc) => oidc.validate()?,
            Auth::InsecureNoAuth => {
                if !self.http.bind.to_canonical().is_loopback() {
                    return Err(ConfigError::invalid(
                        "http.bind",
                        self.http.bind,
                        "must be a loopback address (127.0.0.1, ::1) with insecure_no_auth: the API would be open to the network without authentication",
                    ));
                }
            }
        }
        self.redis.validate()
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.auth == Auth::InsecureNoAuth {
            out.push(format!(
                "insecure_no_auth: the API on {} is served without authentication; for a local test only",
                self.listen()
            ));
        }
        if !self.database.is_local() {
            out.push(format!(
                "database: the connection to {} is not encrypted (no TLS to PostgreSQL yet); keep the database on a trusted network",
                self.database.target()
            ));
        }
        out
    }

    fn log_level(&self) -> LogLevel {
        self.log_level
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
