//! `config-gen`: a commented TOML file of every setting, rendered from
//! the role's defaults ([`RoleSettings::Raw`]) and
//! [`RoleSettings::setting_docs`], so it cannot drift from the code.

use std::fmt::Write as _;

use figment::Figment;
use figment::providers::Serialized;
use figment::value::Value;

use super::{ENV_PREFIX, RoleSettings};

/// The commented default configuration file of role `S`.
pub fn generate_for<S: RoleSettings>() -> String {
    let defaults = Figment::from(Serialized::defaults(S::Raw::default()));
    let example = S::ENV_EXAMPLE_KEY;
    let example_env = format!(
        "{ENV_PREFIX}{}",
        example.to_ascii_uppercase().replace('.', "__")
    );
    let mut out = format!(
        "# alp-connex {} configuration (pass with --config PATH).\n\
         # Precedence: defaults < this file < ALP_CONNEX_* environment < command line.\n\
         # Environment names: ALP_CONNEX_ and the key in capitals, sections joined by a\n\
         # double underscore: {example_env} for {example}.\n",
        S::ROLE
    );
    let mut section = "";
    for setting in S::setting_docs() {
        let (sec, name) = setting.key.rsplit_once('.').unwrap_or(("", setting.key));
        if sec != section {
            section = sec;
            let _ = write!(out, "\n[{sec}]\n");
        }
        out.push('\n');
        let _ = writeln!(out, "# {}", setting.doc);
        match (&setting.example, defaults.find_value(setting.key)) {
            (Some(example), _) => {
                let _ = writeln!(out, "# {name} = {example}");
            }
            (None, Ok(value)) => {
                let _ = writeln!(out, "{name} = {}", render(&value));
            }
            (None, Err(_)) => {
                let _ = writeln!(out, "# {name} has no default");
            }
        }
    }
    out
}

/// A figment value as TOML.
fn render(value: &Value) -> String {
    match value {
        Value::String(_, s) => quote(s),
        Value::Char(_, c) => quote(&c.to_string()),
        Value::Bool(_, b) => b.to_string(),
        Value::Num(_, n) => match (n.to_u128(), n.to_i128(), n.to_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(i), _) => i.to_string(),
            (None, None, Some(f)) => format!("{f:?}"),
            (None, None, None) => String::from("0"),
        },
        Value::Empty(..) => String::from("\"\""),
        Value::Array(_, items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Dict(_, dict) => {
            let items: Vec<String> = dict
                .iter()
                .map(|(k, v)| format!("{} = {}", quote(k), render(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
