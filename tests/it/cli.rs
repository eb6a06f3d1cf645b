//! The binary's contract for configuration: exit status and output.

use std::process::{Command, Output};

fn alp_connex(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alp-connex"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ALP_CONNEX_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(args).envs(env.iter().copied());
    cmd.output().expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_documented_command_line_is_accepted_with_the_password_masked() {
    // The command line of the user documentation, verbatim, checked only:
    // --check-config connects to nothing (10.0.0.5 is no test's target).
    let line = "iec104-inbound --id rtu-a --log-level debug client --host 10.0.0.5 --port 2404 --t1 15 -k 12 -w 8 redis --host valkey:6379 --pwd secret --stream-max-length 5000 --in-stream process:updates";
    let mut argv: Vec<&str> = line.split_whitespace().collect();
    argv.insert(1, "--check-config");
    let out = alp_connex(&argv, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for expected in [
        "\"10.0.0.5\"",
        "port: 2404",
        "t1: 15s",
        "k: 12",
        "w: 8",
        "\"valkey\"",
        "port: 6379",
        "***",
        "stream_max_length: 5000",
        "\"process:updates\"",
    ] {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }
    assert!(!shown.contains("secret"), "{shown}");
}

#[test]
fn a_port_of_70000_exits_2_with_one_error_line() {
    let out = alp_connex(
        &["iec104-inbound", "--id", "a", "client", "--port", "70000"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "error: client.port = 70000: must be in 1..=65535\n"
    );
}

#[test]
fn the_counter_interrogation_mode_is_checked_naming_the_setting_and_the_modes() {
    let out = alp_connex(
        &["iec104-inbound", "--check-config", "--id", "a"],
        &[("ALP_CONNEX_CLIENT__COUNTER_INTERROGATION_MODE", "often")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "error: client.counter_interrogation_mode = \"often\": must be one of read, freeze, freeze-reset, reset, off\n"
    );
    let out = alp_connex(
        &["iec104-inbound", "--check-config", "--id", "a"],
        &[
            (
                "ALP_CONNEX_CLIENT__COUNTER_INTERROGATION_MODE",
                "freeze-reset",
            ),
            ("ALP_CONNEX_CLIENT__INTERROGATION_TIMEOUT_S", "90"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("counter_interrogation_mode: FreezeReset"),
        "{shown}"
    );
    assert!(shown.contains("interrogation_timeout: 90s"), "{shown}");
}

#[test]
fn an_unknown_environment_variable_exits_2_naming_it() {
    let out = alp_connex(
        &["iec104-inbound", "--id", "a"],
        &[("ALP_CONNEX_REDIS__PASSWORD", "hunter2")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ALP_CONNEX_REDIS__PASSWORD: unknown"),
        "{err}"
    );
    assert!(!err.contains("hunter2"));
}

#[test]
fn a_command_line_syntax_error_exits_2() {
    let out = alp_connex(&["iec104-inbound", "--log-level", "loud"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: invalid value 'loud'"));
}

#[test]
fn a_zone_name_is_checked_and_an_unknown_one_exits_2_with_one_error_line() {
    let out = alp_connex(
        &["iec104-inbound", "--check-config", "--log-level", "off"],
        &[
            ("ALP_CONNEX_ID", "a"),
            ("ALP_CONNEX_CLIENT__TIME_ZONE", "Europe/Berlin"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Europe/Berlin"));
    let out = alp_connex(
        &["iec104-inbound", "--check-config"],
        &[
            ("ALP_CONNEX_ID", "a"),
            ("ALP_CONNEX_CLIENT__TIME_ZONE", "Europe/Atlantis"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "error: client.time_zone = \"Europe/Atlantis\": must be \"UTC\" or a fixed offset"
        ) && err.ends_with("such as \"Europe/Berlin\"\n")
            && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn log_level_off_prints_nothing() {
    // A valid check logs nothing at level off (its result goes to stdout);
    // an invalid setting still prints its one error line.
    let out = alp_connex(
        &["iec104-inbound", "--check-config", "--log-level", "off"],
        &[("ALP_CONNEX_ID", "a")],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn config_gen_output_is_accepted_back_as_the_config_file() {
    let out = alp_connex(&["iec104-inbound", "config-gen"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let path = std::env::temp_dir().join(format!("alp-connex-cli-{}.toml", std::process::id()));
    std::fs::write(&path, &out.stdout).expect("temp file");
    let path_text = path.to_str().expect("utf-8 temp path");
    let back = alp_connex(
        &[
            "iec104-inbound",
            "--check-config",
            "--log-level",
            "off",
            "--config",
            path_text,
        ],
        &[("ALP_CONNEX_ID", "rtu-a")],
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
}

/// The `iec104-server` command line of the documentation, verbatim.
const SERVER_LINE: &str = "iec104-server --id scada-gw --log-level info server --bind 0.0.0.0 --port 2404 --t1 15 -k 12 -w 8 --max-connections 5 --allow 10.0.0.0/8 redis --host valkey:6379 --in-stream process:updates";

#[test]
fn the_documented_server_line_is_accepted_by_check_config() {
    let mut argv: Vec<&str> = SERVER_LINE.split_whitespace().collect();
    argv.insert(1, "--check-config");
    let out = alp_connex(&argv, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for expected in [
        "\"scada-gw\"",
        "bind: 0.0.0.0",
        "port: 2404",
        "t1: 15s",
        "k: 12",
        "w: 8",
        "max_connections: 5",
        "10.0.0.0/8",
        "queue: 10000",
        "\"valkey\"",
        "port: 6379",
        "\"process:updates\"",
    ] {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }
}

#[test]
fn a_bad_server_allow_exits_2_with_one_error_line() {
    let out = alp_connex(
        &[
            "iec104-server",
            "--check-config",
            "--id",
            "a",
            "server",
            "--allow",
            "10.0.0.0/33",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: server.allow = \"10.0.0.0/33\": must be"),
        "{err}"
    );
}

#[test]
fn help_lists_the_roles_that_run() {
    let help = alp_connex(&["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    let shown = text(&help.stdout);
    // The first word of each line of the command list.
    let commands: Vec<&str> = shown
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for role in [
        "iec104-inbound",
        "iec104-server",
        "mqtt",
        "backend",
        "rtu-sim",
        "mqtt-sim",
    ] {
        assert!(commands.contains(&role), "{role} in {shown}");
    }
}

#[test]
fn server_config_gen_output_is_accepted_back_as_the_config_file() {
    let out = alp_connex(&["iec104-server", "config-gen"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let gen_text = text(&out.stdout);
    assert!(gen_text.contains("\n[server]\n"), "{gen_text}");
    let path =
        std::env::temp_dir().join(format!("alp-connex-cli-server-{}.toml", std::process::id()));
    std::fs::write(&path, &out.stdout).expect("temp file");
    let path_text = path.to_str().expect("utf-8 temp path");
    let back = alp_connex(
        &["iec104-server", "--check-config", "--config", path_text],
        &[
            ("ALP_CONNEX_ID", "scada-gw"),
            ("ALP_CONNEX_SERVER__PORT", "2405"),
        ],
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    assert!(text(&back.stdout).contains("port: 2405"));
}

/// The `mqtt` command line of docs/mqtt.md, verbatim.
const MQTT_LINE: &str = "mqtt --id mqtt-1 --log-level debug mqtt --host mosquitto --port 1883 --client-id alp-mqtt-1 --username ingest --password-file /run/secrets/mqtt --qos 1 --protocol 5 redis --host valkey:6379 --stream-max-length 5000 --in-stream process:updates";

/// A file under the temp directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("alp-connex-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn the_documented_mqtt_line_is_accepted_by_check_config_with_the_password_masked() {
    // --check-config connects to nothing (mosquitto and valkey are no test's
    // targets); the password file of the line is put in the temp directory.
    let pwd = TempFile::new("mqtt-pwd", "s3cret\n");
    let mut argv: Vec<&str> = MQTT_LINE
        .split_whitespace()
        .map(|a| {
            if a == "/run/secrets/mqtt" {
                pwd.path()
            } else {
                a
            }
        })
        .collect();
    argv.insert(1, "--check-config");
    let out = alp_connex(&argv, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for expected in [
        "id: \"mqtt-1\"",
        "log_level: Debug",
        "host: \"mosquitto\"",
        "port: 1883",
        "client_id: \"alp-mqtt-1\"",
        "\"ingest\"",
        "password: Some(\n            ***,\n        )",
        "tls: None",
        "qos: 1",
        "protocol: V5",
        "keep_alive: 30s",
        "persistent_session: true",
        "session_expiry_s: 86400",
        "max_payload: 262144",
        "\"valkey\"",
        "port: 6379",
        "stream_max_length: 5000",
        "\"process:updates\"",
        "\nwarning: the broker password is sent in clear text without mqtt.tls\n",
        "\nwarning: no mappings: the connector subscribes to nothing until the managed configuration gives some\n",
    ] {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn the_demo_mappings_are_accepted_by_check_config_without_a_warning() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo/mqtt.toml");
    let out = alp_connex(
        &[
            "mqtt",
            "--check-config",
            "--id",
            "demo-mqtt",
            "--config",
            demo,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for expected in [
        "silence_timeout_s: 60",
        "mappings: 10",
        "points: 22",
        "\"ss-01-climate-ts-1\"",
    ] {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }
    assert!(!shown.contains("warning:"), "{shown}");
}

/// Environment variables of one run.
type Env<'a> = &'a [(&'a str, &'a str)];

#[test]
fn bad_mqtt_settings_exit_2_with_one_documented_error_line() {
    let pwd = TempFile::new("mqtt-conflict-pwd", "from-file");
    let missing = std::env::temp_dir().join(format!(
        "alp-connex-cli-{}-no-such-ca.pem",
        std::process::id()
    ));
    let missing = missing.to_str().expect("utf-8 temp path");
    let cases: [(&[&str], Env, String); 6] = [
        (
            &["mqtt", "--id", "a", "mqtt", "--qos", "2"],
            &[],
            "error: mqtt.qos = 2: must be in 0..=1\n".into(),
        ),
        (
            &["mqtt", "--id", "a"],
            &[("ALP_CONNEX_MQTT__KEEP_ALIVE", "0")],
            "error: mqtt.keep_alive = 0: must be in 5..=65535 (seconds)\n".into(),
        ),
        (
            &[
                "mqtt",
                "--id",
                "a",
                "mqtt",
                "--ca-file",
                "/etc/alp-connex/ca.pem",
            ],
            &[],
            "error: mqtt.ca_file = /etc/alp-connex/ca.pem: is used only with mqtt.tls = true\n"
                .into(),
        ),
        (
            &[
                "mqtt",
                "--id",
                "a",
                "mqtt",
                "--tls",
                "--cert-file",
                "/etc/c.pem",
            ],
            &[],
            "error: mqtt.key_file = (not set): mqtt.cert_file and mqtt.key_file go together\n"
                .into(),
        ),
        (
            &[
                "mqtt",
                "--id",
                "a",
                "mqtt",
                "--username",
                "u",
                "--password-file",
                pwd.path(),
            ],
            &[("ALP_CONNEX_MQTT__PASSWORD", "hunter2")],
            "error: mqtt.password: give either mqtt.password or mqtt.password_file, not both\n"
                .into(),
        ),
        (
            &["mqtt", "--id", "a", "mqtt", "--tls", "--ca-file", missing],
            &[],
            format!("error: mqtt.ca_file = {missing}: cannot read: "),
        ),
    ];
    for (argv, env, line) in cases {
        let out = alp_connex(argv, env);
        assert_eq!(out.status.code(), Some(2), "{argv:?}");
        assert_eq!(text(&out.stdout), "", "{argv:?}");
        let err = text(&out.stderr);
        assert!(err.starts_with(&line), "{argv:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            !err.contains("hunter2") && !err.contains("from-file"),
            "{err}"
        );
    }
}

#[test]
fn a_bad_mapping_in_the_file_exits_2_naming_its_place() {
    let file = TempFile::new(
        "mqtt-bad-mapping.toml",
        "id = \"a\"\n[[mappings]]\nid = \"m\"\ntopic = \"s/+\"\npoints = [{ casdu = 1, ioa = 1, type = \"M_XX_NA_1\", value = \"$.v\" }]\n",
    );
    let out = alp_connex(&["mqtt", "--check-config", "--config", file.path()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "error: mappings[0].points[0].type: \"M_XX_NA_1\" is not a monitor type the connector writes; allowed: M_SP_NA_1 (1), "
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn mqtt_config_gen_output_is_accepted_back_as_the_config_file() {
    let out = alp_connex(&["mqtt", "config-gen"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let file = TempFile::new("mqtt-gen.toml", &text(&out.stdout));
    let back = alp_connex(
        &["mqtt", "--check-config", "--config", file.path()],
        &[("ALP_CONNEX_ID", "mqtt-1")],
    );
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    assert!(text(&back.stdout).contains("client_id: \"alp-connex-mqtt-1\""));
}

/// The `backend` command line of docs/backend.md, verbatim.
const BACKEND_LINE: &str = "backend --id backend http --bind 0.0.0.0 --port 8080 database --url postgres://alp_connex@db:5432/alp_connex redis --host valkey:6379 oidc --issuer https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0 --audience api://alp-connex";

#[test]
fn the_documented_backend_line_is_accepted_by_check_config() {
    let mut argv: Vec<&str> = BACKEND_LINE.split_whitespace().collect();
    argv.insert(1, "--check-config");
    let out = alp_connex(&argv, &[("ALP_CONNEX_DATABASE__PASSWORD", "s3cret")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for expected in [
        "id: \"backend\"",
        "bind: 0.0.0.0",
        "port: 8080",
        "max_body: 1048576",
        "target: \"db:5432\"",
        "user: \"alp_connex\"",
        "dbname: \"alp_connex\"",
        "password: Some(\n            ***,\n        )",
        "tls: \"off\"",
        "pool_size: 8",
        "host: \"valkey\"",
        "issuer: \"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0\"",
        "audience: \"api://alp-connex\"",
        "roles_claim: \"roles\"",
        "reader_role: \"ALP.Reader\"",
        "\nwarning: database: the connection to db:5432 is not encrypted",
    ] {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn bad_backend_settings_exit_2_with_one_documented_error_line() {
    let pwd = TempFile::new("backend-pwd", "from-file");
    let oidc: Env = &[
        (
            "ALP_CONNEX_OIDC__ISSUER",
            "https://login.microsoftonline.com/t/v2.0",
        ),
        ("ALP_CONNEX_OIDC__AUDIENCE", "api://alp-connex"),
    ];
    let with_url: Env = &[
        (
            "ALP_CONNEX_OIDC__ISSUER",
            "https://login.microsoftonline.com/t/v2.0",
        ),
        ("ALP_CONNEX_OIDC__AUDIENCE", "api://alp-connex"),
        ("ALP_CONNEX_DATABASE__URL", "postgres://u:hunter2@db/alp"),
    ];
    let cases: [(&[&str], Env, &str); 10] = [
        (
            &["backend", "--id", "b", "--insecure-no-auth"],
            &[],
            "error: http.bind = 0.0.0.0: must be a loopback address (127.0.0.1, ::1) with insecure_no_auth: the API would be open to the network without authentication\n",
        ),
        (
            &["backend", "--id", "b"],
            &[],
            "error: oidc.issuer = (not set): required, give --issuer (section oidc), ALP_CONNEX_OIDC__ISSUER or oidc.issuer in the --config file; or --insecure-no-auth with a loopback http.bind\n",
        ),
        (
            &["backend", "--id", "b", "http", "--port", "70000"],
            oidc,
            "error: http.port = 70000: must be in 1..=65535\n",
        ),
        (
            &["backend", "--id", "b", "http", "--max-body", "10"],
            oidc,
            "error: http.max_body = 10: must be in 1024..=67108864\n",
        ),
        (
            &["backend", "--id", "b", "database", "--pool-size", "0"],
            oidc,
            "error: database.pool_size = 0: must be in 1..=256\n",
        ),
        (
            &[
                "backend",
                "--id",
                "b",
                "database",
                "--url",
                "postgres://u:hunter2@db/alp",
            ],
            oidc,
            "error: database.url = postgres://u:***@db/alp: holds a password, which other local users can read on a command line: give the URL by ALP_CONNEX_DATABASE__URL or the --config file, or the password by --password-file\n",
        ),
        (
            &["backend", "--id", "b", "database", "--host", "db"],
            with_url,
            "error: database.url: give either database.url or database.host, not both\n",
        ),
        (
            &[
                "backend",
                "--id",
                "b",
                "database",
                "--password-file",
                pwd.path(),
            ],
            with_url,
            "error: database.password_file: give either database.password_file or database.url, not both\n",
        ),
        (
            &[
                "backend",
                "--id",
                "b",
                "oidc",
                "--issuer",
                "http://login.example.com/t",
            ],
            &[("ALP_CONNEX_OIDC__AUDIENCE", "api://x")],
            "error: oidc.issuer = \"http://login.example.com/t\": must be an https:// URL (http:// only for a loopback host) without query or fragment\n",
        ),
        (
            &["backend", "--id", "b", "oidc", "--reader-role", "ALP.Admin"],
            oidc,
            "error: oidc.admin_role = \"ALP.Admin\": must differ from oidc.reader_role\n",
        ),
    ];
    for (argv, env, line) in cases {
        let out = alp_connex(argv, env);
        assert_eq!(out.status.code(), Some(2), "{argv:?}");
        assert_eq!(text(&out.stdout), "", "{argv:?}");
        let err = text(&out.stderr);
        assert_eq!(err, line, "{argv:?}");
        assert!(
            !err.contains("hunter2") && !err.contains("from-file"),
            "{err}"
        );
    }
}

#[test]
fn backend_config_gen_output_is_accepted_back_as_the_config_file() {
    let out = alp_connex(&["backend", "config-gen"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let file = TempFile::new("backend-gen.toml", &text(&out.stdout));
    let back = alp_connex(
        &[
            "backend",
            "--check-config",
            "--insecure-no-auth",
            "--config",
            file.path(),
            "http",
            "--bind",
            "127.0.0.1",
        ],
        &[("ALP_CONNEX_ID", "backend")],
    );
    assert_eq!(back.status.code(), Some(0), "{}", text(&back.stderr));
    let shown = text(&back.stdout);
    assert!(shown.contains("auth: InsecureNoAuth"), "{shown}");
    assert!(
        shown.contains("\nwarning: insecure_no_auth: the API on 127.0.0.1:8080 is served without authentication; for a local test only\n"),
        "{shown}"
    );
}

/// The golden files of `tests/it/golden/`: what the binary prints, byte for
/// byte. After a deliberate change of a text, write the file anew with the
/// command line given here (`alp-connex ARGS > tests/it/golden/FILE`).
fn assert_prints_golden(argv: &[&str], file: &str, golden: &str) {
    let out = alp_connex(argv, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{argv:?}: {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "", "{argv:?}");
    assert!(
        text(&out.stdout) == golden,
        "`alp-connex {}` differs from tests/it/golden/{file}:\n{}",
        argv.join(" "),
        text(&out.stdout)
    );
}

/// `(command line, golden file, its text)`.
macro_rules! golden {
    ($($file:literal: [$($arg:literal),*]),* $(,)?) => {
        [$((&[$($arg),*][..], $file, include_str!(concat!("golden/", $file)))),*]
    };
}

#[test]
fn config_gen_of_each_role_is_byte_for_byte_its_golden_file() {
    for (argv, file, golden) in golden![
        "iec104-inbound.config-gen.toml": ["iec104-inbound", "config-gen"],
        "iec104-server.config-gen.toml": ["iec104-server", "config-gen"],
        "mqtt.config-gen.toml": ["mqtt", "config-gen"],
        "backend.config-gen.toml": ["backend", "config-gen"],
    ] {
        assert_prints_golden(argv, file, golden);
    }
}

#[test]
fn the_help_of_each_role_and_section_is_byte_for_byte_its_golden_file() {
    for (argv, file, golden) in golden![
        "help.txt": ["--help"],
        "iec104-inbound.help.txt": ["iec104-inbound", "--help"],
        "iec104-inbound.h.txt": ["iec104-inbound", "-h"],
        "iec104-inbound.client.help.txt": ["iec104-inbound", "client", "--help"],
        "iec104-inbound.client.redis.help.txt": ["iec104-inbound", "client", "redis", "--help"],
        "iec104-inbound.redis.help.txt": ["iec104-inbound", "redis", "--help"],
        "iec104-inbound.config-gen.help.txt": ["iec104-inbound", "config-gen", "--help"],
        "iec104-server.help.txt": ["iec104-server", "--help"],
        "iec104-server.h.txt": ["iec104-server", "-h"],
        "iec104-server.server.help.txt": ["iec104-server", "server", "--help"],
        "iec104-server.server.redis.help.txt": ["iec104-server", "server", "redis", "--help"],
        "iec104-server.redis.help.txt": ["iec104-server", "redis", "--help"],
        "iec104-server.config-gen.help.txt": ["iec104-server", "config-gen", "--help"],
        "mqtt.help.txt": ["mqtt", "--help"],
        "mqtt.h.txt": ["mqtt", "-h"],
        "mqtt.mqtt.help.txt": ["mqtt", "mqtt", "--help"],
        "mqtt.mqtt.redis.help.txt": ["mqtt", "mqtt", "redis", "--help"],
        "mqtt.redis.help.txt": ["mqtt", "redis", "--help"],
        "mqtt.config-gen.help.txt": ["mqtt", "config-gen", "--help"],
        "backend.help.txt": ["backend", "--help"],
        "backend.h.txt": ["backend", "-h"],
        "backend.config-gen.help.txt": ["backend", "config-gen", "--help"],
        "backend.http.help.txt": ["backend", "http", "--help"],
        "backend.http.database.help.txt": ["backend", "http", "database", "--help"],
        "backend.http.database.redis.help.txt": ["backend", "http", "database", "redis", "--help"],
        "backend.http.database.redis.oidc.help.txt": ["backend", "http", "database", "redis", "oidc", "--help"],
        "backend.http.database.oidc.help.txt": ["backend", "http", "database", "oidc", "--help"],
        "backend.http.redis.help.txt": ["backend", "http", "redis", "--help"],
        "backend.http.redis.oidc.help.txt": ["backend", "http", "redis", "oidc", "--help"],
        "backend.http.oidc.help.txt": ["backend", "http", "oidc", "--help"],
        "backend.database.help.txt": ["backend", "database", "--help"],
        "backend.database.redis.help.txt": ["backend", "database", "redis", "--help"],
        "backend.database.redis.oidc.help.txt": ["backend", "database", "redis", "oidc", "--help"],
        "backend.database.oidc.help.txt": ["backend", "database", "oidc", "--help"],
        "backend.redis.help.txt": ["backend", "redis", "--help"],
        "backend.redis.oidc.help.txt": ["backend", "redis", "oidc", "--help"],
        "backend.oidc.help.txt": ["backend", "oidc", "--help"],
        "rtu-sim.help.txt": ["rtu-sim", "--help"],
        "mqtt-sim.help.txt": ["mqtt-sim", "--help"],
    ] {
        assert_prints_golden(argv, file, golden);
    }
}

/// The roles of `alp-connex.toml.example`, in its order.
const EXAMPLE_ROLES: [&str; 4] = ["iec104-inbound", "iec104-server", "mqtt", "backend"];
const EXAMPLE_RULE: &str =
    "# ======================================================================\n";

#[test]
fn the_example_configuration_is_every_role_s_config_gen_and_each_part_is_accepted() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/alp-connex.toml.example");
    let example = std::fs::read_to_string(path).expect("alp-connex.toml.example");
    let (head, _) = example.split_once(EXAMPLE_RULE).expect("a first part");
    let mut want = head.to_owned();
    for role in EXAMPLE_ROLES {
        let generated = alp_connex(&[role, "config-gen"], &[]);
        assert_eq!(generated.status.code(), Some(0));
        want.push_str(&format!(
            "{EXAMPLE_RULE}# {role} (alp-connex {role} config-gen)\n{EXAMPLE_RULE}\n{}\n",
            text(&generated.stdout)
        ));
    }
    want.truncate(want.len() - 1);
    assert!(
        example == want,
        "alp-connex.toml.example differs from config-gen: run scripts/example-config"
    );
    // Each part is a file its role accepts (with the one setting without a
    // default given).
    let parts: Vec<&str> = example.split(EXAMPLE_RULE).skip(1).collect();
    assert_eq!(parts.len(), EXAMPLE_ROLES.len() * 2);
    for (role, part) in EXAMPLE_ROLES.iter().zip(parts.chunks(2).map(|c| c[1])) {
        let file = TempFile::new(&format!("example-{role}.toml"), part);
        let env: &[(&str, &str)] = if *role == "backend" {
            &[
                ("ALP_CONNEX_ID", "backend"),
                ("ALP_CONNEX_INSECURE_NO_AUTH", "true"),
                ("ALP_CONNEX_HTTP__BIND", "127.0.0.1"),
            ]
        } else {
            &[("ALP_CONNEX_ID", "example")]
        };
        let out = alp_connex(&[role, "--check-config", "--config", file.path()], env);
        assert_eq!(out.status.code(), Some(0), "{role}: {}", text(&out.stderr));
    }
}
