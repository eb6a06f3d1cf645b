//! What the backend allows a connector's configuration to be: the
//! effective managed configuration composed from a connector's settings and
//! (for `mqtt`) its linked mappings ([`compose`]), checked by the very code
//! the role runs on it ([`check`]: `Layers::with_managed` over the role's
//! defaults), and the addresses it owns ([`claims`], the contract's "one
//! owner per address", [`conflicts`]).
//!
//! ```text
//! connector row ─┬─ settings ───────────────┐
//!                └─ links ─► mapping bodies ─┴─► compose ─► effective JSON ─► check (the role's own rules) ─► Ok / Refused{field, message}
//!                                                                 └─► claims ─► conflicts(all enabled connectors) ─► 409
//! ```
//!
//! Pure: no I/O. The repository calls it inside each change's transaction,
//! so a change that would make any connector's configuration invalid, or
//! give an address a second owner, is not made.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::db::ConnectorKind;
use crate::config::{ConfigError, Layers, RoleSettings};
use crate::inbound::config::InboundSettings;
use crate::mqtt::config::MqttSettings;
use crate::server::config::Iec104ServerSettings;

/// The highest information object address (24 bits).
pub const IOA_MAX: u32 = 16_777_215;

/// A configuration the role would refuse: where (as the API names it) and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// e.g. `settings.port`, `points[0].ioa`, `mappings[1]`.
    pub field: String,
    /// The role's own message (the setting, the value, what is allowed).
    pub message: String,
}

/// The effective managed configuration of a connector: its settings, and
/// for `mqtt` the linked mappings (`(id, body)` in link order) as the
/// contract's `mappings` array.
pub fn compose(kind: ConnectorKind, settings: &Value, mappings: &[(String, Value)]) -> Value {
    let mut config = settings.as_object().cloned().unwrap_or_default();
    if kind == ConnectorKind::Mqtt {
        let elements = mappings
            .iter()
            .map(|(id, body)| mapping_element(id, body))
            .collect();
        config.insert(String::from("mappings"), Value::Array(elements));
    }
    Value::Object(config)
}

/// The contract's `mappings[]` element of a stored mapping: its id and its
/// body.
pub fn mapping_element(id: &str, body: &Value) -> Value {
    let mut element = Map::new();
    element.insert(String::from("id"), Value::String(id.to_owned()));
    if let Some(fields) = body.as_object() {
        for (k, v) in fields {
            element.insert(k.clone(), v.clone());
        }
    }
    Value::Object(element)
}

/// Checks what a connector's settings may hold before they are composed:
/// an object, and for `mqtt` no `mappings` (they come from the links).
pub fn check_settings_shape(kind: ConnectorKind, settings: &Value) -> Result<(), Refused> {
    let Some(map) = settings.as_object() else {
        return Err(refused("settings", "must be a JSON object"));
    };
    if kind == ConnectorKind::Mqtt && map.contains_key("mappings") {
        return Err(refused(
            "settings.mappings",
            "an mqtt connector's mappings are its linked mappings \
             (PUT /api/v1/connectors/{id}/mappings), not a setting",
        ));
    }
    Ok(())
}

/// Checks a connector's effective configuration with the role's own rules
/// over its defaults; errors name the field as the API shows it.
/// `link_ids` are the ids of the linked mappings, in order, for naming a
/// mapping's error.
pub fn check(
    kind: ConnectorKind,
    id: &str,
    effective: &Value,
    link_ids: &[String],
) -> Result<(), Refused> {
    let text = effective.to_string();
    match kind {
        ConnectorKind::Iec104Inbound => run_check::<InboundSettings>(id, &text)
            .map(drop)
            .map_err(settings_field::<InboundSettings>),
        ConnectorKind::Iec104Server => run_check::<Iec104ServerSettings>(id, &text)
            .map(drop)
            .map_err(settings_field::<Iec104ServerSettings>),
        ConnectorKind::Mqtt => run_check::<MqttSettings>(id, &text)
            .map(drop)
            .map_err(|e| mqtt_field(e, link_ids)),
    }
}

/// Checks one mapping on its own (`element` the contract's `mappings[]`
/// element), as an `mqtt` connector would; errors name the field inside
/// the mapping (`points[0].ioa`).
pub fn check_mapping(element: &Value) -> Result<(), Refused> {
    let config = serde_json::json!({ "mappings": [element] });
    let id = element
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("mapping");
    run_check::<MqttSettings>("dry-run", &config.to_string())
        .map(drop)
        .map_err(|e| {
            let (place, message) = parts(&e);
            let field = place
                .strip_prefix("mappings[0].")
                .or_else(|| place.strip_prefix("mappings[0]"))
                .map(|rest| {
                    if rest.is_empty() {
                        String::from(id)
                    } else {
                        rest.to_owned()
                    }
                })
                .unwrap_or(place);
            Refused { field, message }
        })
}

fn run_check<S: RoleSettings>(id: &str, text: &str) -> Result<S, ConfigError> {
    Layers::<S>::defaults_with_id(id).with_managed(text)
}

fn refused(field: impl Into<String>, message: impl Into<String>) -> Refused {
    Refused {
        field: field.into(),
        message: message.into(),
    }
}

/// The error's place (the role's setting name) and its whole message.
fn parts(e: &ConfigError) -> (String, String) {
    let place = match e {
        ConfigError::Invalid { setting, .. } => setting.clone(),
        ConfigError::Missing { setting, .. } => (*setting).to_owned(),
        ConfigError::UnknownKey { key, .. } => key
            .strip_prefix("managed configuration key ")
            .map_or_else(|| key.clone(), |k| k.trim_matches('"').to_owned()),
        ConfigError::Conflict { setting, .. } => (*setting).to_owned(),
        ConfigError::Field { place, .. } => place.clone(),
        ConfigError::File { setting, .. } => (*setting).to_owned(),
        ConfigError::UnknownEnv { name } => name.clone(),
    };
    (place, e.to_string())
}

/// `settings.KEY` for a role setting (`client.port` is managed key `port`).
fn settings_field<S: RoleSettings>(e: ConfigError) -> Refused {
    let (place, message) = parts(&e);
    let key = S::MANAGED_KEYS
        .iter()
        .find_map(|(key, path)| {
            let rest = place.strip_prefix(path)?;
            (rest.is_empty() || rest.starts_with('[')).then(|| format!("{key}{rest}"))
        })
        .unwrap_or_else(|| place.clone());
    Refused {
        field: format!("settings.{key}"),
        message,
    }
}

/// For `mqtt`: a mapping's error names the mapping (`mappings[1]` is the
/// second linked one), a broker setting is `settings.broker.X`.
fn mqtt_field(e: ConfigError, link_ids: &[String]) -> Refused {
    let (place, message) = parts(&e);
    if let Some(rest) = place.strip_prefix("mappings[") {
        let index = rest.split(']').next().and_then(|n| n.parse::<usize>().ok());
        if let Some(mapping) = index.and_then(|i| link_ids.get(i)) {
            return Refused {
                field: place.clone(),
                message: format!("mapping {mapping:?}: {message}"),
            };
        }
        return Refused {
            field: place,
            message,
        };
    }
    let field = if let Some(broker) = place.strip_prefix("mqtt.") {
        format!("settings.broker.{broker}")
    } else {
        format!("settings.{place}")
    };
    Refused { field, message }
}

/// A range of addresses a connector writes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Claim {
    /// Common address.
    pub casdu: u16,
    /// First information object address.
    pub ioa_from: u32,
    /// Last information object address (inclusive).
    pub ioa_to: u32,
    /// The connector.
    pub connector: String,
    /// The mapping whose point it is (`mqtt`); `None` for a whole station.
    pub mapping: Option<String>,
}

/// The addresses a connector's effective configuration makes it write:
/// each point of an `mqtt` connector's mappings; the whole stations of an
/// `iec104-inbound` connector's `common_addresses`; none for a server.
/// Values out of range are skipped ([`check`] refuses them).
pub fn claims(kind: ConnectorKind, connector: &str, effective: &Value) -> Vec<Claim> {
    match kind {
        ConnectorKind::Iec104Server => Vec::new(),
        ConnectorKind::Iec104Inbound => effective
            .get("common_addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|ca| ca.as_u64().and_then(|ca| u16::try_from(ca).ok()))
            .map(|casdu| Claim {
                casdu,
                ioa_from: 0,
                ioa_to: IOA_MAX,
                connector: connector.to_owned(),
                mapping: None,
            })
            .collect(),
        ConnectorKind::Mqtt => {
            let mut out = Vec::new();
            for m in effective
                .get("mappings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mapping = m.get("id").and_then(Value::as_str).map(str::to_owned);
                for p in m
                    .get("points")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let casdu = p
                        .get("casdu")
                        .and_then(Value::as_u64)
                        .and_then(|c| u16::try_from(c).ok());
                    let ioa = p
                        .get("ioa")
                        .and_then(Value::as_u64)
                        .and_then(|i| u32::try_from(i).ok())
                        .filter(|i| *i <= IOA_MAX);
                    if let (Some(casdu), Some(ioa)) = (casdu, ioa) {
                        out.push(Claim {
                            casdu,
                            ioa_from: ioa,
                            ioa_to: ioa,
                            connector: connector.to_owned(),
                            mapping: mapping.clone(),
                        });
                    }
                }
            }
            out
        }
    }
}

/// Two owners of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerConflict {
    /// Common address.
    pub casdu: u16,
    /// Information object address (the first of the overlap).
    pub ioa: u32,
    /// The owner that was there.
    pub first: Claim,
    /// The one that would be a second.
    pub second: Claim,
}

/// The first address with two owners among `claims` where one of them is
/// a claim of a connector in `changed` (conflicts among untouched
/// connectors are not this change's doing). Two claims of the same
/// connector and the same mapping are one owner.
pub fn conflicts(claims: &[Claim], changed: &[String]) -> Option<OwnerConflict> {
    let mut sorted: Vec<&Claim> = claims.iter().collect();
    // Untouched connectors' claims first, so that the one reported as
    // `first` is the existing owner.
    let touched = |c: &Claim| changed.contains(&c.connector);
    sorted.sort_by(|a, b| {
        (a.casdu, touched(a), a.ioa_from, &a.connector).cmp(&(
            b.casdu,
            touched(b),
            b.ioa_from,
            &b.connector,
        ))
    });
    let mut stations: HashMap<u16, &Claim> = HashMap::new();
    let mut points: HashMap<(u16, u32), &Claim> = HashMap::new();
    // Whole stations first, then single points.
    for pass in [true, false] {
        for c in sorted.iter().filter(|c| (c.mapping.is_none()) == pass) {
            let same = |o: &Claim| o.connector == c.connector && o.mapping == c.mapping;
            if let Some(o) = stations.get(&c.casdu) {
                if !same(o) && (touched(o) || touched(c)) {
                    // The owner that was there first, the change's second.
                    let (first, second) = if touched(o) && !touched(c) {
                        (*c, *o)
                    } else {
                        (*o, *c)
                    };
                    return Some(OwnerConflict {
                        casdu: c.casdu,
                        ioa: c.ioa_from,
                        first: first.clone(),
                        second: second.clone(),
                    });
                }
                continue;
            }
            if pass {
                stations.insert(c.casdu, c);
                continue;
            }
            match points.get(&(c.casdu, c.ioa_from)) {
                Some(o) if !same(o) && (touched(o) || touched(c)) => {
                    return Some(OwnerConflict {
                        casdu: c.casdu,
                        ioa: c.ioa_from,
                        first: (*o).clone(),
                        second: (*c).clone(),
                    });
                }
                Some(_) => {}
                None => {
                    points.insert((c.casdu, c.ioa_from), c);
                }
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
