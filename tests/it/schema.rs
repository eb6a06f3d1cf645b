//! Every data point the contract produces validates against the shipped
//! JSON Schema (docs/schema/datapoint.schema.json), checked by the Python
//! `jsonschema` package that `scripts/test` installs in its venv; and the
//! schema rejects points that break it, so the check can fail.

use std::process::Command;
use std::sync::Arc;

use alp_connex::contract::iec104::{Reception, points_from_asdu};
use alp_connex::iec104::asdu::{Asdu, InformationObject};
use alp_connex::iec104::cursor::ReadCursor;
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use serde_json::Value;

use crate::support::{TempDir, python};

const VALIDATE: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
bad = 0
for n, line in enumerate(open(sys.argv[2])):
    errors = list(v.iter_errors(json.loads(line)))
    if errors:
        bad += 1
        print(f"line {n}: {errors[0].message}", file=sys.stderr)
print(bad)
"#;

/// Number of lines of `jsonl` the schema rejects.
fn rejected(jsonl: &str) -> usize {
    let dir = TempDir::new("schema");
    let data = dir.path().join("points.jsonl");
    std::fs::write(&data, jsonl).expect("write points");
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/schema/datapoint.schema.json"
    );
    let out = Command::new(python())
        .args(["-c", VALIDATE, schema])
        .arg(&data)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}

/// Points of every monitor type from many bit patterns, in several causes.
fn every_kind_of_point() -> Vec<String> {
    let source: Arc<str> = "schema".into();
    let mut lines = Vec::new();
    let monitor: Vec<TypeId> = TypeId::ALL
        .iter()
        .copied()
        .filter(|t| t.is_monitor())
        .collect();
    for (i, t) in monitor.iter().enumerate() {
        for pattern in [0x00u8, 0xFF, 0x5A, 0xA5, 0x81, 0x7E] {
            let bytes: Vec<u8> = (0..16u8)
                .map(|k| pattern.rotate_left(u32::from(k)) ^ k)
                .collect();
            let Ok(element) = Element::read(*t, &mut ReadCursor::new(&bytes)) else {
                continue;
            };
            let mut cot = Cot::new(if pattern == 0 {
                Cause::SPONTANEOUS
            } else {
                Cause::INTERROGATED
            });
            cot.test = pattern == 0xFF;
            cot.negative = pattern == 0x5A;
            let asdu = Asdu {
                type_id: *t,
                sequence: false,
                cot,
                originator: pattern,
                common_address: u16::from(pattern) * 257,
                objects: vec![InformationObject::new(
                    u32::try_from(i).unwrap_or(0) * 1000 + 0xFF_0000,
                    element,
                )],
            };
            for p in points_from_asdu(
                &asdu,
                Reception {
                    source: &source,
                    received: 1_795_252_530_125,
                    zone: &alp_connex::iec104::time::UTC,
                },
            ) {
                lines.push(p.to_json());
            }
        }
    }
    lines
}

#[test]
fn every_data_point_validates_against_the_json_schema() {
    let lines = every_kind_of_point();
    assert!(
        lines.len() >= 31 * 5,
        "every monitor type, several patterns: {}",
        lines.len()
    );
    // Some patterns give time tags out of range: time null with time_error.
    assert!(lines.iter().any(|l| l.contains("time_error")));
    assert_eq!(rejected(&(lines.join("\n") + "\n")), 0);
}

#[test]
fn the_schema_rejects_points_that_break_it() {
    let good: Value = serde_json::from_str(&every_kind_of_point()[0]).expect("json");
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v.to_string()
    };
    let cases = [
        broken(&|v| {
            v.as_object_mut().map(|o| o.remove("quality"));
        }),
        broken(&|v| v["casdu"] = 70000.into()),
        broken(&|v| v["quality"]["xx"] = true.into()),
        broken(&|v| v["time"] = "yesterday".into()),
        broken(&|v| v["type_id"] = 45.into()),
    ];
    assert_eq!(rejected(&(cases.join("\n") + "\n")), cases.len());
}
