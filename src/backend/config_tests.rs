// `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use std::net::IpAddr;

use clap::Parser;
use figment::Jail;

use super::*;
use crate::config::{Layers, generate_for};

/// The command line of docs/backend.md, verbatim.
const DOCUMENTED_LINE: &str = "backend --id backend http --bind 0.0.0.0 --port 8080 database --url postgres://alp_connex@db:5432/alp_connex redis --host valkey:6379 oidc --issuer https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0 --audience api://alp-connex";

const ISSUER: &str = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0";

fn args(argv: &[&str]) -> BackendArgs {
    let mut full = vec!["backend"];
    full.extend_from_slice(argv);
    BackendArgs::try_parse_from(full).expect("command line parses")
}

fn jail(f: impl FnOnce(&mut Jail) -> Result<(), figment::Error>) {
    Jail::expect_with(f);
}

fn load_err(a: &BackendArgs) -> ConfigError {
    a.load().expect_err("configuration is refused")
}

/// The given options with the required OIDC settings before them.
fn with_oidc(argv: &[&str]) -> BackendArgs {
    let mut full = vec!["--id", "b"];
    full.extend_from_slice(argv);
    args(&full)
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

/// Sets the required OIDC settings in the environment.
fn oidc_env(jail: &mut Jail) {
    jail.set_env("ALP_CONNEX_OIDC__ISSUER", ISSUER);
    jail.set_env("ALP_CONNEX_OIDC__AUDIENCE", "api://alp-connex");
}

#[test]
fn the_documented_line_parses_every_section_in_its_place() {
    let a = BackendArgs::try_parse_from(DOCUMENTED_LINE.split_whitespace()).unwrap();
    assert_eq!(a.id.as_deref(), Some("backend"));
    assert!(!a.insecure_no_auth && !a.check_config && !a.is_config_gen());
    let h = a.http().unwrap();
    assert_eq!(
        (h.bind.as_deref(), h.port, h.max_body),
        (Some("0.0.0.0"), Some(8080), None)
    );
    let d = a.database().unwrap();
    assert_eq!(
        d.url.as_deref(),
        Some("postgres://alp_connex@db:5432/alp_connex")
    );
    assert_eq!(a.redis().unwrap().host.as_deref(), Some("valkey:6379"));
    let o = a.oidc().unwrap();
    assert_eq!(o.issuer.as_deref(), Some(ISSUER));
    assert_eq!(o.audience.as_deref(), Some("api://alp-connex"));
}

#[test]
fn the_documented_line_loads_to_the_expected_settings() {
    jail(|_| {
        let s = BackendArgs::try_parse_from(DOCUMENTED_LINE.split_whitespace())
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(s.id, "backend");
        assert_eq!(s.listen(), "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.database.target(), "db:5432");
        assert_eq!(
            (s.database.user(), s.database.dbname()),
            ("alp_connex", "alp_connex")
        );
        assert_eq!(s.database.connection.get_password(), None);
        assert_eq!(
            s.database.connection.get_application_name(),
            Some("alp-connex backend backend")
        );
        assert_eq!((s.redis.host.as_str(), s.redis.port), ("valkey", 6379));
        let Auth::Oidc(o) = &s.auth else {
            panic!("OIDC expected: {:?}", s.auth)
        };
        assert_eq!(o.issuer, ISSUER);
        assert_eq!(o.audience, "api://alp-connex");
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(
            s.warnings(),
            [
                "database: the connection to db:5432 is not encrypted (no TLS to PostgreSQL yet); keep the database on a trusted network"
            ]
        );
        Ok(())
    });
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = BackendSettings::with_defaults("b", ISSUER, "api://x").unwrap();
    assert_eq!(s.log_level, LogLevel::Info);
    assert_eq!(
        s.http,
        HttpSettings {
            bind: ip("0.0.0.0"),
            port: 8080,
            max_body: 1_048_576
        }
    );
    assert_eq!(s.database.target(), "127.0.0.1:5432");
    assert_eq!(
        (s.database.user(), s.database.dbname()),
        ("alp_connex", "alp_connex")
    );
    assert_eq!(
        (s.database.pool_size, s.database.connect_timeout),
        (8, Duration::from_secs(5))
    );
    assert_eq!(s.database.connection.get_ssl_mode(), SslMode::Disable);
    assert_eq!(
        s.auth,
        Auth::Oidc(Box::new(OidcSettings {
            issuer: ISSUER.into(),
            audience: "api://x".into(),
            roles_claim: "roles".into(),
            reader_role: "ALP.Reader".into(),
            engineer_role: "ALP.Engineer".into(),
            admin_role: "ALP.Admin".into(),
            ui_client_id: "alp-connex-ui".into(),
            ui_scope: "openid profile".into(),
            ui_resource: None,
        }))
    );
    assert_eq!(s.validate(), Ok(()));
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
}

#[test]
fn sections_come_in_order_each_at_most_once() {
    let a = args(&["redis", "--port", "7000", "oidc", "--audience", "x"]);
    assert_eq!(a.redis().unwrap().port, Some(7000));
    assert_eq!(a.oidc().unwrap().audience.as_deref(), Some("x"));
    assert!(a.http().is_none() && a.database().is_none());
    let a = args(&["http", "--port", "1", "oidc", "--issuer", "i"]);
    assert_eq!(a.http().unwrap().port, Some(1));
    assert!(a.database().is_none() && a.redis().is_none());
    let a = args(&["database", "--pool-size", "3", "redis"]);
    assert_eq!(a.database().unwrap().pool_size, Some(3));
    assert!(a.redis().is_some() && a.oidc().is_none());
    assert!(args(&["config-gen"]).is_config_gen());
    for argv in [
        &["backend", "redis", "http"][..],
        &["backend", "oidc", "database"],
        &["backend", "http", "http"],
        &["backend", "database", "http"],
        &["backend", "redis", "redis"],
        &["backend", "client"],
        &["backend", "database", "--password", "x"],
    ] {
        assert!(BackendArgs::try_parse_from(argv).is_err(), "{argv:?}");
    }
}

#[test]
fn each_layer_overrides_the_one_below() {
    jail(|jail| {
        jail.create_file(
            "b.toml",
            &format!(
                "id = \"file\"\n[http]\nport = 1001\nmax_body = 2048\n[database]\nhost = \"file-db\"\npool_size = 2\n[oidc]\nissuer = \"{ISSUER}\"\naudience = \"file\"\nreader_role = \"R\"\n"
            ),
        )?;
        jail.set_env("ALP_CONNEX_HTTP__PORT", "1002");
        jail.set_env("ALP_CONNEX_DATABASE__USER", "env-user");
        jail.set_env("ALP_CONNEX_OIDC__AUDIENCE", "env");
        let s = args(&[
            "--config",
            "b.toml",
            "http",
            "--max-body",
            "4096",
            "database",
            "--dbname",
            "cli-db",
        ])
        .load()
        .unwrap();
        assert_eq!(s.id, "file");
        assert_eq!((s.http.port, s.http.max_body), (1002, 4096));
        assert_eq!(s.database.target(), "file-db:5432");
        assert_eq!(
            (s.database.user(), s.database.dbname(), s.database.pool_size),
            ("env-user", "cli-db", 2)
        );
        let Auth::Oidc(o) = s.auth else {
            panic!("OIDC expected")
        };
        assert_eq!((o.audience.as_str(), o.reader_role.as_str()), ("env", "R"));
        Ok(())
    });
}

#[test]
fn the_database_password_comes_from_a_file_the_environment_or_a_url_outside_the_command_line() {
    jail(|jail| {
        oidc_env(jail);
        jail.create_file("pw", "from-file\n")?;
        let s = with_oidc(&["database", "--password-file", "pw"])
            .load()
            .unwrap();
        assert_eq!(
            s.database.connection.get_password(),
            Some(&b"from-file"[..])
        );
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("from-file") && shown.contains("***"),
            "{shown}"
        );

        jail.set_env("ALP_CONNEX_DATABASE__PASSWORD", "from-env");
        let s = with_oidc(&[]).load().unwrap();
        assert_eq!(s.database.connection.get_password(), Some(&b"from-env"[..]));
        assert_eq!(
            load_err(&with_oidc(&["database", "--password-file", "pw"])),
            ConfigError::Conflict {
                setting: "database.password",
                other: "database.password_file"
            }
        );
        jail.clear_env();
        oidc_env(jail);

        jail.set_env(
            "ALP_CONNEX_DATABASE__URL",
            "postgres://u:in-url@db.example/alp",
        );
        let s = with_oidc(&[]).load().unwrap();
        assert_eq!(s.database.connection.get_password(), Some(&b"in-url"[..]));
        assert!(!format!("{s:?}").contains("in-url"));
        assert_eq!(
            load_err(&with_oidc(&["database", "--password-file", "pw"])),
            ConfigError::Conflict {
                setting: "database.password_file",
                other: "database.url"
            }
        );
        // A URL without a password takes it from the file.
        jail.set_env("ALP_CONNEX_DATABASE__URL", "postgres://u@db.example/alp");
        let s = with_oidc(&["database", "--password-file", "pw"])
            .load()
            .unwrap();
        assert_eq!(
            s.database.connection.get_password(),
            Some(&b"from-file"[..])
        );
        Ok(())
    });
}

#[test]
fn a_url_with_a_password_on_the_command_line_is_refused_masked() {
    jail(|jail| {
        oidc_env(jail);
        let e = load_err(&with_oidc(&[
            "database",
            "--url",
            "postgres://u:hunter2@db/alp",
        ]));
        assert_eq!(e.setting(), "database.url");
        let line = e.to_string();
        assert!(
            line.starts_with("database.url = postgres://u:***@db/alp: holds a password"),
            "{line}"
        );
        assert!(!line.contains("hunter2"), "{line}");
        let e = load_err(&with_oidc(&[
            "database",
            "--url",
            "postgres://u@db/alp?password=hunter2",
        ]));
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(e.setting(), "database.url");
        Ok(())
    });
}

#[test]
fn the_url_and_the_parts_exclude_each_other() {
    jail(|jail| {
        oidc_env(jail);
        jail.set_env("ALP_CONNEX_DATABASE__URL", "postgres://u@db/alp");
        for (flag, setting) in [
            ("--host", "database.host"),
            ("--port", "database.port"),
            ("--user", "database.user"),
            ("--dbname", "database.dbname"),
        ] {
            let value = if flag == "--port" { "5433" } else { "x" };
            assert_eq!(
                load_err(&with_oidc(&["database", flag, value])),
                ConfigError::Conflict {
                    setting: "database.url",
                    other: setting
                },
                "{flag}"
            );
        }
        Ok(())
    });
}

#[test]
fn bad_database_values_are_refused_naming_the_setting_and_the_range() {
    jail(|jail| {
        oidc_env(jail);
        let cases: [(&[&str], &str); 4] = [
            (
                &["database", "--port", "70000"],
                "database.port = 70000: must be in 1..=65535",
            ),
            (
                &["database", "--pool-size", "0"],
                "database.pool_size = 0: must be in 1..=256",
            ),
            (
                &["database", "--url", "mysql://u@db/x"],
                "database.url = mysql://u@db/x: must be postgres://USER[:PASSWORD]@HOST[:PORT][/DBNAME][?PARAM=VALUE&..] naming one host",
            ),
            (
                &["database", "--url", "postgres://db/x"],
                "database.url = postgres://db/x: names no user (postgres://USER@HOST/..)",
            ),
        ];
        for (argv, line) in cases {
            assert_eq!(load_err(&with_oidc(argv)).to_string(), line, "{argv:?}");
        }
        let e = load_err(&with_oidc(&["database", "--url", "postgres://u@a,b/x"]));
        assert_eq!(e.setting(), "database.url");
        let e = load_err(&with_oidc(&[
            "database",
            "--url",
            "postgres://u@db/x?sslmode=require",
        ]));
        assert!(
            e.to_string()
                .contains("sslmode=require: TLS to PostgreSQL is not supported yet"),
            "{e}"
        );
        jail.set_env("ALP_CONNEX_DATABASE__CONNECT_TIMEOUT_S", "0");
        assert_eq!(
            load_err(&with_oidc(&[])).to_string(),
            "database.connect_timeout_s = 0: must be in 1..=60 (seconds)"
        );
        Ok(())
    });
}

#[test]
fn bad_http_values_are_refused_naming_the_setting_and_the_range() {
    jail(|jail| {
        oidc_env(jail);
        let cases: [(&[&str], &str); 4] = [
            (
                &["http", "--port", "0"],
                "http.port = 0: must be in 1..=65535",
            ),
            (
                &["http", "--bind", "localhost"],
                "http.bind = \"localhost\": must be an IPv4 or IPv6 address",
            ),
            (
                &["http", "--max-body", "1023"],
                "http.max_body = 1023: must be in 1024..=67108864",
            ),
            (
                &["http", "--max-body", "67108865"],
                "http.max_body = 67108865: must be in 1024..=67108864",
            ),
        ];
        for (argv, line) in cases {
            assert_eq!(load_err(&with_oidc(argv)).to_string(), line, "{argv:?}");
        }
        Ok(())
    });
}

#[test]
fn the_issuer_and_audience_are_required_and_checked() {
    jail(|jail| {
        assert_eq!(
            load_err(&with_oidc(&[])).setting(),
            "oidc.issuer",
            "required without insecure_no_auth"
        );
        assert_eq!(
            load_err(&with_oidc(&["oidc", "--issuer", ISSUER])).setting(),
            "oidc.audience"
        );
        jail.set_env("ALP_CONNEX_OIDC__AUDIENCE", "api://x");
        for bad in [
            "http://login.example.com/t/v2.0",
            "login.microsoftonline.com/t/v2.0",
            "https://login.example.com/t?x=1",
            "https://login.example.com/t#f",
            "https://user:pw@login.example.com/t",
        ] {
            let e = load_err(&with_oidc(&["oidc", "--issuer", bad]));
            assert_eq!(
                e.to_string(),
                format!(
                    "oidc.issuer = {bad:?}: must be an https:// URL (http:// only for a loopback host) without query or fragment"
                )
            );
        }
        for good in [
            "http://127.0.0.1:8081/",
            "http://localhost:9000/realm",
            "http://[::1]:9000",
        ] {
            assert!(
                with_oidc(&["oidc", "--issuer", good]).load().is_ok(),
                "{good}"
            );
        }
        jail.set_env("ALP_CONNEX_OIDC__ISSUER", ISSUER);
        assert_eq!(
            load_err(&with_oidc(&["oidc", "--admin-role", "ALP.Reader"])).to_string(),
            "oidc.admin_role = \"ALP.Reader\": must differ from oidc.reader_role"
        );
        assert_eq!(
            load_err(&with_oidc(&["oidc", "--roles-claim", ""])).to_string(),
            "oidc.roles_claim = \"\": must not be empty"
        );
        Ok(())
    });
}

#[test]
fn insecure_no_auth_is_allowed_only_with_a_loopback_bind_and_warns() {
    jail(|_| {
        let e = load_err(&with_oidc(&["--insecure-no-auth"]));
        assert_eq!(
            e.to_string(),
            "http.bind = 0.0.0.0: must be a loopback address (127.0.0.1, ::1) with insecure_no_auth: the API would be open to the network without authentication"
        );
        let e = load_err(&with_oidc(&[
            "--insecure-no-auth",
            "http",
            "--bind",
            "10.0.0.1",
        ]));
        assert_eq!(e.setting(), "http.bind");
        for bind in ["127.0.0.1", "127.1.2.3", "::1"] {
            let s = with_oidc(&["--insecure-no-auth", "http", "--bind", bind])
                .load()
                .unwrap();
            assert_eq!(s.auth, Auth::InsecureNoAuth);
            assert_eq!(s.warnings().len(), 1, "{:?}", s.warnings());
            assert!(
                s.warnings()[0].starts_with("insecure_no_auth: the API on "),
                "{:?}",
                s.warnings()
            );
        }
        assert_eq!(
            load_err(&with_oidc(&[
                "--insecure-no-auth",
                "http",
                "--bind",
                "127.0.0.1",
                "oidc",
                "--issuer",
                ISSUER
            ])),
            ConfigError::Conflict {
                setting: "insecure_no_auth",
                other: "oidc.issuer"
            }
        );
        Ok(())
    });
}

#[test]
fn insecure_no_auth_comes_from_the_file_or_the_environment_too() {
    jail(|jail| {
        jail.set_env("ALP_CONNEX_INSECURE_NO_AUTH", "true");
        jail.set_env("ALP_CONNEX_HTTP__BIND", "127.0.0.1");
        let s = with_oidc(&[]).load().unwrap();
        assert_eq!(s.auth, Auth::InsecureNoAuth);
        Ok(())
    });
}

#[test]
fn a_url_names_its_host_port_and_keeps_its_parameters() {
    jail(|jail| {
        oidc_env(jail);
        jail.set_env(
            "ALP_CONNEX_DATABASE__URL",
            "postgresql://alp@[fd00::5]:6432/cfg?application_name=mine&connect_timeout=30",
        );
        let s = with_oidc(&[]).load().unwrap();
        assert_eq!(s.database.target(), "[fd00::5]:6432");
        assert_eq!((s.database.user(), s.database.dbname()), ("alp", "cfg"));
        assert_eq!(s.database.connection.get_application_name(), Some("mine"));
        assert_eq!(
            s.database.connection.get_connect_timeout(),
            Some(&Duration::from_secs(5)),
            "the setting decides the connect timeout"
        );
        assert!(!s.database.is_local());
        Ok(())
    });
}

#[test]
fn a_local_database_gives_no_tls_warning() {
    let mut raw = RawDatabase::default();
    for host in ["127.0.0.1", "localhost", "::1", "/var/run/postgresql"] {
        raw.host = Some(host.into());
        assert!(raw.clone().resolve("b").unwrap().is_local(), "{host}");
    }
    raw.host = Some("db".into());
    assert!(!raw.resolve("b").unwrap().is_local());
}

#[test]
fn mask_url_hides_the_password_wherever_it_stands() {
    assert_eq!(
        mask_url("postgres://u:p@h:1/d?sslmode=disable"),
        "postgres://u:***@h:1/d?sslmode=disable"
    );
    assert_eq!(
        mask_url("postgres://u@h/d?password=p&x=1"),
        "postgres://u@h/d?password=***&x=1"
    );
    assert_eq!(mask_url("postgres://u:p@h"), "postgres://u:***@h");
    assert_eq!(mask_url("postgres://h/d"), "postgres://h/d");
    assert_eq!(mask_url("host=h password=p"), "(not a URL)");
}

#[test]
fn the_backend_has_no_managed_keys() {
    assert!(BackendSettings::MANAGED_KEYS.is_empty());
    assert!(BackendSettings::MANAGED_JSON_KEYS.is_empty());
    jail(|jail| {
        oidc_env(jail);
        let layers: Layers<BackendSettings> = with_oidc(&[]).layers().unwrap();
        let e = layers
            .with_managed("{\"log_level\":\"debug\"}")
            .unwrap_err();
        assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e:?}");
        Ok(())
    });
}

#[test]
fn config_gen_read_back_equals_the_defaults() {
    jail(|jail| {
        oidc_env(jail);
        jail.create_file("gen.toml", &generate_for::<BackendSettings>())?;
        let s = args(&["--id", "b", "--config", "gen.toml"]).load().unwrap();
        assert_eq!(
            s,
            BackendSettings::with_defaults("b", ISSUER, "api://alp-connex").unwrap()
        );
        Ok(())
    });
}

#[test]
fn config_gen_documents_every_setting_and_only_settings() {
    let text = generate_for::<BackendSettings>();
    assert!(text.starts_with("# alp-connex backend configuration"));
    assert!(text.contains("ALP_CONNEX_HTTP__PORT for http.port"));
    for section in ["http", "database", "redis", "oidc"] {
        assert!(text.contains(&format!("\n[{section}]\n")), "{section}");
    }
    let defaults = figment::Figment::from(figment::providers::Serialized::defaults(
        RawSettings::default(),
    ));
    let dict = defaults.extract::<figment::value::Dict>().unwrap();
    let docs = setting_docs();
    for (k, v) in &dict {
        let keys: Vec<String> = match v.as_dict() {
            Some(section) => section.keys().map(|s| format!("{k}.{s}")).collect(),
            None => vec![k.clone()],
        };
        for key in keys {
            assert!(docs.iter().any(|d| d.key == key), "{key} has no doc");
        }
    }
    for d in &docs {
        let name = d.key.rsplit('.').next().unwrap();
        assert!(
            text.lines().any(|l| l
                .trim_start_matches("# ")
                .starts_with(&format!("{name} = "))),
            "{} not in config-gen",
            d.key
        );
    }
}
