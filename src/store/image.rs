//! Reading the whole process image back: every image key
//! ([`IMAGE_PATTERN`]) with its value, a page at a time, so that an image
//! of any size is never held as raw replies at once.
//!
//! Used by `iec104-server` to load the image it serves, and by a connector
//! at start to take over the points it wrote in an earlier run
//! ([`owned_points`]): their quality is then judged by the link-loss and
//! interrogation rules like that of any point it received, instead of
//! staying valid for ever in the image when the source is gone.
//!
//! Standalone: `SCAN` + `MGET` of each page. Cluster: `SCAN` on every
//! primary, the values by pipelined `GET`s (`MGET` cannot span hash
//! slots).

use fred::interfaces::{ClientLike, KeysInterface};
use fred::types::Value;
use futures::StreamExt;

pub use super::keys::{IMAGE_PATTERN, parse_image_key};
use super::{StoreClient, StoreConfig, StoreError, connect};
use crate::contract::DataPoint;

/// Keys asked for per `SCAN` call, and read per `MGET`.
pub const SCAN_COUNT: u32 = 1000;

/// The value of an image key as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageValue {
    /// A string value (the data point JSON, unless malformed).
    Text(String),
    /// A value that is not a string (a key of another type).
    NotText,
    /// Deleted between the `SCAN` and the read.
    Gone,
}

impl ImageValue {
    fn of(value: Value) -> Self {
        if value.is_null() {
            return ImageValue::Gone;
        }
        match value.as_str() {
            Some(s) => ImageValue::Text(s.into_owned()),
            None => ImageValue::NotText,
        }
    }
}

/// Every image key with its value, in pages of up to [`SCAN_COUNT`] handed
/// to `page` in the order read. A key of another type reads as
/// [`ImageValue::NotText`]; any other error ends the scan with it.
pub async fn scan(
    client: &StoreClient,
    mut page: impl FnMut(Vec<(String, ImageValue)>),
) -> Result<(), StoreError> {
    let client = &client.client;
    if client.is_clustered() {
        let mut keys =
            std::pin::pin!(client.scan_cluster_buffered(IMAGE_PATTERN, Some(SCAN_COUNT), None));
        let mut batch = Vec::with_capacity(SCAN_COUNT as usize);
        loop {
            let key = keys
                .next()
                .await
                .transpose()
                .map_err(|e| StoreError::command("SCAN", &e))?;
            if let Some(key) = key.as_ref().and_then(|k| k.as_str().map(str::to_owned)) {
                batch.push(key);
            }
            if batch.len() == SCAN_COUNT as usize || (key.is_none() && !batch.is_empty()) {
                let pipe = client.pipeline();
                for k in &batch {
                    pipe.get::<(), _>(k.as_str())
                        .await
                        .map_err(|e| StoreError::command("GET", &e))?;
                }
                let mut values = Vec::with_capacity(batch.len());
                for r in pipe.try_all::<Value>().await {
                    match r {
                        Ok(v) => values.push(ImageValue::of(v)),
                        Err(e) if e.details().starts_with("WRONGTYPE") => {
                            values.push(ImageValue::NotText);
                        }
                        Err(e) => return Err(StoreError::command("GET", &e)),
                    }
                }
                page(std::mem::take(&mut batch).into_iter().zip(values).collect());
            }
            if key.is_none() {
                return Ok(());
            }
        }
    }
    let mut cursor = "0".to_owned();
    loop {
        let (next, keys): (String, Vec<String>) = client
            .scan_page(cursor, IMAGE_PATTERN, Some(SCAN_COUNT), None)
            .await
            .map_err(|e| StoreError::command("SCAN", &e))?;
        if !keys.is_empty() {
            let names: Vec<&str> = keys.iter().map(String::as_str).collect();
            let values: Vec<Value> = client
                .mget(names)
                .await
                .map_err(|e| StoreError::command("MGET", &e))?;
            page(
                keys.into_iter()
                    .zip(values.into_iter().map(ImageValue::of))
                    .collect(),
            );
        }
        if next == "0" {
            return Ok(());
        }
        cursor = next;
    }
}

/// What [`owned_points`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owned {
    /// Image keys read.
    pub keys: u64,
    /// Points whose `source` is the connector, handed on.
    pub points: u64,
    /// Keys whose value is not a data point of its address (skipped).
    pub malformed: u64,
}

/// Reads the image (a connection of its own, closed afterwards) and hands
/// every data point whose `source` is `source` and whose JSON is a point of
/// its key's address to `take`. Malformed keys are counted and skipped.
pub async fn owned_points(
    cfg: &StoreConfig,
    source: &str,
    mut take: impl FnMut(DataPoint),
) -> Result<Owned, StoreError> {
    let client = connect(cfg).await?;
    let mut owned = Owned::default();
    let result = scan(&client, |page| {
        for (key, value) in page {
            owned.keys += 1;
            let ImageValue::Text(json) = value else {
                if value == ImageValue::NotText {
                    owned.malformed += 1;
                }
                continue;
            };
            match DataPoint::from_json(&json) {
                Ok(p) if Some((p.casdu, p.ioa)) == parse_image_key(&key) => {
                    if &*p.source == source {
                        owned.points += 1;
                        take(p);
                    }
                }
                _ => owned.malformed += 1,
            }
        }
    })
    .await;
    client.quit().await;
    result.map(|()| owned)
}

/// Every key matching `pattern` (a `SCAN` `MATCH` pattern), read a page
/// at a time; on a cluster, from every primary.
pub async fn scan_keys(client: &StoreClient, pattern: &str) -> Result<Vec<String>, StoreError> {
    let client = &client.client;
    let mut out = Vec::new();
    if client.is_clustered() {
        let mut keys =
            std::pin::pin!(client.scan_cluster_buffered(pattern, Some(SCAN_COUNT), None));
        while let Some(key) = keys.next().await {
            let key = key.map_err(|e| StoreError::command("SCAN", &e))?;
            if let Some(k) = key.as_str() {
                out.push(k.to_owned());
            }
        }
        return Ok(out);
    }
    let mut cursor = "0".to_owned();
    loop {
        let (next, keys): (String, Vec<String>) = client
            .scan_page(cursor, pattern, Some(SCAN_COUNT), None)
            .await
            .map_err(|e| StoreError::command("SCAN", &e))?;
        out.extend(keys);
        if next == "0" {
            return Ok(out);
        }
        cursor = next;
    }
}
