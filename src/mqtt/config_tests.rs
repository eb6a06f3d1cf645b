// `Jail` closures return `figment::Error`, which is large; that is its API.
#![allow(clippy::result_large_err)]

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use figment::Jail;
use serde_json::json;

use super::*;
use crate::config::{Layers, generate_for};

/// The command line of docs/mqtt.md, verbatim.
const DOCUMENTED_LINE: &str = "mqtt --id mqtt-1 --log-level debug mqtt --host mosquitto --port 1883 --client-id alp-mqtt-1 --username ingest --password-file /run/secrets/mqtt --qos 1 --protocol 5 redis --host valkey:6379 --stream-max-length 5000 --in-stream process:updates";

/// Where the documented line reads the password from.
const DOCUMENTED_PASSWORD_FILE: &str = "/run/secrets/mqtt";

/// A self-signed certificate and its key (P-256), for the TLS file checks
/// only: nothing connects with them.
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBijCCATGgAwIBAgIUDy3GcuIVFw0/RFFf23JJHbc/ePQwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPYWxwLWNvbm5leCB0ZXN0MCAXDTI2MTEyOTExMjQxNloYDzIx
MjYxMTA1MTEyNDE2WjAaMRgwFgYDVQQDDA9hbHAtY29ubmV4IHRlc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAARalApS34bPqyDvkXpzTLDaWaL/gZF4K17/xPmF
wAfqNmus7buVKM1kTXx5SOQxjD7/OKsf9SfLZUwiRZeuWp20o1MwUTAdBgNVHQ4E
FgQUAujRx8s9J5ggFXWbrmjGZJKIj0YwHwYDVR0jBBgwFoAUAujRx8s9J5ggFXWb
rmjGZJKIj0YwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiA+j/jc
OWgoDzL/vq1xxq+8G3k6KuR6fGtvXxrr2Y0vJAIgFNfNErIl8mBrC7lpPrKAruaK
lsRBnD4wuyem22P6m2c=
-----END CERTIFICATE-----
";
const KEY_PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgw1l87sd0W4nk0Xop
NiQJ3NJFseU+b71RNFAclBeDcaKhRANCAARalApS34bPqyDvkXpzTLDaWaL/gZF4
K17/xPmFwAfqNmus7buVKM1kTXx5SOQxjD7/OKsf9SfLZUwiRZeuWp20
-----END PRIVATE KEY-----
";
const KEY_SEC1_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIMNZfO7HdFuJ5NF6KTYkCdzSRbHlPm+9UTRQHJQXg3GioAoGCCqGSM49
AwEHoUQDQgAEWpQKUt+Gz6sg75F6c0yw2lmi/4GReCte/8T5hcAH6jZrrO27lSjN
ZE18eUjkMYw+/zirH/Uny2VMIkWXrlqdtA==
-----END EC PRIVATE KEY-----
";

/// A file with two mappings (one of them shared), as a gateway without a
/// backend keeps them.
const FILE_WITH_MAPPINGS: &str = r#"
id = "gw-1"
silence_timeout = 120

[mqtt]
host = "file"
port = 1
keep_alive = 60

[[mappings]]
id = "climate"
topic = "substations/+/climate/#"
match = { "$.device" = "ts-1" }
points = [
  { casdu = 101, ioa = 1, type = "M_ME_TF_1", value = "$.temperature", time = "$.ts", deadband = { absolute = 0.1 } },
  { casdu = 101, ioa = 2, type = 13, value = "$.humidity", silence_timeout = 600 },
]

[[mappings]]
id = "door"
topic = "$share/alp/substations/ss-01/door/dc-1"
points = [
  { casdu = 101, ioa = 10, type = "M_SP_TB_1", value = "$.door", map = { open = true, closed = false } },
]
"#;

fn documented() -> Vec<&'static str> {
    DOCUMENTED_LINE.split_whitespace().collect()
}

/// The documented line with its password file at `path`.
fn documented_with_password_file(path: &Path) -> MqttArgs {
    let path = path.to_str().expect("utf-8 path");
    let argv: Vec<&str> = documented()
        .into_iter()
        .map(|a| {
            if a == DOCUMENTED_PASSWORD_FILE {
                path
            } else {
                a
            }
        })
        .collect();
    MqttArgs::try_parse_from(argv).expect("documented line")
}

fn args(argv: &[&str]) -> MqttArgs {
    let mut full = vec!["mqtt"];
    full.extend_from_slice(argv);
    MqttArgs::try_parse_from(full).expect("command line parses")
}

/// Runs `f` in a jail (own directory and environment), as figment's tests do.
fn jail(f: impl FnOnce(&mut Jail) -> Result<(), figment::Error>) {
    Jail::expect_with(f);
}

fn load(a: &MqttArgs) -> Result<MqttSettings, ConfigError> {
    a.load()
}

fn load_err(a: &MqttArgs) -> ConfigError {
    load(a).expect_err("configuration is refused")
}

/// The error line of `--id a` with the environment variable `var` set to
/// `value`.
fn env_error(var: &str, value: &str) -> String {
    let mut line = String::new();
    jail(|jail| {
        jail.set_env(var, value);
        line = load_err(&args(&["--id", "a"])).to_string();
        Ok(())
    });
    line
}

#[test]
fn the_documented_command_line_parses_to_the_expected_struct() {
    let a = MqttArgs::try_parse_from(documented()).unwrap();
    assert_eq!(a.id.as_deref(), Some("mqtt-1"));
    assert_eq!(a.log_level, Some(LogLevel::Debug));
    assert!(!a.check_config && !a.is_config_gen());
    let b = a.broker().unwrap();
    assert_eq!(b.host.as_deref(), Some("mosquitto"));
    assert_eq!(b.port, Some(1883));
    assert_eq!(b.client_id.as_deref(), Some("alp-mqtt-1"));
    assert_eq!(b.username.as_deref(), Some("ingest"));
    assert_eq!(
        b.password_file.as_deref(),
        Some(Path::new(DOCUMENTED_PASSWORD_FILE))
    );
    assert_eq!((b.qos, b.protocol), (Some(1), Some(Protocol::V5)));
    assert!(!b.tls && b.ca_file.is_none() && b.cert_file.is_none() && b.key_file.is_none());
    let r = a.redis().unwrap();
    assert_eq!(r.host.as_deref(), Some("valkey:6379"));
    assert_eq!(r.stream_max_length, Some(5000));
    assert_eq!(r.in_stream.as_deref(), Some("process:updates"));
}

#[test]
fn the_documented_command_line_loads_to_the_expected_settings() {
    jail(|jail| {
        jail.create_file("mqtt.pwd", "s3cret\n")?;
        let pwd = jail.directory().join("mqtt.pwd");
        let s = load(&documented_with_password_file(&pwd)).unwrap();
        assert_eq!(s.id, "mqtt-1");
        assert_eq!(s.log_level, LogLevel::Debug);
        let b = &s.broker;
        assert_eq!((b.host.as_str(), b.port), ("mosquitto", 1883));
        assert_eq!(b.remote(), "mosquitto:1883");
        assert_eq!(b.client_id, "alp-mqtt-1");
        assert_eq!(b.username.as_deref(), Some("ingest"));
        assert_eq!(b.password.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!((b.qos, b.protocol), (1, Protocol::V5));
        assert_eq!(b.tls, None);
        assert_eq!(b.keep_alive, Duration::from_secs(30));
        assert!(b.persistent_session);
        assert_eq!(b.session_expiry_s, 86_400);
        assert_eq!(
            (
                s.redis.host.as_str(),
                s.redis.port,
                s.redis.stream_max_length
            ),
            ("valkey", 6379, 5000)
        );
        assert_eq!(s.redis.in_stream, "process:updates");
        Ok(())
    });
}

#[test]
fn sections_are_optional_and_redis_may_follow_mqtt_or_come_alone() {
    let a = args(&["--id", "x", "redis", "--port", "7000"]);
    assert!(a.broker().is_none());
    assert_eq!(a.redis().unwrap().port, Some(7000));
    let a = args(&[
        "--id", "x", "mqtt", "--host", "b", "redis", "--port", "7001",
    ]);
    assert_eq!(a.broker().unwrap().host.as_deref(), Some("b"));
    assert_eq!(a.redis().unwrap().port, Some(7001));
    let a = args(&["--id", "x"]);
    assert!(a.broker().is_none() && a.redis().is_none() && !a.is_config_gen());
    assert!(args(&["config-gen"]).is_config_gen());
}

#[test]
fn mqtt_after_redis_a_repeated_section_or_a_password_option_is_a_command_line_error() {
    for argv in [
        &["mqtt", "redis", "mqtt"][..],
        &["mqtt", "mqtt", "mqtt"],
        &["mqtt", "mqtt", "redis", "redis"],
        &["mqtt", "mqtt", "--password", "x"],
    ] {
        assert!(MqttArgs::try_parse_from(argv).is_err(), "{argv:?}");
    }
}

#[test]
fn a_protocol_other_than_3_1_1_or_5_is_a_command_line_error() {
    let err = MqttArgs::try_parse_from(["mqtt", "mqtt", "--protocol", "4"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
    for (name, protocol) in [("3.1.1", Protocol::V311), ("5", Protocol::V5)] {
        let a = args(&["mqtt", "--protocol", name]);
        assert_eq!(a.broker().unwrap().protocol, Some(protocol));
        assert_eq!(protocol.to_string(), name);
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    jail(|_| {
        let s = load(&args(&["--id", "a"])).unwrap();
        assert_eq!(s.log_level, LogLevel::Info);
        let b = &s.broker;
        assert_eq!((b.host.as_str(), b.port), ("127.0.0.1", 1883));
        assert_eq!(b.client_id, "alp-connex-a");
        assert_eq!((&b.username, &b.password, &b.tls), (&None, &None, &None));
        assert_eq!((b.qos, b.protocol), (1, Protocol::V311));
        assert_eq!(b.keep_alive, Duration::from_secs(30));
        assert!(b.persistent_session);
        assert_eq!(b.session_expiry_s, 86_400);
        assert_eq!(b.reconnect_max, Duration::from_secs(30));
        assert_eq!(s.max_payload, 256 * 1024);
        assert_eq!(s.mappings.config.silence_timeout_s, 0);
        assert!(s.mappings.config.mappings.is_empty());
        assert!(s.mappings.subscriptions().is_empty());
        assert_eq!((s.redis.host.as_str(), s.redis.port), ("127.0.0.1", 6379));
        assert_eq!(s.redis.password, None);
        assert_eq!(s.redis.stream_max_length, 1000);
        assert_eq!(s.redis.in_stream, "process:updates");
        assert_eq!(s.validate(), Ok(()));
        Ok(())
    });
}

#[test]
fn each_layer_overrides_the_one_below() {
    jail(|jail| {
        jail.create_file("a.toml", FILE_WITH_MAPPINGS)?;
        jail.set_env("ALP_CONNEX_CONFIG", "a.toml");
        jail.set_env("ALP_CONNEX_ID", "env");
        jail.set_env("ALP_CONNEX_MQTT__HOST", "env");
        jail.set_env("ALP_CONNEX_MQTT__PORT", "2");
        jail.set_env("ALP_CONNEX_MQTT__QOS", "0");
        let s = load(&args(&["--id", "cli", "mqtt", "--host", "cli"])).unwrap();
        assert_eq!(s.id, "cli");
        assert_eq!(s.broker.host, "cli");
        assert_eq!(s.broker.port, 2, "env over file");
        assert_eq!(s.broker.qos, 0, "env over default");
        assert_eq!(s.broker.keep_alive, Duration::from_secs(60), "file");
        assert_eq!(s.broker.client_id, "alp-connex-cli", "from the id");
        assert_eq!(s.broker.reconnect_max, Duration::from_secs(30), "default");
        assert_eq!(s.mappings.config.mappings.len(), 2, "mappings of the file");
        let s = load(&args(&["mqtt", "--port", "3", "--qos", "1"])).unwrap();
        assert_eq!(s.id, "env");
        assert_eq!((s.broker.port, s.broker.qos), (3, 1), "cli over env");
        Ok(())
    });
}

#[test]
fn mappings_in_the_file_are_checked_with_the_files_silence_timeout() {
    jail(|jail| {
        jail.create_file("a.toml", FILE_WITH_MAPPINGS)?;
        let s = load(&args(&["--config", "a.toml"])).unwrap();
        let c = &s.mappings.config;
        assert_eq!(c.silence_timeout_s, 120);
        let ids: Vec<&str> = c.mappings.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["climate", "door"]);
        let climate = &c.mappings[0];
        assert_eq!(climate.topic.filter, "substations/+/climate/#");
        assert_eq!(climate.matches.len(), 1);
        assert_eq!(climate.points[0].silence_timeout_s, 120, "the file's");
        assert_eq!(climate.points[1].silence_timeout_s, 600, "the point's own");
        assert_eq!(
            climate.points[1].type_id,
            crate::iec104::types::TypeId::M_ME_NC_1
        );
        assert_eq!(c.mappings[1].topic.share_group.as_deref(), Some("alp"));
        assert_eq!(s.mappings.points(), 3);
        Ok(())
    });
}

#[test]
fn a_bad_mapping_in_the_file_is_refused_naming_its_place_in_one_line() {
    jail(|jail| {
        jail.create_file(
            "a.toml",
            &FILE_WITH_MAPPINGS.replace("value = \"$.door\"", "value = \"$.[\""),
        )?;
        let err = load_err(&args(&["--config", "a.toml"]));
        assert_eq!(err.setting(), "mappings[1].points[0].value");
        let line = err.to_string();
        assert!(
            line.starts_with("mappings[1].points[0].value: `$.[` is not a JSONPath (RFC 9535): "),
            "{line}"
        );
        assert_eq!(line.lines().count(), 1, "{line}");
        jail.create_file(
            "b.toml",
            &FILE_WITH_MAPPINGS.replace("ioa = 10,", "ioa = 2,"),
        )?;
        assert_eq!(
            load_err(&args(&["--config", "b.toml"])).to_string(),
            "mappings[1].points[0].ioa: casdu 101 ioa 2 is already written by mappings[0].points[1]; one owner per address"
        );
        Ok(())
    });
}

#[test]
fn the_password_protocol_and_names_from_the_environment_stay_verbatim() {
    jail(|jail| {
        jail.set_env("ALP_CONNEX_ID", "1234");
        jail.set_env("ALP_CONNEX_MQTT__USERNAME", "0042");
        jail.set_env("ALP_CONNEX_MQTT__PASSWORD", "0123.50");
        jail.set_env("ALP_CONNEX_MQTT__PROTOCOL", "5");
        jail.set_env("ALP_CONNEX_MQTT__CLIENT_ID", "007");
        let s = load(&args(&[])).unwrap();
        assert_eq!(s.id, "1234");
        assert_eq!(s.broker.username.as_deref(), Some("0042"));
        assert_eq!(
            s.broker.password.as_ref().map(Secret::expose),
            Some("0123.50")
        );
        assert_eq!(s.broker.protocol, Protocol::V5);
        assert_eq!(s.broker.client_id, "007");
        jail.set_env("ALP_CONNEX_MQTT__PROTOCOL", "3.1.1");
        assert_eq!(load(&args(&[])).unwrap().broker.protocol, Protocol::V311);
        jail.set_env("ALP_CONNEX_MQTT__PROTOCOL", "4");
        assert_eq!(
            load_err(&args(&[])).to_string(),
            "mqtt.protocol = \"4\": must be one of 3.1.1, 5"
        );
        Ok(())
    });
}

#[test]
fn the_password_comes_from_a_file_without_its_trailing_newline() {
    jail(|jail| {
        jail.create_file("pwd", "s3cret\n")?;
        jail.create_file("pwd-crlf", "s3cret\r\n")?;
        jail.create_file("pwd-two", "s3cret\n\n")?;
        let password = |a: &MqttArgs| {
            load(a)
                .unwrap()
                .broker
                .password
                .map(|p| p.expose().to_owned())
        };
        let cli = |file: &str| {
            args(&[
                "--id",
                "a",
                "mqtt",
                "--username",
                "u",
                "--password-file",
                file,
            ])
        };
        assert_eq!(password(&cli("pwd")).as_deref(), Some("s3cret"));
        assert_eq!(password(&cli("pwd-crlf")).as_deref(), Some("s3cret"));
        assert_eq!(
            password(&cli("pwd-two")).as_deref(),
            Some("s3cret\n"),
            "one newline only"
        );
        jail.set_env("ALP_CONNEX_MQTT__USERNAME", "u");
        jail.set_env("ALP_CONNEX_MQTT__PASSWORD_FILE", "pwd");
        assert_eq!(password(&args(&["--id", "a"])).as_deref(), Some("s3cret"));
        Ok(())
    });
}

#[test]
fn a_password_and_a_password_file_together_are_an_error_that_shows_neither() {
    jail(|jail| {
        jail.create_file("pwd", "from-file")?;
        jail.set_env("ALP_CONNEX_MQTT__PASSWORD", "hunter2");
        let err = load_err(&args(&["--id", "a", "mqtt", "--password-file", "pwd"]));
        assert_eq!(
            err.to_string(),
            "mqtt.password: give either mqtt.password or mqtt.password_file, not both"
        );
        Ok(())
    });
}

#[test]
fn a_missing_password_file_is_an_error_naming_it() {
    jail(|_| {
        let err = load_err(&args(&["--id", "a", "mqtt", "--password-file", "nope"]));
        assert_eq!(err.setting(), "mqtt.password_file");
        assert!(
            err.to_string()
                .starts_with("mqtt.password_file = nope: cannot read"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn a_password_without_a_username_is_refused() {
    assert_eq!(
        env_error("ALP_CONNEX_MQTT__PASSWORD", "hunter2"),
        "mqtt.username = (not set): must be set when a password is given"
    );
}

#[test]
fn the_password_never_shows_in_the_check_config_output_or_an_error_line() {
    jail(|jail| {
        jail.set_env("ALP_CONNEX_MQTT__USERNAME", "ingest");
        jail.set_env("ALP_CONNEX_MQTT__PASSWORD", "hunter2");
        let s = load(&args(&["--id", "a"])).unwrap();
        // What `--check-config` prints.
        let shown = format!("{s:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("password: Some(\n            ***,"),
            "{shown}"
        );
        // Errors in which the password takes part.
        let mut lines = vec![
            load_err(&args(&["--id", "a", "mqtt", "--qos", "2"])).to_string(),
            load_err(&args(&["--id", "a", "mqtt", "--password-file", "x"])).to_string(),
        ];
        jail.set_env("ALP_CONNEX_MQTT__PASWORD", "hunter2");
        lines.push(load_err(&args(&["--id", "a"])).to_string());
        jail.clear_env();
        jail.create_file(
            "a.toml",
            "id = \"a\"\n[mqtt]\nusername = \"u\"\npassword = 20250101\n",
        )?;
        let err = load_err(&args(&["--config", "a.toml"]));
        assert_eq!(err.to_string(), "mqtt.password = ***: must be a string");
        lines.push(err.to_string());
        for line in &lines {
            assert!(
                !line.contains("hunter2") && !line.contains("20250101"),
                "{line}"
            );
        }
        Ok(())
    });
}

#[test]
fn tls_defaults_the_port_to_8883_and_a_given_port_wins() {
    jail(|_| {
        let s = load(&args(&["--id", "a", "mqtt", "--tls"])).unwrap();
        assert_eq!(s.broker.port, 8883);
        assert_eq!(
            s.broker.tls,
            Some(TlsSettings {
                ca_file: None,
                client: None
            }),
            "the system's trust store, no client certificate"
        );
        let s = load(&args(&["--id", "a", "mqtt", "--tls", "--port", "8884"])).unwrap();
        assert_eq!(s.broker.port, 8884);
        let s = load(&args(&["--id", "a", "mqtt", "--port", "8883"])).unwrap();
        assert_eq!((s.broker.port, &s.broker.tls), (8883, &None));
        Ok(())
    });
}

#[test]
fn tls_files_are_read_when_the_settings_are_checked() {
    jail(|jail| {
        jail.create_file("ca.pem", CERT_PEM)?;
        jail.create_file("client.pem", CERT_PEM)?;
        jail.create_file("client.key", KEY_PKCS8_PEM)?;
        jail.create_file("client-ec.key", KEY_SEC1_PEM)?;
        let tls = |key: &str| {
            load(&args(&[
                "--id",
                "a",
                "mqtt",
                "--tls",
                "--ca-file",
                "ca.pem",
                "--cert-file",
                "client.pem",
                "--key-file",
                key,
            ]))
            .unwrap()
            .broker
            .tls
        };
        assert_eq!(
            tls("client.key"),
            Some(TlsSettings {
                ca_file: Some("ca.pem".into()),
                client: Some(("client.pem".into(), "client.key".into())),
            })
        );
        assert!(tls("client-ec.key").is_some(), "a SEC1 key");
        Ok(())
    });
}

#[test]
fn tls_files_without_tls_are_refused_naming_the_setting() {
    jail(|_| {
        for (option, setting) in [
            ("--ca-file", "mqtt.ca_file"),
            ("--cert-file", "mqtt.cert_file"),
            ("--key-file", "mqtt.key_file"),
        ] {
            let err = load_err(&args(&["--id", "a", "mqtt", option, "f.pem"]));
            assert_eq!(
                err.to_string(),
                format!("{setting} = f.pem: is used only with mqtt.tls = true")
            );
        }
        Ok(())
    });
}

#[test]
fn a_client_certificate_without_its_key_or_a_key_without_its_certificate_is_refused() {
    jail(|_| {
        let err = load_err(&args(&[
            "--id",
            "a",
            "mqtt",
            "--tls",
            "--cert-file",
            "c.pem",
        ]));
        assert_eq!(
            err.to_string(),
            "mqtt.key_file = (not set): mqtt.cert_file and mqtt.key_file go together"
        );
        let err = load_err(&args(&[
            "--id",
            "a",
            "mqtt",
            "--tls",
            "--key-file",
            "c.key",
        ]));
        assert_eq!(
            err.to_string(),
            "mqtt.cert_file = (not set): mqtt.cert_file and mqtt.key_file go together"
        );
        Ok(())
    });
}

#[test]
fn an_unreadable_or_empty_pem_file_is_refused_naming_the_setting_and_the_file() {
    jail(|jail| {
        jail.create_file("empty.pem", "")?;
        jail.create_file("cert.pem", CERT_PEM)?;
        jail.create_file("key.pem", KEY_PKCS8_PEM)?;
        let tls = |extra: &[&str]| {
            let mut argv = vec!["--id", "a", "mqtt", "--tls"];
            argv.extend_from_slice(extra);
            load_err(&args(&argv)).to_string()
        };
        let table: [(&[&str], &str); 5] = [
            (
                &["--ca-file", "missing.pem"],
                "mqtt.ca_file = missing.pem: cannot read: ",
            ),
            (
                &["--ca-file", "empty.pem"],
                "mqtt.ca_file = empty.pem: holds no PEM certificate",
            ),
            (
                &["--ca-file", "key.pem"],
                "mqtt.ca_file = key.pem: holds no PEM certificate",
            ),
            (
                &["--cert-file", "empty.pem", "--key-file", "key.pem"],
                "mqtt.cert_file = empty.pem: holds no PEM certificate",
            ),
            (
                &["--cert-file", "cert.pem", "--key-file", "cert.pem"],
                "mqtt.key_file = cert.pem: holds no PEM private key",
            ),
        ];
        for (extra, start) in table {
            let line = tls(extra);
            assert!(line.starts_with(start), "{extra:?}: {line}");
            assert_eq!(line.lines().count(), 1, "{line}");
        }
        Ok(())
    });
}

#[test]
fn every_range_is_refused_with_one_line_naming_the_setting_and_the_range() {
    let table = [
        (
            "ALP_CONNEX_MQTT__QOS",
            "2",
            "mqtt.qos = 2: must be in 0..=1",
        ),
        (
            "ALP_CONNEX_MQTT__KEEP_ALIVE",
            "4",
            "mqtt.keep_alive = 4: must be in 5..=65535 (seconds)",
        ),
        (
            "ALP_CONNEX_MQTT__KEEP_ALIVE",
            "65536",
            "mqtt.keep_alive = 65536: must be in 5..=65535 (seconds)",
        ),
        (
            "ALP_CONNEX_MQTT__SESSION_EXPIRY_S",
            "4294967295",
            "mqtt.session_expiry_s = 4294967295: must be in 0..=4294967294 (seconds)",
        ),
        (
            "ALP_CONNEX_MQTT__RECONNECT_MAX_S",
            "0",
            "mqtt.reconnect_max_s = 0: must be in 1..=3600 (seconds)",
        ),
        (
            "ALP_CONNEX_MQTT__RECONNECT_MAX_S",
            "3601",
            "mqtt.reconnect_max_s = 3601: must be in 1..=3600 (seconds)",
        ),
        (
            "ALP_CONNEX_MQTT__MAX_PAYLOAD",
            "15",
            "mqtt.max_payload = 15: must be in 16..=268435455",
        ),
        (
            "ALP_CONNEX_MQTT__MAX_PAYLOAD",
            "268435456",
            "mqtt.max_payload = 268435456: must be in 16..=268435455",
        ),
        (
            "ALP_CONNEX_MQTT__PORT",
            "0",
            "mqtt.port = 0: must be in 1..=65535",
        ),
        (
            "ALP_CONNEX_MQTT__PORT",
            "65536",
            "mqtt.port = 65536: must be in 1..=65535",
        ),
        (
            "ALP_CONNEX_MQTT__CLIENT_ID",
            "",
            "mqtt.client_id = \"\": must be 1..=65535 octets",
        ),
        (
            "ALP_CONNEX_MQTT__HOST",
            "",
            "mqtt.host = \"\": must not be empty",
        ),
        (
            "ALP_CONNEX_MQTT__QOS",
            "-1",
            "mqtt.qos = -1: must be a whole number >= 0",
        ),
        (
            "ALP_CONNEX_SILENCE_TIMEOUT",
            "31536001",
            "silence_timeout: 31536001: allowed 0..31536000 seconds (0 = off)",
        ),
    ];
    for (var, value, line) in table {
        assert_eq!(env_error(var, value), line, "{var}={value}");
    }
    let long = "x".repeat(CLIENT_ID_MAX_LEN + 1);
    let line = env_error("ALP_CONNEX_MQTT__CLIENT_ID", &long);
    assert!(
        line.starts_with("mqtt.client_id = \"xxx")
            && line.ends_with("\": must be 1..=65535 octets"),
        "{}",
        line.len()
    );
    let ok = "x".repeat(CLIENT_ID_MAX_LEN);
    jail(|jail| {
        jail.set_env("ALP_CONNEX_MQTT__CLIENT_ID", &ok);
        assert_eq!(load(&args(&["--id", "a"])).unwrap().broker.client_id, ok);
        Ok(())
    });
}

#[test]
fn the_limits_of_every_range_are_accepted() {
    jail(|jail| {
        for (var, value) in [
            ("ALP_CONNEX_MQTT__QOS", "0"),
            ("ALP_CONNEX_MQTT__KEEP_ALIVE", "5"),
            ("ALP_CONNEX_MQTT__SESSION_EXPIRY_S", "4294967294"),
            ("ALP_CONNEX_MQTT__RECONNECT_MAX_S", "3600"),
            ("ALP_CONNEX_MQTT__MAX_PAYLOAD", "16"),
            ("ALP_CONNEX_MQTT__PORT", "65535"),
            ("ALP_CONNEX_SILENCE_TIMEOUT", "31536000"),
        ] {
            jail.set_env(var, value);
        }
        let s = load(&args(&["--id", "a"])).unwrap();
        let b = &s.broker;
        assert_eq!(
            (b.qos, b.port, b.session_expiry_s),
            (0, 65535, u32::MAX - 1)
        );
        assert_eq!(b.keep_alive, Duration::from_secs(5));
        assert_eq!(b.reconnect_max, Duration::from_secs(3600));
        assert_eq!(s.max_payload, 16);
        assert_eq!(s.mappings.config.silence_timeout_s, 31_536_000);
        for (var, value) in [
            ("ALP_CONNEX_MQTT__KEEP_ALIVE", "65535"),
            ("ALP_CONNEX_MQTT__SESSION_EXPIRY_S", "0"),
            ("ALP_CONNEX_MQTT__RECONNECT_MAX_S", "1"),
            ("ALP_CONNEX_MQTT__MAX_PAYLOAD", "268435455"),
            ("ALP_CONNEX_MQTT__PORT", "1"),
        ] {
            jail.set_env(var, value);
        }
        let s = load(&args(&["--id", "a"])).unwrap();
        assert_eq!(s.broker.keep_alive, Duration::from_secs(65535));
        assert_eq!((s.broker.session_expiry_s, s.broker.port), (0, 1));
        assert_eq!(s.broker.reconnect_max, Duration::from_secs(1));
        assert_eq!(s.max_payload, 268_435_455);
        Ok(())
    });
}

#[test]
fn a_range_given_on_the_command_line_is_refused_like_one_from_the_environment() {
    jail(|_| {
        for (argv, line) in [
            (
                &["--id", "a", "mqtt", "--qos", "2"][..],
                "mqtt.qos = 2: must be in 0..=1",
            ),
            (
                &["--id", "a", "mqtt", "--port", "70000"],
                "mqtt.port = 70000: must be in 1..=65535",
            ),
            (
                &["--id", "a", "mqtt", "--client-id", ""],
                "mqtt.client_id = \"\": must be 1..=65535 octets",
            ),
        ] {
            assert_eq!(load_err(&args(argv)).to_string(), line, "{argv:?}");
        }
        Ok(())
    });
}

#[test]
fn an_unknown_key_in_the_file_or_an_unknown_variable_is_refused_naming_it() {
    jail(|jail| {
        jail.create_file("a.toml", "id = \"a\"\n[mqtt]\nhots = \"x\"\n")?;
        let err = load_err(&args(&["--config", "a.toml"]));
        assert_eq!(err.setting(), "mqtt.hots");
        assert!(
            err.to_string()
                .starts_with("mqtt.hots: unknown setting; allowed here: host, port,"),
            "{err}"
        );
        jail.set_env("ALP_CONNEX_MQTT__PWD", "hunter2");
        let err = load_err(&args(&["--id", "a"]));
        assert_eq!(
            err,
            ConfigError::UnknownEnv {
                name: "ALP_CONNEX_MQTT__PWD".into()
            }
        );
        assert!(!err.to_string().contains("hunter2"));
        jail.clear_env();
        jail.set_env("ALP_CONNEX_BROKER__HOST", "x");
        assert_eq!(
            load_err(&args(&["--id", "a"])).setting(),
            "ALP_CONNEX_BROKER__HOST",
            "broker is a key of the managed configuration only"
        );
        Ok(())
    });
}

#[test]
fn a_missing_or_bad_id_is_refused() {
    jail(|_| {
        assert_eq!(
            load_err(&args(&[])).to_string(),
            "id = (not set): required, give --id, ALP_CONNEX_ID or id in the --config file"
        );
        assert_eq!(
            load_err(&args(&["--id", "a b"])).to_string(),
            "id = \"a b\": must be 1..=64 characters of A-Z a-z 0-9 _ . : -"
        );
        Ok(())
    });
}

#[test]
fn config_gen_read_back_equals_the_defaults() {
    jail(|jail| {
        jail.create_file("gen.toml", &generate_for::<MqttSettings>())?;
        let s = load(&args(&["--id", "mqtt-1", "--config", "gen.toml"])).unwrap();
        assert_eq!(s, load(&args(&["--id", "mqtt-1"])).unwrap());
        Ok(())
    });
}

#[test]
fn config_gen_documents_every_setting_and_only_settings() {
    let text = generate_for::<MqttSettings>();
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
    assert!(!docs.iter().any(|d| d.key.starts_with("broker")));
    assert!(text.contains("\n[mqtt]\n") && text.contains("\n[redis]\n"));
    assert!(text.contains("\nmappings = []\n"), "{text}");
}

#[test]
fn warnings_name_qos_0_a_password_without_tls_and_no_mappings() {
    jail(|jail| {
        jail.create_file("a.toml", FILE_WITH_MAPPINGS)?;
        jail.create_file("ca.pem", CERT_PEM)?;
        jail.set_env("ALP_CONNEX_MQTT__USERNAME", "u");
        jail.set_env("ALP_CONNEX_MQTT__PASSWORD", "p");
        let s = load(&args(&[
            "--config",
            "a.toml",
            "mqtt",
            "--tls",
            "--ca-file",
            "ca.pem",
        ]))
        .unwrap();
        assert_eq!(s.warnings(), Vec::<String>::new(), "none with TLS");
        let s = load(&args(&["--id", "a", "mqtt", "--qos", "0"])).unwrap();
        assert_eq!(
            s.warnings(),
            [
                "mqtt.qos = 0: messages published while the connector is away are lost",
                "the broker password is sent in clear text without mqtt.tls",
                "no mappings: the connector subscribes to nothing until the managed configuration gives some",
            ]
        );
        Ok(())
    });
}

mod mappings {
    use super::*;

    fn mappings(value: serde_json::Value) -> Mappings {
        let config = MappingConfig::from_value(value.clone()).expect("valid mappings");
        Mappings {
            config: Arc::new(config),
            source: fingerprint(&[&value.to_string()]),
        }
    }

    fn one(topic: &str, ioa: u32) -> serde_json::Value {
        json!({"id": format!("m{ioa}"), "topic": topic, "points": [
            {"casdu": 1, "ioa": ioa, "type": "M_ME_NC_1", "value": "$.v"}]})
    }

    #[test]
    fn mappings_of_the_same_json_are_equal_and_a_change_is_not() {
        let a = json!({"silence_timeout": 60, "mappings": [one("a/+", 1)]});
        assert_eq!(mappings(a.clone()), mappings(a.clone()));
        let b = json!({"silence_timeout": 61, "mappings": [one("a/+", 1)]});
        assert_ne!(mappings(a.clone()), mappings(b));
        let c = json!({"silence_timeout": 60, "mappings": [one("a/+", 2)]});
        assert_ne!(mappings(a), mappings(c));
    }

    #[test]
    fn subscriptions_are_sorted_each_once_with_share_prefixes_kept() {
        let m = mappings(json!({"mappings": [
            one("z/#", 1),
            one("$share/g1/a/+/climate", 2),
            one("a/+/door", 3),
            one("z/#", 4),
            one("$share/g1/a/+/climate", 5),
        ]}));
        assert_eq!(
            m.subscriptions(),
            ["$share/g1/a/+/climate", "a/+/door", "z/#"]
        );
        assert_eq!(m.points(), 5);
    }

    #[test]
    fn the_debug_form_is_a_summary() {
        let m = mappings(json!({"silence_timeout": 9, "mappings": [one("a", 1), one("b", 2)]}));
        assert_eq!(
            format!("{m:?}"),
            "Mappings { silence_timeout_s: 9, mappings: 2, points: 2, first_ids: [\"m1\", \"m2\"] }"
        );
    }
}

mod managed {
    use super::*;

    /// The contract's example (docs/contract.md), verbatim.
    const CONTRACT_EXAMPLE: &str = r#"{"log_level": "info",
 "broker": {"host": "mosquitto", "port": 1883, "client_id": "alp-mqtt-1",
            "username": "ingest", "tls": false, "keep_alive": 30, "qos": 1},
 "silence_timeout": 300,
 "mappings": [
  {"id": "substation-a-climate",
   "topic": "sensors/+/climate",
   "match": {"$.device": "ts-17"},
   "points": [
    {"casdu": 100, "ioa": 200, "type": "M_ME_TF_1", "value": "$.temperature",
     "time": "$.ts", "time_format": "rfc3339",
     "scale": 1.0, "offset": 0.0, "deadband": {"absolute": 0.1},
     "silence_timeout": 600},
    {"casdu": 100, "ioa": 201, "type": "M_SP_NA_1", "value": "$.door",
     "map": {"open": true, "closed": false},
     "quality": {"path": "$.status", "good": ["ok"]}}
   ]}
 ]}"#;

    /// Start-up layers: a file with mappings, a password from the
    /// environment, a command line; read inside a jail so that no other
    /// test's environment is seen.
    fn base() -> Layers<MqttSettings> {
        let mut out = None;
        jail(|jail| {
            jail.create_file("a.toml", FILE_WITH_MAPPINGS)?;
            jail.set_env("ALP_CONNEX_MQTT__PASSWORD", "hunter2");
            let a = args(&[
                "--config",
                "a.toml",
                "--log-level",
                "debug",
                "mqtt",
                "--username",
                "start",
                "--client-id",
                "start-id",
                "--qos",
                "0",
                "redis",
                "--stream-max-length",
                "5000",
            ]);
            out = Some(a.layers().unwrap());
            Ok(())
        });
        out.expect("layers read")
    }

    #[test]
    fn the_broker_keys_of_the_contract_apply_over_section_mqtt() {
        let l = base();
        let start = l.settings().unwrap();
        let s = l.with_managed(CONTRACT_EXAMPLE).unwrap();
        let b = &s.broker;
        assert_eq!((b.host.as_str(), b.port), ("mosquitto", 1883));
        assert_eq!(b.client_id, "alp-mqtt-1");
        assert_eq!(b.username.as_deref(), Some("ingest"));
        assert_eq!(b.tls, None);
        assert_eq!(b.keep_alive, Duration::from_secs(30));
        assert_eq!(b.qos, 1);
        assert_eq!(s.log_level, LogLevel::Info);
        // Untouched settings keep their start-up values.
        assert_eq!(b.password, start.broker.password, "the password stays");
        assert_eq!(b.protocol, start.broker.protocol);
        assert_eq!(b.reconnect_max, start.broker.reconnect_max);
        assert_eq!(s.max_payload, start.max_payload);
        assert_eq!(s.redis, start.redis);
        assert_eq!(s.redis.stream_max_length, 5000);
    }

    #[test]
    fn a_managed_broker_key_overrides_only_itself_and_tls_moves_the_default_port() {
        let l = base();
        let start = l.settings().unwrap();
        let s = l
            .with_managed(r#"{"mappings": [], "broker": {"keep_alive": 45}}"#)
            .unwrap();
        assert_eq!(s.broker.keep_alive, Duration::from_secs(45));
        assert_eq!(s.broker.host, "file");
        assert_eq!((s.broker.port, s.broker.qos), (1, 0));
        assert_eq!(s.broker.client_id, start.broker.client_id);
        let s = base()
            .with_managed(r#"{"mappings": [], "broker": {"tls": true, "host": "b"}}"#)
            .unwrap();
        assert_eq!(s.broker.port, 1, "the file's port");
        assert!(s.broker.tls.is_some());
        let s = tls_without_port()
            .with_managed(r#"{"mappings": [], "broker": {"tls": true}}"#)
            .unwrap();
        assert_eq!(s.broker.port, 8883);
    }

    fn tls_without_port() -> Layers<MqttSettings> {
        let mut out = None;
        jail(|_| {
            out = Some(args(&["--id", "a"]).layers().unwrap());
            Ok(())
        });
        out.expect("layers read")
    }

    #[test]
    fn a_managed_broker_password_or_unknown_broker_key_is_refused_without_its_value() {
        let l = base();
        let e = l
            .with_managed(r#"{"mappings": [], "broker": {"password": "hunter3"}}"#)
            .unwrap_err();
        assert_eq!(e.setting(), "broker");
        let line = e.to_string();
        assert!(
            line.starts_with("broker: unknown field `password`, expected one of `host`, `port`, `client_id`, `username`, `tls`, `keep_alive`, `qos`"),
            "{line}"
        );
        assert!(!line.contains("hunter3"), "{line}");
        let e = l
            .with_managed(r#"{"mappings": [], "broker": {"ca_file": "/etc/ca.pem"}}"#)
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("broker: unknown field `ca_file`, expected one of"),
            "{e}"
        );
    }

    #[test]
    fn a_managed_broker_value_out_of_range_is_refused_naming_it() {
        let l = base();
        for (json, line) in [
            (
                r#"{"mappings": [], "broker": {"qos": 2}}"#,
                "broker.qos: 2: allowed 0 or 1",
            ),
            (
                r#"{"mappings": [], "broker": {"port": 0}}"#,
                "broker.port = 0: must be in 1..=65535",
            ),
            (
                r#"{"mappings": [], "broker": {"keep_alive": 4}}"#,
                "broker.keep_alive = 4: must be in 5..=65535 (seconds)",
            ),
            (
                r#"{"mappings": [], "broker": {"client_id": ""}}"#,
                "mqtt.client_id = \"\": must be 1..=65535 octets",
            ),
        ] {
            assert_eq!(
                l.with_managed(json).unwrap_err().to_string(),
                line,
                "{json}"
            );
        }
        let e = l
            .with_managed(r#"{"mappings": [], "broker": {"port": 70000}}"#)
            .unwrap_err();
        assert_eq!(e.setting(), "broker");
        assert!(e.to_string().contains("70000"), "{e}");
    }

    #[test]
    fn a_bad_managed_mapping_is_refused_naming_its_place() {
        let e = base()
            .with_managed(
                r#"{"mappings": [
                {"id": "a", "topic": "a", "points": [{"casdu": 1, "ioa": 1, "type": 1, "value": "$.a"}]},
                {"id": "b", "topic": "b", "points": [{"casdu": 1, "ioa": 2, "type": 1, "value": "a"}]}]}"#,
            )
            .unwrap_err();
        assert_eq!(e.setting(), "mappings[1].points[0].value");
        assert!(
            e.to_string()
                .starts_with("mappings[1].points[0].value: `a` is not a JSONPath (RFC 9535): "),
            "{e}"
        );
        assert_eq!(e.to_string().lines().count(), 1);
        let e = base()
            .with_managed(r#"{"mappings": [{"id": "a", "topic": "a/#/b", "points": []}]}"#)
            .unwrap_err();
        assert_eq!(e.setting(), "mappings[0].topic");
    }

    #[test]
    fn managed_silence_timeout_and_mappings_replace_the_files() {
        let l = base();
        let s = l.with_managed(CONTRACT_EXAMPLE).unwrap();
        let c = &s.mappings.config;
        assert_eq!(c.silence_timeout_s, 300);
        let ids: Vec<&str> = c.mappings.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["substation-a-climate"], "the file's are gone");
        assert_eq!(s.mappings.subscriptions(), ["sensors/+/climate"]);
        assert_eq!(c.mappings[0].points[1].silence_timeout_s, 300);
        let s = l.with_managed(r#"{"mappings": []}"#).unwrap();
        assert!(s.mappings.config.mappings.is_empty(), "an empty list too");
        assert_eq!(s.mappings.config.silence_timeout_s, 120, "the file's");
        let s = l
            .with_managed(r#"{"silence_timeout": 5, "mappings": []}"#)
            .unwrap();
        assert_eq!(s.mappings.config.silence_timeout_s, 5);
    }

    #[test]
    fn a_deleted_key_gives_back_the_start_up_settings() {
        let l = base();
        let start = l.settings().unwrap();
        assert_eq!(start.mappings.config.mappings.len(), 2);
        let s = l.with_managed(r#"{"log_level": "warning"}"#).unwrap();
        assert_eq!(s.mappings, start.mappings, "the file's mappings");
        assert_eq!(s.broker, start.broker);
        assert_eq!(s.log_level, LogLevel::Warning);
        assert_eq!(l.with_managed("{}").unwrap(), start);
        let changed = l.with_managed(CONTRACT_EXAMPLE).unwrap();
        assert_ne!(changed.mappings, start.mappings);
        assert_ne!(changed.broker, start.broker);
    }

    #[test]
    fn an_unknown_managed_key_is_refused_naming_the_allowed_ones() {
        let e = base()
            .with_managed(r#"{"mappings": [], "topics": []}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "managed configuration key \"topics\": unknown setting; allowed here: log_level, broker, silence_timeout, mappings"
        );
        let e = base().with_managed(r#"{"max_payload": 10}"#).unwrap_err();
        assert!(e.to_string().contains("\"max_payload\""), "{e}");
    }

    #[test]
    fn managed_json_that_is_not_an_object_is_refused() {
        for bad in ["", "[1]", "\"x\"", "{", "null"] {
            assert!(base().with_managed(bad).is_err(), "{bad:?}");
        }
        let e = base().with_managed(r#"{"log_level": "loud"}"#).unwrap_err();
        assert_eq!(e.setting(), "log_level");
    }
}

#[test]
fn a_broker_table_in_the_file_is_refused_the_file_names_section_mqtt() {
    jail(|jail| {
        jail.create_file("a.toml", "[broker]\nhost = \"mosquitto\"\n")?;
        let err = load_err(&args(&["--config", "a.toml"]));
        assert_eq!(err.setting(), "broker");
        assert!(
            err.to_string()
                .starts_with("broker: unknown setting; allowed here: "),
            "{err}"
        );
        Ok(())
    });
}
