//! What the station does with one ASDU from a master, decided without I/O
//! (IEC 60870-5-101 §7.4 and IEC 60870-5-104 §9 as lib60870 reads them):
//! a list of answers to send at once, an interrogation to stream, or a
//! malformed ASDU that closes the connection.

use tracing::debug;

use super::{PointSource, ReadResult};
use crate::iec104::asdu::{self, Asdu, AsduError, BROADCAST_CA};
use crate::iec104::elements::Qoi;
use crate::iec104::types::{Cause, Element, TypeId};

/// An ASDU the station cannot take: the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The ASDU does not decode.
    #[error(transparent)]
    Decode(#[from] AsduError),
    /// A system command carries not exactly one information object.
    #[error("{type_id} with {count} information objects, expected 1")]
    ObjectCount {
        /// The command's type.
        type_id: TypeId,
        /// The objects it carried.
        count: usize,
    },
}

/// Which points an interrogation answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// C_IC_NA_1: the station (`None`, cause 20) or a group 1..=16 (cause
    /// 21..=36); every monitor point but integrated totals, untimed.
    General { group: Option<u8>, cause: Cause },
    /// C_CI_NA_1 reading the counters (FRZ 0): general (cause 37) or a
    /// group 1..=4 (causes 38..=41; no point belongs to one).
    Counters { group: Option<u8>, cause: Cause },
    /// C_CI_NA_1 freezing or resetting (FRZ 1..=3): confirmed and
    /// terminated, no data.
    Freeze,
}

/// An interrogation to answer, station by station: ACT_CON, the data,
/// ACT_TERM, each with the station's own common address.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Interrogation {
    /// The activation, mirrored in ACT_CON and ACT_TERM.
    pub(crate) command: Asdu,
    pub(crate) kind: Kind,
    pub(crate) stations: Vec<u16>,
}

impl Interrogation {
    /// The command mirrored with `cause`, addressed to station `ca`.
    pub(crate) fn confirmation(&self, ca: u16, cause: Cause, negative: bool) -> Asdu {
        let mut a = self.command.reply(cause, negative);
        a.common_address = ca;
        a
    }
}

/// What to do with one received ASDU.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Send these ASDUs, in order.
    Reply(Vec<Vec<u8>>),
    /// Stream an interrogation answer.
    Interrogate(Interrogation),
    /// Close the connection.
    Close(Malformed),
}

fn encoded(a: &Asdu) -> Vec<u8> {
    // Answers mirror a decoded ASDU or carry one point of the source, which
    // the caller checked; an ASDU that does not encode is not sent.
    a.to_bytes().unwrap_or_default()
}

fn reply(cmd: &Asdu, cause: Cause, negative: bool) -> Action {
    Action::Reply(vec![encoded(&cmd.reply(cause, negative))])
}

/// Decides the answer to `raw`, the octets of one I-frame.
pub(crate) fn handle<S: PointSource + ?Sized>(raw: &[u8], source: &S) -> Action {
    let cmd = match Asdu::decode(raw) {
        Ok(a) => a,
        Err(AsduError::UnknownType(id)) => {
            debug!(type_id = id, "unknown type: mirrored with cause 44");
            return match asdu::mirror(raw, Cause::UNKNOWN_TYPE, true) {
                Ok(m) => Action::Reply(vec![m]),
                Err(e) => Action::Close(e.into()),
            };
        }
        Err(e) => return Action::Close(e.into()),
    };
    debug!(request = %cmd, "received");
    let t = cmd.type_id;
    let cause = cmd.cot.cause;
    if t.is_command() {
        return process_command(&cmd, source);
    }
    let expected = match t {
        TypeId::C_RD_NA_1 => Cause::REQUEST,
        TypeId::C_IC_NA_1
        | TypeId::C_CI_NA_1
        | TypeId::C_CS_NA_1
        | TypeId::C_TS_NA_1
        | TypeId::C_TS_TA_1
        | TypeId::C_RP_NA_1 => Cause::ACTIVATION,
        // Monitor types, M_EI_NA_1, parameters, file transfer and delay
        // acquisition are not served in the control direction.
        _ => return reply(&cmd, Cause::UNKNOWN_TYPE, true),
    };
    if cmd.objects.len() != 1 {
        return Action::Close(Malformed::ObjectCount {
            type_id: t,
            count: cmd.objects.len(),
        });
    }
    if cause != expected {
        return reply(&cmd, Cause::UNKNOWN_CAUSE, true);
    }
    let ca = cmd.common_address;
    if t == TypeId::C_RD_NA_1 {
        return read(&cmd, source);
    }
    let stations = if ca == BROADCAST_CA {
        source.stations()
    } else if source.stations().contains(&ca) {
        vec![ca]
    } else {
        return reply(&cmd, Cause::UNKNOWN_COMMON_ADDRESS, true);
    };
    let element = cmd.objects.first().map(|o| o.element.clone());
    let kind = match element {
        Some(Element::C_IC_NA_1 { qualifier }) => {
            let group = qualifier.group();
            let cause = if qualifier == Qoi::STATION {
                Some(Cause::INTERROGATED)
            } else {
                group.and_then(Cause::interrogated_group)
            };
            match cause {
                Some(cause) => Kind::General { group, cause },
                None => return reply(&cmd, Cause::ACTIVATION_CON, true),
            }
        }
        Some(Element::C_CI_NA_1 { qualifier }) => {
            let group = match qualifier.request() {
                5 => None,
                g @ 1..=4 => Some(g),
                _ => return reply(&cmd, Cause::ACTIVATION_CON, true),
            };
            if qualifier.freeze() != 0 {
                Kind::Freeze
            } else {
                let cause = match group {
                    None => Cause::COUNTER_REQUEST,
                    Some(g) => Cause::counter_group(g).unwrap_or(Cause::COUNTER_REQUEST),
                };
                Kind::Counters { group, cause }
            }
        }
        // Clock synchronisation, test and reset process: confirmed by each
        // station, nothing else happens (the system clock is not touched).
        _ => {
            let answers = stations
                .iter()
                .map(|&s| {
                    let mut a = cmd.reply(Cause::ACTIVATION_CON, false);
                    a.common_address = s;
                    encoded(&a)
                })
                .collect();
            return Action::Reply(answers);
        }
    };
    Action::Interrogate(Interrogation {
        command: cmd,
        kind,
        stations,
    })
}

/// C_RD_NA_1: the point in its own type with cause 5, or a negative mirror
/// (46 unknown station, also for the broadcast address; 47 unknown IOA).
fn read<S: PointSource + ?Sized>(cmd: &Asdu, source: &S) -> Action {
    let ca = cmd.common_address;
    let ioa = cmd.objects.first().map_or(0, |o| o.ioa);
    if ca == BROADCAST_CA {
        return reply(cmd, Cause::UNKNOWN_COMMON_ADDRESS, true);
    }
    match source.read(ca, ioa) {
        ReadResult::Point(element) => {
            let mut a = Asdu::single(cmd.reply(Cause::REQUEST, false).cot, ca, ioa, element);
            a.originator = cmd.originator;
            match a.to_bytes() {
                Ok(bytes) => Action::Reply(vec![bytes]),
                Err(error) => {
                    tracing::warn!(ca, ioa, %error, "point cannot be encoded: read answered with 47");
                    reply(cmd, Cause::UNKNOWN_IOA, true)
                }
            }
        }
        ReadResult::UnknownIoa => reply(cmd, Cause::UNKNOWN_IOA, true),
        ReadResult::UnknownStation => reply(cmd, Cause::UNKNOWN_COMMON_ADDRESS, true),
    }
}

/// Process commands (45-51, 58-64): there is no command path, so an
/// activation or deactivation is confirmed negatively; never positively.
fn process_command<S: PointSource + ?Sized>(cmd: &Asdu, source: &S) -> Action {
    let confirmation = match cmd.cot.cause {
        Cause::ACTIVATION => Cause::ACTIVATION_CON,
        Cause::DEACTIVATION => Cause::DEACTIVATION_CON,
        _ => return reply(cmd, Cause::UNKNOWN_CAUSE, true),
    };
    if !source.stations().contains(&cmd.common_address) {
        return reply(cmd, Cause::UNKNOWN_COMMON_ADDRESS, true);
    }
    debug!(command = %cmd, "process command refused: no command path");
    reply(cmd, confirmation, true)
}
