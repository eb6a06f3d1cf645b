//! The role `mqtt`: the MQTT connector that maps sensor JSON to IEC 104
//! points in the process image (`docs/mqtt.md`), and its mapping engine,
//! pure (no I/O): what turns an MQTT message (a topic and a JSON payload)
//! into data points of the contract (`docs/contract.md`, "The MQTT
//! connector's managed configuration").
//!
//! The role:
//!
//! - [`config`]: its command line, settings, managed keys and `config-gen`
//!   text (the mappings checked by [`mapping`]).
//! - [`broker`]: the MQTT session (rumqttc, 3.1.1 or 5, TLS by [`tls`]),
//!   reconnecting with backoff, as events.
//! - [`points`]: what the connector keeps of its points (last values,
//!   deadband, silence) and its per-mapping counters, pure.
//! - [`run`]: the main loop wiring them to the connector runtime and the
//!   store's writer.
//!
//! The engine:
//!
//! - [`mapping`]: the managed configuration's shape as serde types
//!   (unknown fields refused), checked into [`mapping::MappingConfig`]: topic
//!   filters parsed, JSONPaths compiled, types, addresses, deadbands, time
//!   formats and quality specs checked. A configuration is refused as a
//!   whole with its first error, which names its place and field
//!   (`mappings[2].points[0].value: …`).
//! - [`topic`]: MQTT topic filters (`+`, `#`, `$share/GROUP/` stripped for
//!   matching) checked per the MQTT specification, and [`topic::TopicIndex`],
//!   a trie over topic levels that finds the filters matching a topic
//!   without scanning them all.
//! - [`convert`]: one payload and one mapping to data points: the `match`
//!   conditions, the value selected by JSONPath (exactly one value), `map`,
//!   `scale`/`offset`, the conversion to the point's type with the
//!   standard's ranges (clamped with `ov` or refused as invalid), `invert`,
//!   `quality`, the time stamp, and [`convert::DeadbandFilter`], the
//!   per-point deadband state.
//! - [`engine`]: the whole configuration with its topic index:
//!   [`engine::parse_payload`] reads a payload (size limit, nesting limit)
//!   and [`engine::Engine::handle`] runs it through every mapping of its
//!   topic.
//!
//! Data flow: the role receives a message, reads its payload
//! once ([`engine::parse_payload`]); the [`engine::Engine`] finds the
//! mappings of its topic through the [`topic::TopicIndex`] and, for each
//! mapping whose `match` holds, calls [`convert::convert_point`] for each
//! point. The
//! outcome says what to write: a point, nothing (the path selected no
//! single value), or "keep the last value with `iv`" — the caller holds
//! the last values and the deadband state, and counts each outcome.
//!
//! The engine's dependencies: [`crate::contract`] (the data point and its
//! RFC 3339 reader), the protocol core's type ids and normalized value, and
//! the shared log level of [`crate::config`]; no tokio, no Valkey, no
//! broker.

pub use run::run;

pub mod broker;
pub mod config;
pub mod convert;
pub mod engine;
pub mod mapping;
pub mod points;
pub mod run;
pub mod tls;
pub mod topic;
