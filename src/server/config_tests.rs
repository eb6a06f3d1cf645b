// `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use std::net::IpAddr;
use std::time::Duration;

use clap::Parser;
use figment::Jail;

use super::*;
use crate::config::common::RawRedis;
use crate::config::{Layers, generate_for};
use crate::iec104::params::Params;

/// The command line of the `iec104-server` documentation, verbatim.
const DOCUMENTED_LINE: &str = "iec104-server --id scada-gw --log-level info server --bind 0.0.0.0 --port 2404 --t1 15 -k 12 -w 8 --max-connections 5 --allow 10.0.0.0/8 redis --host valkey:6379 --in-stream process:updates";

fn documented() -> Iec104ServerArgs {
    Iec104ServerArgs::try_parse_from(DOCUMENTED_LINE.split_whitespace()).expect("documented line")
}

fn args(argv: &[&str]) -> Iec104ServerArgs {
    let mut full = vec!["iec104-server"];
    full.extend_from_slice(argv);
    Iec104ServerArgs::try_parse_from(full).expect("command line parses")
}

fn jail(f: impl FnOnce(&mut Jail) -> Result<(), figment::Error>) {
    Jail::expect_with(f);
}

fn load_err(a: &Iec104ServerArgs) -> ConfigError {
    a.load().expect_err("configuration is refused")
}

fn net(text: &str) -> IpNetwork {
    text.parse().expect("network")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("address")
}

#[test]
fn the_documented_server_line_parses_to_the_expected_struct() {
    let a = documented();
    assert_eq!(a.id.as_deref(), Some("scada-gw"));
    assert_eq!(a.log_level, Some(LogLevel::Info));
    assert!(!a.check_config && !a.is_config_gen());
    let s = a.server().unwrap();
    assert_eq!(s.bind.as_deref(), Some("0.0.0.0"));
    assert_eq!(
        (
            s.port,
            s.protocol.t0,
            s.protocol.t1,
            s.protocol.k,
            s.protocol.w,
            s.max_connections
        ),
        (Some(2404), None, Some(15), Some(12), Some(8), Some(5))
    );
    assert_eq!(s.allow, ["10.0.0.0/8"]);
    let r = a.redis().unwrap();
    assert_eq!(r.host.as_deref(), Some("valkey:6379"));
    assert_eq!(r.in_stream.as_deref(), Some("process:updates"));
}

#[test]
fn the_documented_server_line_loads_to_the_expected_settings() {
    jail(|_| {
        let s = documented().load().unwrap();
        let mut want = Iec104ServerSettings::with_defaults("scada-gw").unwrap();
        want.server.allow = vec![net("10.0.0.0/8")];
        want.redis.host = "valkey".into();
        assert_eq!(s, want);
        assert_eq!(s.server.bind, ip("0.0.0.0"));
        assert_eq!(s.server.port, 2404);
        assert_eq!(s.server.max_connections, 5);
        assert_eq!(s.redis.port, 6379);
        Ok(())
    });
}

#[test]
fn server_defaults_are_the_documented_ones() {
    let s = Iec104ServerSettings::with_defaults("a").unwrap();
    assert_eq!(s.log_level, LogLevel::Info);
    assert_eq!((s.server.bind, s.server.port), (ip("0.0.0.0"), 2404));
    assert_eq!(s.server.params, Params::default());
    assert_eq!(s.server.max_connections, 5);
    assert!(s.server.allow.is_empty() && s.server.common_addresses.is_empty());
    assert_eq!(s.server.queue, 10_000);
    assert_eq!(
        s.redis,
        RawRedis::default().resolve().unwrap(),
        "the redis section is the shared one"
    );
    assert_eq!(s.validate(), Ok(()));
    assert!(s.warnings().is_empty());
}

#[test]
fn sections_come_server_first_each_at_most_once() {
    assert!(args(&["--id", "x"]).server().is_none());
    assert_eq!(
        args(&["redis", "--port", "7000"]).redis().unwrap().port,
        Some(7000)
    );
    assert!(args(&["config-gen"]).is_config_gen());
    let a = args(&[
        "server",
        "--allow",
        "10.0.0.0/8,192.0.2.7",
        "--allow",
        "fd00::/8",
        "--common-address",
        "1,2",
        "--queue",
        "50",
    ]);
    let s = a.server().unwrap();
    assert_eq!(s.allow, ["10.0.0.0/8", "192.0.2.7", "fd00::/8"]);
    assert_eq!(
        (s.common_addresses.as_slice(), s.queue),
        (&[1, 2][..], Some(50))
    );
    for argv in [
        &["iec104-server", "redis", "server"][..],
        &["iec104-server", "server", "server"],
        &["iec104-server", "server", "redis", "redis"],
        &["iec104-server", "client"],
    ] {
        assert!(Iec104ServerArgs::try_parse_from(argv).is_err(), "{argv:?}");
    }
}

#[test]
fn each_server_layer_overrides_the_one_below() {
    jail(|jail| {
        jail.create_file(
            "s.toml",
            "id = \"file\"\nlog_level = \"error\"\n[server]\nport = 1\nt3 = 30\nqueue = 7\nmax_connections = 9\nallow = [\"192.0.2.0/24\"]\n",
        )?;
        jail.set_env("ALP_CONNEX_CONFIG", "s.toml");
        jail.set_env("ALP_CONNEX_SERVER__PORT", "2");
        jail.set_env("ALP_CONNEX_SERVER__BIND", "::");
        jail.set_env("ALP_CONNEX_SERVER__MAX_CONNECTIONS", "3");
        jail.set_env("ALP_CONNEX_SERVER__COMMON_ADDRESSES", "[1, 65534]");
        let s = args(&["--id", "cli", "server", "--max-connections", "4"])
            .load()
            .unwrap();
        assert_eq!(s.id, "cli");
        assert_eq!(s.server.max_connections, 4, "command line over env");
        assert_eq!(s.server.port, 2, "env over file");
        assert_eq!(s.server.bind, ip("::"));
        assert_eq!(s.server.common_addresses, [1, 65534]);
        assert_eq!(s.server.queue, 7, "file over default");
        assert_eq!(s.server.allow, [net("192.0.2.0/24")]);
        assert_eq!(s.log_level, LogLevel::Error);
        assert_eq!(s.server.params.t3, Duration::from_secs(30));
        assert_eq!(s.server.params.t1, Duration::from_secs(15), "default");
        Ok(())
    });
}

#[test]
fn interrogation_groups_come_from_the_command_line_file_and_environment() {
    jail(|jail| {
        let s = args(&["--id", "a", "server", "--group", "1:100:1000-1999,2:*:5"])
            .load()
            .unwrap();
        let texts: Vec<String> = s
            .server
            .groups
            .ranges()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(texts, ["1:100:1000-1999", "2:*:5"]);
        assert!(s.server.groups.contains(1, 100, 1500) && !s.server.groups.contains(1, 101, 1500));
        jail.create_file("s.toml", "id = \"f\"\n[server]\ngroups = [\"16:7:0-9\"]\n")?;
        jail.set_env("ALP_CONNEX_CONFIG", "s.toml");
        let s = args(&[]).load().unwrap();
        assert!(s.server.groups.contains(16, 7, 9));
        jail.set_env("ALP_CONNEX_SERVER__GROUPS", r#"["3:*:1-2"]"#);
        let s = args(&[]).load().unwrap();
        assert!(s.server.groups.contains(3, 1, 2) && !s.server.groups.contains(16, 7, 9));
        Ok(())
    });
}

#[test]
fn a_bad_group_is_refused_naming_server_groups_the_value_and_the_form() {
    for (bad, allowed) in [
        ("17:1:1", "the group must be in 1..=16"),
        (
            "1:65535:1",
            "the common address must be in 0..=65534, or * for every one",
        ),
        (
            "1:1:9-8",
            "the IOAs must be in 0..=16777215, the last not below the first",
        ),
        (
            "1-100",
            "must be GROUP:CASDU:FIRST[-LAST], e.g. 1:100:1000-1999 or 2:*:5000",
        ),
    ] {
        jail(|_| {
            let err = load_err(&args(&["--id", "a", "server", "--group", bad]));
            assert_eq!(
                err.to_string(),
                format!("server.groups = {bad:?}: {allowed}")
            );
            Ok(())
        });
    }
}

#[test]
fn a_server_port_of_70000_is_refused_naming_server_port() {
    jail(|_| {
        let err = load_err(&args(&["--id", "a", "server", "--port", "70000"]));
        assert_eq!(err.to_string(), "server.port = 70000: must be in 1..=65535");
        Ok(())
    });
}

#[test]
fn a_bad_allow_entry_is_refused_naming_server_allow_and_the_value() {
    for bad in [
        "10.0.0.0/33",
        "fd00::/129",
        "10.0.0/8",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "example.org",
        "",
    ] {
        jail(|_| {
            let err = load_err(&args(&["--id", "a", "server", "--allow", bad]));
            assert_eq!(err.setting(), "server.allow", "{bad}");
            assert_eq!(
                err.to_string(),
                format!(
                    "server.allow = {bad:?}: must be an IPv4 or IPv6 address or network (10.0.0.0/8, fd00::/8)"
                )
            );
            Ok(())
        });
    }
}

#[test]
fn max_connections_0_and_other_server_ranges_are_refused_naming_the_setting() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--max-connections", "0"],
            "server.max_connections = 0: must be in 1..=1000",
        ),
        (
            &["--max-connections", "1001"],
            "server.max_connections = 1001: must be in 1..=1000",
        ),
        (
            &["--queue", "0"],
            "server.queue = 0: must be in 1..=1000000",
        ),
        (
            &["--common-address", "65535"],
            "server.common_addresses[0] = 65535: must be in 1..=65534",
        ),
        (&["--port", "0"], "server.port = 0: must be in 1..=65535"),
        (&["-k", "0"], "server.k = 0: must be in 1..=32767"),
        (
            &["--t1", "300"],
            "server.t1 = 300: must be in 1..=255 (seconds)",
        ),
        (
            &["--t1", "5", "--t2", "5"],
            "server.t2 = 5: must be less than server.t1 = 5 (seconds)",
        ),
        (
            &["-k", "4", "-w", "5"],
            "server.w = 5: must not exceed server.k = 4",
        ),
        (
            &["--bind", "localhost"],
            "server.bind = \"localhost\": must be an IPv4 or IPv6 address (0.0.0.0 or :: for every address)",
        ),
    ];
    for (section, message) in cases {
        jail(|_| {
            let mut argv = vec!["--id", "a", "server"];
            argv.extend_from_slice(section);
            assert_eq!(load_err(&args(&argv)).to_string(), *message);
            Ok(())
        });
    }
}

#[test]
fn shared_settings_are_checked_as_for_the_inbound_role() {
    jail(|jail| {
        let err = load_err(&args(&[]));
        assert_eq!(err.setting(), "id");
        let err = load_err(&args(&["--id", "a b"]));
        assert_eq!(err.setting(), "id");
        let err = load_err(&args(&["--id", "a", "redis", "--in-stream", ""]));
        assert_eq!(err.to_string(), "redis.in_stream = \"\": must not be empty");
        jail.set_env("ALP_CONNEX_SERVER__HOTS", "x");
        let err = load_err(&args(&["--id", "a"]));
        assert_eq!(err.setting(), "ALP_CONNEX_SERVER__HOTS");
        jail.clear_env();
        jail.set_env("ALP_CONNEX_CLIENT__HOST", "x");
        let err = load_err(&args(&["--id", "a"]));
        assert_eq!(
            err.setting(),
            "ALP_CONNEX_CLIENT__HOST",
            "no client section in the server role"
        );
        jail.clear_env();
        jail.create_file("a.toml", "id = \"a\"\n[server]\nprot = 1\n")?;
        let err = load_err(&args(&["--config", "a.toml"]));
        assert_eq!(err.setting(), "server.prot");
        assert!(
            err.to_string()
                .starts_with("server.prot: unknown setting; allowed here: bind, port,"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn server_param_warnings_are_prefixed_with_the_section() {
    let mut s = Iec104ServerSettings::with_defaults("a").unwrap();
    s.server.params.w = 10;
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(s.warnings().len(), 1);
    assert!(s.warnings()[0].starts_with("server: w = 10"));
}

#[test]
fn server_config_gen_read_back_equals_the_defaults() {
    jail(|jail| {
        jail.create_file("gen.toml", &generate_for::<Iec104ServerSettings>())?;
        let s = args(&["--id", "scada-gw", "--config", "gen.toml"])
            .load()
            .unwrap();
        assert_eq!(s, Iec104ServerSettings::with_defaults("scada-gw").unwrap());
        Ok(())
    });
}

#[test]
fn server_config_gen_documents_every_setting_and_only_settings() {
    let text = generate_for::<Iec104ServerSettings>();
    assert!(text.starts_with("# alp-connex iec104-server configuration"));
    assert!(text.contains("ALP_CONNEX_SERVER__PORT for server.port"));
    assert!(text.contains("\n[server]\n") && text.contains("\n[redis]\n"));
    assert!(!text.contains("[client]"));
    let defaults = figment::Figment::from(figment::providers::Serialized::defaults(
        RawServerSettings::default(),
    ));
    let dict = defaults.extract::<figment::value::Dict>().unwrap();
    let docs = server_setting_docs();
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

#[test]
fn networks_contain_their_addresses() {
    let n = net("10.0.0.0/8");
    assert!(n.contains(ip("10.255.1.2")) && !n.contains(ip("11.0.0.1")));
    assert!(n.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped peer");
    assert!(!n.contains(ip("fd00::1")));
    let one = net("192.0.2.7");
    assert_eq!((one.prefix(), one.to_string()), (32, "192.0.2.7/32".into()));
    assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
    assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
    let v6 = net("fd00::/8");
    assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
    assert!(net("::/0").contains(ip("2001:db8::1")));
    assert!(!net("::/0").contains(ip("10.0.0.1")));
    let mut s = Iec104ServerSettings::with_defaults("a").unwrap();
    assert!(
        s.server.allows(ip("198.51.100.1")),
        "empty allows every address"
    );
    s.server.allow = vec![net("10.0.0.0/8"), net("2001:db8::/32")];
    assert!(s.server.allows(ip("10.0.0.1")) && s.server.allows(ip("2001:db8::5")));
    assert!(!s.server.allows(ip("198.51.100.1")));
}

#[test]
fn a_network_written_as_ipv4_mapped_ipv6_holds_ipv4_peers() {
    let mapped = net("::ffff:10.0.0.0/104");
    assert!(mapped.contains(ip("10.1.2.3")) && mapped.contains(ip("::ffff:10.1.2.3")));
    assert!(!mapped.contains(ip("11.0.0.1")) && !mapped.contains(ip("::ffff:11.0.0.1")));
    assert!(net("::ffff:192.0.2.7").contains(ip("192.0.2.7")));
    assert!(net("::ffff:0.0.0.0/96").contains(ip("203.0.113.9")));
    assert!(!net("::ffff:10.0.0.0/104").contains(ip("fd00::1")));
    assert!(!net("fd00::/8").contains(ip("10.1.2.3")));
    assert!(!net("10.0.0.0/8").contains(ip("fd00::1")));
}

mod managed {
    use super::*;

    fn base() -> Layers<Iec104ServerSettings> {
        let mut out = None;
        jail(|_| {
            out = Some(documented().layers().unwrap());
            Ok(())
        });
        out.expect("layers read")
    }

    #[test]
    fn managed_server_values_override_the_start_up_layers() {
        let l = base();
        let s = l
            .with_managed(
                r#"{"bind": "::", "port": 2405, "log_level": "warning", "t0": 20, "t1": 20,
                    "t2": 12, "t3": 40, "k": 20, "w": 10, "max_connections": 7,
                    "allow": ["192.0.2.0/24", "2001:db8::1"], "common_addresses": [3, 4],
                    "groups": ["2:3:10-20"]}"#,
            )
            .unwrap();
        assert_eq!((s.server.bind, s.server.port), (ip("::"), 2405));
        assert_eq!(s.log_level, LogLevel::Warning);
        let p = s.server.params;
        assert_eq!(
            (
                p.t0.as_secs(),
                p.t1.as_secs(),
                p.t2.as_secs(),
                p.t3.as_secs()
            ),
            (20, 20, 12, 40)
        );
        assert_eq!((p.k, p.w), (20, 10));
        assert_eq!(s.server.max_connections, 7);
        assert_eq!(
            s.server.allow,
            [net("192.0.2.0/24"), net("2001:db8::1/128")]
        );
        assert_eq!(s.server.common_addresses, [3, 4]);
        assert!(s.server.groups.contains(2, 3, 15));
        // Untouched settings keep their start-up values.
        assert_eq!(s.redis.host, "valkey");
        assert_eq!(s.server.queue, 10_000);
        assert_eq!(l.with_managed("{}").unwrap(), l.settings().unwrap());
    }

    #[test]
    fn bad_managed_server_values_are_refused_naming_the_setting() {
        let l = base();
        for (json, message) in [
            (
                r#"{"port": 70000}"#,
                "server.port = 70000: must be in 1..=65535",
            ),
            (
                r#"{"max_connections": 0}"#,
                "server.max_connections = 0: must be in 1..=1000",
            ),
            (
                r#"{"allow": ["10.0.0.0/8", "10.1"]}"#,
                "server.allow = \"10.1\": must be an IPv4 or IPv6 address or network (10.0.0.0/8, fd00::/8)",
            ),
            (
                r#"{"allow": "10.0.0.0/8"}"#,
                "server.allow = \"10.0.0.0/8\": must be a list [..]",
            ),
            (
                r#"{"groups": ["0:1:1"]}"#,
                "server.groups = \"0:1:1\": the group must be in 1..=16",
            ),
            (
                r#"{"common_addresses": [65535]}"#,
                "server.common_addresses[0] = 65535: must be in 1..=65534",
            ),
        ] {
            assert_eq!(l.with_managed(json).unwrap_err().to_string(), message);
        }
        let e = l.with_managed(r#"{"t1": 5, "t2": 5}"#).unwrap_err();
        assert_eq!(e.setting(), "server.t2");
    }

    #[test]
    fn only_the_server_keys_are_managed() {
        let l = base();
        for key in ["host", "queue", "redis", "time_zone"] {
            let e = l.with_managed(&format!("{{\"{key}\": 1}}")).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!(
                    "managed configuration key \"{key}\": unknown setting; allowed here: bind, port, log_level,"
                )),
                "{e}"
            );
        }
        for bad in ["", "[1]", "null"] {
            assert!(l.with_managed(bad).is_err(), "{bad:?}");
        }
    }
}
