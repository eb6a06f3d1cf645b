//! Every Valkey key name of the data contract, spelled once: the process
//! image's keys, a connector's managed configuration and status keys, and
//! the default name of the update stream. Whoever needs a key name (the
//! writer, the image reader, the watch, the data point's
//! [`image_key`](crate::contract::DataPoint::image_key)) takes it from here.

/// The process image key of one point: `process:image:casdu:{CASDU}:ioa:{IOA}`.
pub fn image_key(casdu: u16, ioa: u32) -> String {
    format!("{IMAGE_PREFIX}{casdu}:ioa:{ioa}")
}

/// What every image key starts with.
const IMAGE_PREFIX: &str = "process:image:casdu:";

/// The `SCAN` pattern of the process image's keys.
pub const IMAGE_PATTERN: &str = "process:image:casdu:*:ioa:*";

/// The form of an image key, for messages about keys that do not have it.
pub const IMAGE_KEY_FORM: &str = "process:image:casdu:{CASDU}:ioa:{IOA}";

/// `process:image:casdu:{CASDU}:ioa:{IOA}` → (CASDU, IOA); decimal, no
/// sign, no padding, in range: only what [`image_key`] writes.
pub fn parse_image_key(key: &str) -> Option<(u16, u32)> {
    let rest = key.strip_prefix(IMAGE_PREFIX)?;
    let (ca, rest) = rest.split_once(':')?;
    let ioa = rest.strip_prefix("ioa:")?;
    let canonical = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    if !canonical(ca) || !canonical(ioa) {
        return None;
    }
    let ca: u16 = ca.parse().ok()?;
    let ioa: u32 = ioa.parse().ok()?;
    (ioa <= 0xFF_FFFF).then_some((ca, ioa))
}

/// The managed configuration key (and channel) of a connector:
/// `connectors:{ID}:config`.
pub fn config_key(id: &str) -> String {
    format!("connectors:{id}:config")
}

/// The status key of a connector: `connectors:{ID}:status`.
pub fn status_key(id: &str) -> String {
    format!("connectors:{id}:status")
}

/// The update stream's name unless `redis.in_stream` names another.
pub const DEFAULT_STREAM: &str = "process:updates";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_keys_parse_only_in_their_canonical_form() {
        assert_eq!(
            parse_image_key("process:image:casdu:1:ioa:200"),
            Some((1, 200))
        );
        assert_eq!(parse_image_key("process:image:casdu:0:ioa:0"), Some((0, 0)));
        assert_eq!(
            parse_image_key("process:image:casdu:65535:ioa:16777215"),
            Some((65535, 0xFF_FFFF))
        );
        for bad in [
            "process:image:casdu:65536:ioa:1",
            "process:image:casdu:1:ioa:16777216",
            "process:image:casdu:01:ioa:1",
            "process:image:casdu::ioa:1",
            "process:image:casdu:x:ioa:1",
            "process:image:casdu:1:ioa:-1",
            "process:image:casdu:1:ioa:1:extra",
            "process:image:1:1",
        ] {
            assert_eq!(parse_image_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_image_key_written_parses_back_to_its_address() {
        for (ca, ioa) in [(0, 0), (1, 200), (65535, 0xFF_FFFF)] {
            assert_eq!(parse_image_key(&image_key(ca, ioa)), Some((ca, ioa)));
        }
        assert_eq!(image_key(100, 200), "process:image:casdu:100:ioa:200");
    }

    #[test]
    fn the_settings_default_stream_is_the_stores() {
        assert_eq!(crate::config::common::DEFAULT_IN_STREAM, DEFAULT_STREAM);
    }
}
