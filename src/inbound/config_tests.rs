// `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use clap::Parser;
use figment::Jail;

use super::*;
use crate::config::Secret;
use crate::iec104::params::Params;

/// The command line of the user documentation, verbatim.
const DOCUMENTED_LINE: &str = "iec104-inbound --id rtu-a --log-level debug client --host 10.0.0.5 --port 2404 --t1 15 -k 12 -w 8 redis --host valkey:6379 --pwd secret --stream-max-length 5000 --in-stream process:updates";

fn documented() -> Vec<&'static str> {
    DOCUMENTED_LINE.split_whitespace().collect()
}

fn args(argv: &[&str]) -> InboundArgs {
    let mut full = vec!["iec104-inbound"];
    full.extend_from_slice(argv);
    InboundArgs::try_parse_from(full).expect("command line parses")
}

/// Runs `f` in a jail (own directory and environment), as figment's tests do.
fn jail(f: impl FnOnce(&mut Jail) -> Result<(), figment::Error>) {
    Jail::expect_with(f);
}

fn load_err(a: &InboundArgs) -> ConfigError {
    load(a).expect_err("configuration is refused")
}

#[test]
fn the_documented_command_line_parses_to_the_expected_struct() {
    let a = InboundArgs::try_parse_from(documented()).unwrap();
    assert_eq!(a.id.as_deref(), Some("rtu-a"));
    assert_eq!(a.log_level, Some(LogLevel::Debug));
    let c = a.client().unwrap();
    assert_eq!(c.host.as_deref(), Some("10.0.0.5"));
    assert_eq!(
        (
            c.port,
            c.protocol.t0,
            c.protocol.t1,
            c.protocol.k,
            c.protocol.w
        ),
        (Some(2404), None, Some(15), Some(12), Some(8))
    );
    let r = a.redis().unwrap();
    assert_eq!(r.host.as_deref(), Some("valkey:6379"));
    assert_eq!(r.pwd.as_ref().map(Secret::expose), Some("secret"));
    assert_eq!(r.stream_max_length, Some(5000));
    assert_eq!(r.in_stream.as_deref(), Some("process:updates"));
}

#[test]
fn the_documented_command_line_loads_to_the_expected_settings() {
    jail(|_| {
        let s = load(&InboundArgs::try_parse_from(documented()).unwrap()).unwrap();
        let mut want = InboundSettings::with_defaults("rtu-a").unwrap();
        want.log_level = LogLevel::Debug;
        want.client.host = "10.0.0.5".into();
        want.redis.host = "valkey".into();
        want.redis.port = 6379;
        want.redis.password = Some(Secret::new("secret"));
        want.redis.stream_max_length = 5000;
        assert_eq!(s, want);
        Ok(())
    });
}

#[test]
fn sections_are_optional_and_redis_may_come_alone() {
    let a = args(&["--id", "x", "redis", "--port", "7000"]);
    assert!(a.client().is_none());
    assert_eq!(a.redis().unwrap().port, Some(7000));
    let a = args(&["--id", "x"]);
    assert!(a.client().is_none() && a.redis().is_none() && !a.is_config_gen());
    assert!(args(&["config-gen"]).is_config_gen());
}

#[test]
fn client_after_redis_or_a_repeated_section_is_a_command_line_error() {
    for argv in [
        &["iec104-inbound", "redis", "client"][..],
        &["iec104-inbound", "client", "client"],
        &["iec104-inbound", "client", "redis", "redis"],
    ] {
        assert!(InboundArgs::try_parse_from(argv).is_err(), "{argv:?}");
    }
}

#[test]
fn a_bad_log_level_on_the_command_line_is_a_clap_error() {
    let err = InboundArgs::try_parse_from(["iec104-inbound", "--log-level", "loud"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = InboundSettings::with_defaults("a").unwrap();
    assert_eq!(s.log_level, LogLevel::Info);
    assert_eq!((s.client.host.as_str(), s.client.port), ("127.0.0.1", 2404));
    assert_eq!(s.client.params, Params::default());
    assert_eq!(s.client.reconnect_interval, Duration::from_secs(2));
    assert_eq!(s.client.link_loss_grace, Duration::from_secs(5));
    assert_eq!(s.client.on_link_loss, OnLinkLoss::Nt);
    assert_eq!(s.client.time_zone, TimeZone::UTC);
    assert!(s.client.common_addresses.is_empty() && s.client.alternative_hosts.is_empty());
    assert_eq!(
        (s.client.periodic_gi, s.client.counter_interrogation),
        (None, None)
    );
    assert!(!s.client.clock_sync);
    assert_eq!((s.redis.host.as_str(), s.redis.port), ("127.0.0.1", 6379));
    assert_eq!(s.redis.password, None);
    assert_eq!(s.redis.stream_max_length, 1000);
    assert_eq!(s.redis.in_stream, "process:updates");
    assert_eq!(s.validate(), Ok(()));
}

#[test]
fn each_layer_overrides_the_one_below() {
    jail(|jail| {
        jail.create_file(
            "a.toml",
            "id = \"file\"\nlog_level = \"error\"\n[client]\nhost = \"file\"\nport = 1\nt3 = 30\n",
        )?;
        jail.set_env("ALP_CONNEX_CONFIG", "a.toml");
        jail.set_env("ALP_CONNEX_ID", "env");
        jail.set_env("ALP_CONNEX_CLIENT__HOST", "env");
        jail.set_env("ALP_CONNEX_CLIENT__PORT", "2");
        let s = load(&args(&["--id", "cli", "client", "--host", "cli"])).unwrap();
        assert_eq!(s.id, "cli");
        assert_eq!(s.client.host, "cli");
        assert_eq!(s.client.port, 2, "env over file");
        assert_eq!(s.log_level, LogLevel::Error, "file over default");
        assert_eq!(s.client.params.t3, Duration::from_secs(30));
        assert_eq!(s.client.params.t1, Duration::from_secs(15), "default");
        Ok(())
    });
}

#[test]
fn a_numeric_id_or_password_from_the_environment_stays_verbatim() {
    jail(|jail| {
        jail.set_env("ALP_CONNEX_ID", "1234");
        jail.set_env("ALP_CONNEX_REDIS__PWD", "0123.50");
        let s = load(&args(&[])).unwrap();
        assert_eq!(s.id, "1234");
        assert_eq!(
            s.redis.password.as_ref().map(Secret::expose),
            Some("0123.50")
        );
        Ok(())
    });
}

#[test]
fn lists_come_from_the_file_and_the_environment() {
    jail(|jail| {
        jail.create_file(
            "a.toml",
            "id = \"a\"\n[client]\nalternative_hosts = [\"b\", \"c:2405\", \"[::1]:2406\"]\n",
        )?;
        jail.set_env("ALP_CONNEX_CLIENT__COMMON_ADDRESSES", "[1, 7]");
        let s = load(&args(&["--config", "a.toml"])).unwrap();
        let hosts: Vec<(&str, u16)> = s
            .client
            .alternative_hosts
            .iter()
            .map(|e| (e.host.as_str(), e.port))
            .collect();
        assert_eq!(hosts, [("b", 2404), ("c", 2405), ("::1", 2406)]);
        assert_eq!(s.client.common_addresses, [1, 7]);
        Ok(())
    });
}

#[test]
fn redis_port_overrides_the_port_in_redis_host() {
    jail(|_| {
        let s = load(&args(&["--id", "a", "redis", "--host", "v:7000"])).unwrap();
        assert_eq!((s.redis.host.as_str(), s.redis.port), ("v", 7000));
        let s = load(&args(&[
            "--id", "a", "redis", "--host", "v:7000", "--port", "7001",
        ]))
        .unwrap();
        assert_eq!((s.redis.host.as_str(), s.redis.port), ("v", 7001));
        Ok(())
    });
}

#[test]
fn the_password_comes_from_a_file_without_its_trailing_newline() {
    jail(|jail| {
        jail.create_file("pwd", "s3cret\n")?;
        jail.set_env("ALP_CONNEX_REDIS__PWD_FILE", "pwd");
        let s = load(&args(&["--id", "a"])).unwrap();
        assert_eq!(
            s.redis.password.as_ref().map(Secret::expose),
            Some("s3cret")
        );
        let s = load(&args(&["--id", "a", "redis", "--pwd-file", "pwd"])).unwrap();
        assert_eq!(
            s.redis.password.as_ref().map(Secret::expose),
            Some("s3cret")
        );
        Ok(())
    });
}

#[test]
fn a_password_and_a_password_file_together_are_an_error() {
    jail(|jail| {
        jail.create_file("pwd", "x")?;
        jail.set_env("ALP_CONNEX_REDIS__PWD", "y");
        let err = load_err(&args(&["--id", "a", "redis", "--pwd-file", "pwd"]));
        assert_eq!(
            err.to_string(),
            "redis.pwd: give either redis.pwd or redis.pwd_file, not both"
        );
        Ok(())
    });
}

#[test]
fn a_missing_password_file_is_an_error_naming_it() {
    jail(|_| {
        let err = load_err(&args(&["--id", "a", "redis", "--pwd-file", "nope"]));
        assert_eq!(err.setting(), "redis.pwd_file");
        assert!(
            err.to_string()
                .starts_with("redis.pwd_file = nope: cannot read"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn the_secret_never_shows_in_debug() {
    jail(|_| {
        let s = load(&InboundArgs::try_parse_from(documented()).unwrap()).unwrap();
        let text = format!(
            "{s:?} {:?} {}",
            InboundArgs::try_parse_from(documented()),
            Secret::new("secret")
        );
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("***"));
        Ok(())
    });
}

#[test]
fn a_port_of_70000_is_refused_naming_client_port_and_the_range() {
    jail(|_| {
        let err = load_err(&args(&["--id", "a", "client", "--port", "70000"]));
        assert_eq!(err.to_string(), "client.port = 70000: must be in 1..=65535");
        Ok(())
    });
}

#[test]
fn a_port_of_0_is_refused() {
    jail(|jail| {
        jail.set_env("ALP_CONNEX_REDIS__PORT", "0");
        let err = load_err(&args(&["--id", "a"]));
        assert_eq!(err.to_string(), "redis.port = 0: must be in 1..=65535");
        Ok(())
    });
}

#[test]
fn t2_not_less_than_t1_is_refused() {
    jail(|_| {
        let err = load_err(&args(&["--id", "a", "client", "--t1", "10", "--t2", "10"]));
        assert_eq!(
            err.to_string(),
            "client.t2 = 10: must be less than client.t1 = 10 (seconds)"
        );
        Ok(())
    });
}

#[test]
fn k_0_is_refused_with_the_range_of_params() {
    jail(|_| {
        let err = load_err(&args(&["--id", "a", "client", "-k", "0"]));
        assert_eq!(err.to_string(), "client.k = 0: must be in 1..=32767");
        let err = load_err(&args(&["--id", "a", "client", "-k", "100000"]));
        assert_eq!(err.to_string(), "client.k = 100000: must be in 1..=32767");
        Ok(())
    });
}

#[test]
fn t1_out_of_range_is_refused_in_seconds() {
    jail(|_| {
        let err = load_err(&args(&["--id", "a", "client", "--t1", "300"]));
        assert_eq!(
            err.to_string(),
            "client.t1 = 300: must be in 1..=255 (seconds)"
        );
        Ok(())
    });
}

#[test]
fn an_unknown_key_in_the_file_is_refused_naming_it() {
    jail(|jail| {
        jail.create_file("a.toml", "id = \"a\"\n[client]\nhots = \"x\"\n")?;
        let err = load_err(&args(&["--config", "a.toml"]));
        assert_eq!(err.setting(), "client.hots");
        assert!(
            err.to_string()
                .starts_with("client.hots: unknown setting; allowed here: host, port,"),
            "{err}"
        );
        jail.create_file("b.toml", "idd = \"a\"\n")?;
        let err = load_err(&args(&["--config", "b.toml"]));
        assert_eq!(err.setting(), "idd");
        Ok(())
    });
}

#[test]
fn an_unknown_environment_variable_is_refused_naming_it() {
    jail(|jail| {
        jail.set_env("ALP_CONNEX_REDIS__PASSWORD", "hunter2");
        let err = load_err(&args(&["--id", "a"]));
        assert_eq!(
            err,
            ConfigError::UnknownEnv {
                name: "ALP_CONNEX_REDIS__PASSWORD".into()
            }
        );
        assert!(
            err.to_string()
                .starts_with("ALP_CONNEX_REDIS__PASSWORD: unknown")
        );
        assert!(!err.to_string().contains("hunter2"));
        jail.clear_env();
        jail.set_env("ALP_CONNEX_PYTHON", "/usr/bin/python3");
        jail.set_env("ALP_CONNEX_PG_BIN", "/usr/lib/postgresql/16/bin");
        assert!(
            load(&args(&["--id", "a"])).is_ok(),
            "test tool paths are not settings"
        );
        jail.set_env("ALP_CONNEX_MQTT_SIM_PASSWORD", "hunter2");
        assert!(
            load(&args(&["--id", "a"])).is_ok(),
            "the simulator's password is no setting of the connectors"
        );
        Ok(())
    });
}

#[test]
fn a_bad_log_level_in_the_environment_is_refused_with_the_levels() {
    jail(|jail| {
        jail.set_env("ALP_CONNEX_LOG_LEVEL", "loud");
        let err = load_err(&args(&["--id", "a"]));
        assert_eq!(
            err.to_string(),
            "log_level = \"loud\": must be one of trace, debug, info, warning, error, critical, off"
        );
        Ok(())
    });
}

#[test]
fn a_wrong_type_in_the_file_is_refused_naming_the_setting() {
    jail(|jail| {
        jail.create_file(
            "a.toml",
            "id = \"a\"\n[redis]\nstream_max_length = \"many\"\n",
        )?;
        let err = load_err(&args(&["--config", "a.toml"]));
        assert_eq!(
            err.to_string(),
            "redis.stream_max_length = \"many\": must be a whole number >= 0"
        );
        Ok(())
    });
}

#[test]
fn a_missing_or_broken_config_file_is_refused() {
    jail(|jail| {
        let err = load_err(&args(&["--id", "a", "--config", "none.toml"]));
        assert!(
            err.to_string()
                .starts_with("config = none.toml: cannot read"),
            "{err}"
        );
        jail.create_file("bad.toml", "[client\n")?;
        let err = load_err(&args(&["--id", "a", "--config", "bad.toml"]));
        assert!(
            err.to_string()
                .starts_with("config = bad.toml: not valid TOML"),
            "{err}"
        );
        assert_eq!(err.to_string().lines().count(), 1, "{err}");
        Ok(())
    });
}

#[test]
fn a_missing_id_is_refused_saying_where_to_give_it() {
    jail(|_| {
        let err = load_err(&args(&[]));
        assert_eq!(
            err.to_string(),
            "id = (not set): required, give --id, ALP_CONNEX_ID or id in the --config file"
        );
        Ok(())
    });
}

#[test]
fn a_bad_id_is_refused_with_the_allowed_characters() {
    for id in ["", "a b", &"x".repeat(65)] {
        let err = InboundSettings::with_defaults(id)
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(err.setting(), "id");
        assert!(
            err.to_string()
                .ends_with("must be 1..=64 characters of A-Z a-z 0-9 _ . : -")
        );
    }
    let ok = InboundSettings::with_defaults("Rtu_1.a:b-2").unwrap();
    assert_eq!(ok.validate(), Ok(()));
}

#[test]
fn other_ranges_are_refused_naming_the_setting() {
    let cases: &[(&str, &str)] = &[
        (
            "ALP_CONNEX_REDIS__STREAM_MAX_LENGTH",
            "redis.stream_max_length = 0: must be at least 1",
        ),
        (
            "ALP_CONNEX_CLIENT__RECONNECT_INTERVAL_S",
            "client.reconnect_interval_s = 0: must be in 1..=3600 (seconds)",
        ),
    ];
    for (var, message) in cases {
        jail(|jail| {
            jail.set_env(var, "0");
            assert_eq!(load_err(&args(&["--id", "a"])).to_string(), *message);
            Ok(())
        });
    }
    jail(|jail| {
        assert_eq!(
            load_err(&args(&["--id", "a", "redis", "--in-stream", ""])).to_string(),
            "redis.in_stream = \"\": must not be empty"
        );
        jail.set_env("ALP_CONNEX_CLIENT__PERIODIC_GI_S", "100000");
        assert_eq!(
            load_err(&args(&["--id", "a"])).to_string(),
            "client.periodic_gi_s = 100000: must be in 1..=86400 (seconds, 0 = off)"
        );
        jail.set_env("ALP_CONNEX_CLIENT__PERIODIC_GI_S", "0");
        jail.set_env("ALP_CONNEX_CLIENT__COMMON_ADDRESSES", "[1, 0]");
        assert_eq!(
            load_err(&args(&["--id", "a"])).to_string(),
            "client.common_addresses[1] = 0: must be in 1..=65535"
        );
        jail.set_env("ALP_CONNEX_CLIENT__COMMON_ADDRESSES", "[]");
        jail.set_env("ALP_CONNEX_CLIENT__ON_LINK_LOSS", "drop");
        assert_eq!(
            load_err(&args(&["--id", "a"])).to_string(),
            "client.on_link_loss = \"drop\": must be one of nt, iv, keep"
        );
        Ok(())
    });
}

#[test]
fn time_zones_are_utc_fixed_offsets_or_iana_names() {
    assert_eq!("UTC".parse(), Ok(TimeZone::UTC));
    let tz: TimeZone = "+01:00".parse().unwrap();
    assert_eq!(
        (tz.offset_ms_at(0), tz.to_string()),
        (3_600_000, "+01:00".to_string())
    );
    let tz: TimeZone = "-03:30".parse().unwrap();
    assert_eq!(tz.offset_ms_at(0), -210 * 60_000);
    for name in [
        "Europe/Vienna",
        "Europe/Berlin",
        "America/New_York",
        "Etc/GMT-14",
    ] {
        let tz: TimeZone = name.parse().expect(name);
        assert_eq!(tz.to_string(), name);
    }
    for bad in [
        "Europe/Atlantis",
        "Etc/Unknown",
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "../../etc/passwd",
        "+1:00",
        "+15:00",
        "-12:01",
        "+01:60",
        "",
        "+0a:00",
    ] {
        assert_eq!(bad.parse::<TimeZone>(), Err(()), "{bad}");
    }
    jail(|jail| {
        jail.set_env("ALP_CONNEX_CLIENT__TIME_ZONE", "Europe/Atlantis");
        let err = load_err(&args(&["--id", "a"]));
        assert_eq!(err.setting(), "client.time_zone");
        assert!(
            err.to_string()
                .starts_with("client.time_zone = \"Europe/Atlantis\": must be \"UTC\" or")
        );
        Ok(())
    });
}

#[test]
fn a_zone_name_is_read_from_the_file_and_the_environment_and_a_wrong_one_named() {
    let allowed = format!(
        "must be \"UTC\" or a fixed offset \"+HH:MM\"/\"-HH:MM\" from -12:00 to +14:00 or a zone name of the IANA time zone database ({}) such as \"Europe/Berlin\"",
        TimeZone::TZDB_VERSION
    );
    jail(|jail| {
        jail.create_file(
            "a.toml",
            "id = \"a\"\n[client]\ntime_zone = \"Europe/Berlin\"\n",
        )?;
        jail.set_env("ALP_CONNEX_CONFIG", "a.toml");
        let s = load(&args(&[])).unwrap();
        assert_eq!(s.client.time_zone.to_string(), "Europe/Berlin");
        jail.set_env("ALP_CONNEX_CLIENT__TIME_ZONE", "America/New_York");
        let s = load(&args(&[])).unwrap();
        assert_eq!(s.client.time_zone.to_string(), "America/New_York");
        Ok(())
    });
    jail(|jail| {
        jail.create_file(
            "a.toml",
            "id = \"a\"\n[client]\ntime_zone = \"Europe/Berlln\"\n",
        )?;
        jail.set_env("ALP_CONNEX_CONFIG", "a.toml");
        assert_eq!(
            load_err(&args(&[])).to_string(),
            format!("client.time_zone = \"Europe/Berlln\": {allowed}")
        );
        Ok(())
    });
}

#[test]
fn log_levels_map_to_tracing_filters() {
    use tracing::level_filters::LevelFilter;
    assert_eq!(LogLevel::Warning.filter(), LevelFilter::WARN);
    assert_eq!(LogLevel::Critical.filter(), LevelFilter::ERROR);
    assert_eq!(LogLevel::Off.filter(), LevelFilter::OFF);
    assert_eq!(LogLevel::Trace.filter(), LevelFilter::TRACE);
}

#[test]
fn config_gen_read_back_equals_the_defaults() {
    jail(|jail| {
        jail.create_file("gen.toml", &generate())?;
        let s = load(&args(&["--id", "rtu-a", "--config", "gen.toml"])).unwrap();
        assert_eq!(s, InboundSettings::with_defaults("rtu-a").unwrap());
        Ok(())
    });
}

#[test]
fn config_gen_documents_every_setting_and_only_settings() {
    let text = generate();
    let defaults = figment::Figment::from(figment::providers::Serialized::defaults(
        RawSettings::default(),
    ));
    let dict = defaults.extract::<figment::value::Dict>().unwrap();
    let mut with_default = Vec::new();
    for (k, v) in &dict {
        match v.as_dict() {
            Some(section) => with_default.extend(section.keys().map(|s| format!("{k}.{s}"))),
            None => with_default.push(k.clone()),
        }
    }
    let docs = setting_docs();
    for key in &with_default {
        assert!(docs.iter().any(|d| d.key == key), "{key} has no doc");
    }
    for d in &docs {
        assert!(
            d.example.is_some() || with_default.iter().any(|k| k == d.key),
            "{}",
            d.key
        );
        let name = d.key.rsplit('.').next().unwrap();
        let line = text.lines().find(|l| {
            l.trim_start_matches("# ")
                .starts_with(&format!("{name} = "))
        });
        assert!(line.is_some(), "{} not in config-gen", d.key);
    }
    assert!(text.contains("# id = \"rtu-a\""));
    assert!(text.contains("\n[client]\n") && text.contains("\n[redis]\n"));
}

#[test]
fn counters_are_read_after_each_interrogation_and_interrogations_time_out_after_60_s_by_default() {
    let s = InboundSettings::with_defaults("a").unwrap();
    assert_eq!(s.client.counter_interrogation_mode, CounterMode::Read);
    assert_eq!(s.client.interrogation_timeout, Duration::from_secs(60));
    let text = generate();
    assert!(
        text.contains("\ncounter_interrogation_mode = \"read\"\n"),
        "{text}"
    );
    assert!(text.contains("\ninterrogation_timeout_s = 60\n"), "{text}");
}

#[test]
fn the_counter_interrogation_mode_comes_from_the_file_and_the_environment() {
    jail(|jail| {
        jail.create_file(
            "a.toml",
            "id = \"a\"\n[client]\ncounter_interrogation_mode = \"freeze-reset\"\ninterrogation_timeout_s = 300\n",
        )?;
        let s = load(&args(&["--config", "a.toml"])).unwrap();
        assert_eq!(
            s.client.counter_interrogation_mode,
            CounterMode::FreezeReset
        );
        assert_eq!(s.client.interrogation_timeout, Duration::from_secs(300));
        for (name, mode) in [
            ("read", CounterMode::Read),
            ("freeze", CounterMode::Freeze),
            ("reset", CounterMode::Reset),
            ("off", CounterMode::Off),
        ] {
            jail.set_env("ALP_CONNEX_CLIENT__COUNTER_INTERROGATION_MODE", name);
            let s = load(&args(&["--config", "a.toml"])).unwrap();
            assert_eq!(s.client.counter_interrogation_mode, mode, "{name}");
            assert_eq!(mode.freeze().is_some(), name != "off");
        }
        Ok(())
    });
}

#[test]
fn a_bad_counter_interrogation_mode_or_timeout_is_refused_naming_the_setting_and_the_allowed_values()
 {
    jail(|jail| {
        jail.set_env("ALP_CONNEX_CLIENT__COUNTER_INTERROGATION_MODE", "sometimes");
        assert_eq!(
            load_err(&args(&["--id", "a"])).to_string(),
            "client.counter_interrogation_mode = \"sometimes\": must be one of read, freeze, freeze-reset, reset, off"
        );
        jail.set_env("ALP_CONNEX_CLIENT__COUNTER_INTERROGATION_MODE", "off");
        jail.set_env("ALP_CONNEX_CLIENT__COUNTER_INTERROGATION_S", "60");
        assert_eq!(
            load_err(&args(&["--id", "a"])).to_string(),
            "client.counter_interrogation_s = 60: must be 0 when client.counter_interrogation_mode is \"off\""
        );
        jail.set_env("ALP_CONNEX_CLIENT__COUNTER_INTERROGATION_MODE", "freeze");
        assert!(
            load(&args(&["--id", "a"])).is_ok(),
            "the period with a freeze"
        );
        for bad in ["0", "3601"] {
            jail.set_env("ALP_CONNEX_CLIENT__INTERROGATION_TIMEOUT_S", bad);
            assert_eq!(
                load_err(&args(&["--id", "a"])).to_string(),
                format!("client.interrogation_timeout_s = {bad}: must be in 1..=3600 (seconds)")
            );
        }
        Ok(())
    });
}

#[test]
fn param_warnings_are_reported() {
    let mut s = InboundSettings::with_defaults("a").unwrap();
    s.client.params.w = 10;
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(s.warnings().len(), 1);
    assert!(s.warnings()[0].starts_with("client: w = 10"));
}

mod managed {
    use super::*;

    /// The documented command line's layers, read inside a jail so that no
    /// other test's environment is seen.
    fn base() -> Layers<InboundSettings> {
        let mut out = None;
        jail(|_| {
            out = Some(layers(&InboundArgs::try_parse_from(documented()).unwrap()).unwrap());
            Ok(())
        });
        out.expect("layers read")
    }

    #[test]
    fn managed_values_override_the_start_up_layers() {
        let l = base();
        let s = l
            .with_managed(r#"{"host": "10.9.9.9", "port": 2405, "log_level": "warning", "t1": 20, "k": 20, "w": 10}"#)
            .unwrap();
        assert_eq!((s.client.host.as_str(), s.client.port), ("10.9.9.9", 2405));
        assert_eq!(s.log_level, LogLevel::Warning);
        assert_eq!(s.client.params.t1.as_secs(), 20);
        assert_eq!((s.client.params.k, s.client.params.w), (20, 10));
        // Untouched settings keep their start-up values.
        assert_eq!(s.redis.stream_max_length, 5000);
        assert_eq!(l.with_managed("{}").unwrap(), l.settings().unwrap());
    }

    #[test]
    fn the_counter_interrogation_mode_and_the_interrogation_timeout_can_be_managed() {
        let l = base();
        let s = l
            .with_managed(r#"{"counter_interrogation_mode": "off", "interrogation_timeout_s": 30}"#)
            .unwrap();
        assert_eq!(s.client.counter_interrogation_mode, CounterMode::Off);
        assert_eq!(s.client.interrogation_timeout, Duration::from_secs(30));
        let e = l
            .with_managed(r#"{"counter_interrogation_mode": "freeze_reset"}"#)
            .unwrap_err();
        assert_eq!(e.setting(), "client.counter_interrogation_mode");
    }

    #[test]
    fn a_managed_port_out_of_range_is_refused_naming_the_setting() {
        let e = base().with_managed(r#"{"port": 70000}"#).unwrap_err();
        assert_eq!(e.to_string(), "client.port = 70000: must be in 1..=65535");
    }

    #[test]
    fn a_managed_t2_not_below_t1_is_refused() {
        let e = base().with_managed(r#"{"t1": 5, "t2": 5}"#).unwrap_err();
        assert!(e.to_string().contains("t2"), "{e}");
    }

    #[test]
    fn a_managed_time_zone_takes_a_zone_name_and_refuses_an_unknown_one() {
        let l = base();
        let s = l.with_managed(r#"{"time_zone": "Europe/Berlin"}"#).unwrap();
        assert_eq!(s.client.time_zone, "Europe/Berlin".parse().unwrap());
        let e = l
            .with_managed(r#"{"time_zone": "Mars/Olympus"}"#)
            .unwrap_err();
        assert_eq!(e.setting(), "client.time_zone");
        assert!(
            e.to_string().starts_with(
                "client.time_zone = \"Mars/Olympus\": must be \"UTC\" or a fixed offset"
            ),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_managed_key_is_refused_naming_it() {
        let e = base().with_managed(r#"{"prot": 2404}"#).unwrap_err();
        assert!(e.to_string().contains("\"prot\""), "{e}");
    }

    #[test]
    fn managed_json_that_is_not_an_object_is_refused() {
        for bad in ["", "[1]", "\"x\"", "{", "null"] {
            assert!(base().with_managed(bad).is_err(), "{bad:?}");
        }
    }
}
