//! The mapping engine over a whole checked configuration: the payload read
//! with its limits, the mappings of a topic found through the
//! [`TopicIndex`], and each matching mapping's points converted.
//!
//! [`Engine::handle`] gives, per mapping whose filter matches the topic,
//! whether its `match` held and each point's [`Outcome`]; the caller
//! counts them per mapping, keeps the last values and the deadband state,
//! and writes.

use std::sync::Arc;

use serde_json::Value;

use super::convert::{Context, Outcome, convert_point, mapping_matches};
use super::mapping::MappingConfig;
use super::topic::TopicIndex;

/// The default payload size limit, bytes (256 KiB).
pub const DEFAULT_MAX_PAYLOAD: usize = 256 * 1024;

/// Why a payload is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload of {len} bytes is over the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// Not JSON, or nested deeper than serde_json's limit of 128 levels.
    #[error("payload is not JSON: {0}")]
    NotJson(String),
}

/// Reads a payload as JSON, refusing one over `max` bytes; nesting beyond
/// serde_json's recursion limit (128) is an error, never a stack overflow.
pub fn parse_payload(bytes: &[u8], max: usize) -> Result<Value, PayloadError> {
    if bytes.len() > max {
        return Err(PayloadError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| PayloadError::NotJson(e.to_string()))
}

/// What a message meant for one mapping whose filter matches its topic.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingResult {
    /// The mapping's index in the configuration.
    pub mapping: usize,
    /// Whether its `match` conditions held (if not, `points` is empty).
    pub matched: bool,
    /// Each point's index in the mapping and its outcome.
    pub points: Vec<(usize, Outcome)>,
}

/// A checked configuration with its topic index.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Arc<MappingConfig>,
    index: TopicIndex<usize>,
}

impl Engine {
    pub fn new(config: MappingConfig) -> Engine {
        Engine::shared(Arc::new(config))
    }

    /// The engine of a configuration shared with the settings.
    pub fn shared(config: Arc<MappingConfig>) -> Engine {
        let mut index = TopicIndex::new();
        for (i, m) in config.mappings.iter().enumerate() {
            index.insert(&m.topic, i);
        }
        Engine { config, index }
    }

    pub fn config(&self) -> &MappingConfig {
        &self.config
    }

    /// The indices of the mappings whose filter matches `topic`, ascending.
    pub fn mappings_for(&self, topic: &str) -> Vec<usize> {
        let mut found: Vec<usize> = self.index.find(topic).into_iter().copied().collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// One message (its payload already read) through every mapping of its
    /// topic.
    pub fn handle(&self, topic: &str, payload: &Value, ctx: &Context) -> Vec<MappingResult> {
        self.handle_mappings(&self.mappings_for(topic), payload, ctx)
    }

    /// One message through the given mappings (those of its topic, from
    /// [`Engine::mappings_for`]).
    pub fn handle_mappings(
        &self,
        mappings: &[usize],
        payload: &Value,
        ctx: &Context,
    ) -> Vec<MappingResult> {
        mappings
            .iter()
            .filter_map(|&i| {
                let mapping = self.config.mappings.get(i)?;
                let matched = mapping_matches(mapping, payload);
                let points = if matched {
                    mapping
                        .points
                        .iter()
                        .enumerate()
                        .map(|(p, point)| (p, convert_point(point, payload, ctx)))
                        .collect()
                } else {
                    Vec::new()
                };
                Some(MappingResult {
                    mapping: i,
                    matched,
                    points,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::contract::PointValue;

    fn ctx() -> Context {
        Context {
            source: Arc::from("mqtt-1"),
            received_ms: 1_795_000_000_000,
        }
    }

    #[test]
    fn a_message_reaches_every_mapping_of_its_topic_and_only_those_whose_match_holds() {
        let config = MappingConfig::from_value(json!({"mappings": [
            {"id": "climate", "topic": "sensors/+/climate", "match": {"$.device": "ts-17"},
             "points": [{"casdu": 1, "ioa": 1, "type": "M_ME_NC_1", "value": "$.temperature"}]},
            {"id": "all", "topic": "$share/g/sensors/#",
             "points": [{"casdu": 1, "ioa": 2, "type": "M_ME_NC_1", "value": "$.humidity"}]},
            {"id": "other", "topic": "doors/+",
             "points": [{"casdu": 1, "ioa": 3, "type": "M_SP_NA_1", "value": "$.open"}]}
        ]}))
        .unwrap();
        let engine = Engine::new(config);
        let payload = json!({"device": "ts-17", "temperature": 21.5, "humidity": 40});
        let results = engine.handle("sensors/a/climate", &payload, &ctx());
        assert_eq!(results.len(), 2);
        assert_eq!((results[0].mapping, results[0].matched), (0, true));
        assert_eq!((results[1].mapping, results[1].matched), (1, true));
        let values: Vec<PointValue> = results
            .iter()
            .flat_map(|r| r.points.iter())
            .map(|(_, o)| match o {
                Outcome::Write { point, .. } => point.value,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            values,
            vec![PointValue::Float(21.5), PointValue::Float(40.0)]
        );

        let other = json!({"device": "ts-18", "temperature": 1, "humidity": 2});
        let results = engine.handle("sensors/a/climate", &other, &ctx());
        assert_eq!((results[0].matched, results[0].points.len()), (false, 0));
        assert!(engine.handle("nowhere", &payload, &ctx()).is_empty());
    }

    #[test]
    fn payloads_over_the_limit_not_json_or_nested_too_deep_are_refused() {
        assert_eq!(parse_payload(br#"{"v": 1}"#, 100), Ok(json!({"v": 1})));
        assert_eq!(
            parse_payload(&[b' '; 101], 100),
            Err(PayloadError::TooLarge { len: 101, max: 100 })
        );
        assert!(matches!(
            parse_payload(b"{\"v\": ", 100),
            Err(PayloadError::NotJson(_))
        ));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse_payload(deep.as_bytes(), DEFAULT_MAX_PAYLOAD),
            Err(PayloadError::NotJson(_))
        ));
    }
}
