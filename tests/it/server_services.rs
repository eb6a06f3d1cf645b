//! The services of the `alp-connex iec104-server` binary other than
//! interrogation, on an image in a real Valkey: read, clock
//! synchronisation, test command and counter interrogation to a c104
//! master; reset process and every negative confirmation (44, 45, 46, 47,
//! and each process command refused) to the project's own master engine.

use alp_connex::iec104::asdu::Asdu;
use alp_connex::iec104::driver::Connection;
use alp_connex::iec104::elements::{Qoi, Quality};
use alp_connex::iec104::link::Event;
use alp_connex::iec104::time::Cp56Time2a;
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use serde_json::json;

use crate::interop::{CA, T, TIME_MS, assert_same_point, is_counter, station_points, summary};
use crate::server::{Server, floats, started, write_points};
use crate::support::{ValkeyGuard, c104_master};

#[test]
fn a_c104_master_reads_synchronises_tests_and_counts_against_the_server() {
    let valkey = ValkeyGuard::start();
    let image = station_points();
    write_points(&valkey, &image, Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &[]);
    let mut m = c104_master(server.port, &["--ca", "1", "--no-gi"]);
    m.expect_event("open", T);

    // Read: a counter (c104 keeps the type a point first came in; no GI
    // came before, so any type would do), in its own type with cause 5.
    let (ioa, want) = image
        .iter()
        .find(|(_, e)| e.type_id() == TypeId::M_IT_TB_1)
        .cloned()
        .expect("a timed counter in the image");
    m.send(&json!({"op": "read", "ca": CA, "ioa": ioa, "type": "M_IT_TB_1"}));
    let p = m.expect_event("point", T);
    assert_eq!(p["cot"], json!(5), "{p}");
    assert_same_point(&p, &summary(ioa, &want));
    let read = m.expect_line(|v| v["event"] == "result" && v["op"] == "read", T);
    assert_eq!(read["ok"], json!(true));

    // Clock synchronisation and test command: confirmed.
    assert_eq!(
        m.op(json!({"op": "clock_sync", "ca": CA}), T)["ok"],
        json!(true)
    );
    assert_eq!(m.op(json!({"op": "test", "ca": CA}), T)["ok"], json!(true));

    // Counter interrogation: every integrated total, cause 37.
    m.send(&json!({"op": "counter_interrogation", "ca": CA}));
    let lines = m.lines_until(|v| v["event"] == "ci_done", T);
    assert_eq!(lines.last().expect("ci_done")["ok"], json!(true));
    let got: Vec<&serde_json::Value> = lines.iter().filter(|v| v["event"] == "point").collect();
    let counters: Vec<&(u32, Element)> = image
        .iter()
        .filter(|(_, e)| is_counter(e.type_id()))
        .collect();
    assert_eq!(got.len(), counters.len(), "{lines:?}");
    for (ioa, e) in counters {
        let g = got
            .iter()
            .find(|v| v["ioa"] == json!(ioa))
            .unwrap_or_else(|| panic!("counter {ioa} missing"));
        assert_eq!(g["cot"], json!(37));
        assert_same_point(g, &summary(*ioa, e));
    }
}

/// The next ASDU the server sends.
async fn next_asdu(conn: &mut Connection) -> Asdu {
    loop {
        match tokio::time::timeout(T, conn.recv()).await.expect("in time") {
            Some(Event::Asdu(raw)) => return Asdu::decode(&raw).expect("decodes"),
            Some(Event::Closed(r)) => panic!("closed: {r:?}"),
            Some(_) => {}
            None => panic!("connection ended"),
        }
    }
}

/// Sends `raw` and returns the answer's octets.
async fn ask(conn: &mut Connection, raw: Vec<u8>) -> Vec<u8> {
    conn.send(raw).await.expect("sent");
    loop {
        match tokio::time::timeout(T, conn.recv()).await.expect("in time") {
            Some(Event::Asdu(raw)) => return raw,
            Some(Event::Closed(r)) => panic!("closed: {r:?}"),
            Some(_) => {}
            None => panic!("connection ended"),
        }
    }
}

/// A process command of `type_id` with cause 6 to IOA 1 of `CA`, as
/// octets: the element's octets are a valid command (qualifiers 0), the
/// time tag `TIME_MS` for 58..64.
fn command(type_id: u8) -> Vec<u8> {
    let element: &[u8] = match type_id {
        45..=47 | 58..=60 => &[0x01],
        48 | 49 | 61 | 62 => &[0x10, 0x20, 0x00],
        50 | 63 => &[0x00, 0x00, 0x80, 0x3F, 0x00],
        51 | 64 => &[0x01, 0x02, 0x03, 0x04],
        _ => unreachable!("not a process command"),
    };
    let [ca_lo, ca_hi] = CA.to_le_bytes();
    let mut raw = vec![type_id, 0x01, 0x06, 0x00, ca_lo, ca_hi, 0x01, 0x00, 0x00];
    raw.extend_from_slice(element);
    if type_id >= 58 {
        raw.extend_from_slice(&Cp56Time2a::from_unix_ms(TIME_MS).expect("time").0);
    }
    raw
}

#[test]
fn every_request_the_server_cannot_serve_gets_its_negative_confirmation_and_reset_is_confirmed() {
    let valkey = ValkeyGuard::start();
    write_points(&valkey, &floats(10), Cause::SPONTANEOUS);
    let server = Server::start(&valkey, &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut conn = started(server.port).await;
        let gi = |cause, ca| {
            Asdu::single(
                Cot::new(cause),
                ca,
                0,
                Element::C_IC_NA_1 {
                    qualifier: Qoi::STATION,
                },
            )
        };

        // Reset process: confirmed (nothing to reset in an image).
        let rp = Asdu::single(
            Cot::new(Cause::ACTIVATION),
            CA,
            0,
            Element::C_RP_NA_1 { qualifier: 1 },
        );
        let answer = ask(&mut conn, rp.to_bytes().expect("encodes")).await;
        assert_eq!(
            Asdu::decode(&answer).expect("decodes"),
            rp.reply(Cause::ACTIVATION_CON, false)
        );

        // 44: a type the station does not know, mirrored octet for octet.
        let reserved = vec![41u8, 0x01, 0x06, 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x5A];
        let mut want = reserved.clone();
        want[2] = 0x40 | 44;
        assert_eq!(ask(&mut conn, reserved).await, want, "44, P/N set");

        // 45: an interrogation with a cause other than activation.
        let spont = gi(Cause::SPONTANEOUS, CA);
        let answer = ask(&mut conn, spont.to_bytes().expect("encodes")).await;
        assert_eq!(
            Asdu::decode(&answer).expect("decodes"),
            spont.reply(Cause::UNKNOWN_CAUSE, true)
        );

        // 46: a common address the server does not serve.
        let other = gi(Cause::ACTIVATION, 9);
        let answer = ask(&mut conn, other.to_bytes().expect("encodes")).await;
        assert_eq!(
            Asdu::decode(&answer).expect("decodes"),
            other.reply(Cause::UNKNOWN_COMMON_ADDRESS, true)
        );

        // 47: a read (cause 5, request) of an IOA the station does not have.
        let read = Asdu::single(Cot::new(Cause::REQUEST), CA, 99, Element::C_RD_NA_1 {});
        let answer = ask(&mut conn, read.to_bytes().expect("encodes")).await;
        assert_eq!(
            Asdu::decode(&answer).expect("decodes"),
            read.reply(Cause::UNKNOWN_IOA, true)
        );

        // Every process command: a negative confirmation, never a positive one.
        for type_id in (45..=51).chain(58..=64) {
            let raw = command(type_id);
            let asked = Asdu::decode(&raw).expect("a valid command");
            let answer = Asdu::decode(&ask(&mut conn, raw).await).expect("decodes");
            assert_eq!(
                answer,
                asked.reply(Cause::ACTIVATION_CON, true),
                "type {type_id}"
            );
        }

        // The link is still up and the image untouched: a full interrogation.
        conn.send(gi(Cause::ACTIVATION, CA).to_bytes().expect("encodes"))
            .await
            .expect("sent");
        let mut ioas = Vec::new();
        loop {
            let a = next_asdu(&mut conn).await;
            if a.type_id == TypeId::C_IC_NA_1 {
                if a.cot.cause == Cause::ACTIVATION_TERMINATION {
                    break;
                }
                assert_eq!(a.cot.cause, Cause::ACTIVATION_CON);
                assert!(!a.cot.negative);
                continue;
            }
            for o in &a.objects {
                let Element::M_ME_NC_1 { value, quality } = &o.element else {
                    panic!("{o:?}");
                };
                assert_eq!((*value, *quality), (o.ioa as f32, Quality::GOOD));
                ioas.push(o.ioa);
            }
        }
        assert_eq!(ioas, (1..=10).collect::<Vec<u32>>());
    });
}
