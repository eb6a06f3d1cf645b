//! A controlled station (RTU) written with raw sockets in the test, for
//! answers no library RTU gives: one ACT_CON/ACT_TERM pair at the broadcast
//! address for several stations, data held back, spontaneous data in the
//! middle of an interrogation.
//!
//! [`RawRtu`] listens on a free loopback port; [`RawRtu::accept`] takes one
//! connection and hands it to a reader thread that answers the link layer
//! by itself (STARTDT, STOPDT and TESTFR confirmations, an S-frame for
//! every I-frame) and passes every received ASDU to the test, decoded.
//! The test sends ASDUs with [`RawLink::send`]; they carry the current
//! receive sequence number, as the standard requires.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use alp_connex::iec104::asdu::{Asdu, InformationObject, pack};
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};

use super::process::POLL;

const STARTDT_ACT: u8 = 0x07;
const STARTDT_CON: u8 = 0x0B;
const STOPDT_ACT: u8 = 0x13;
const STOPDT_CON: u8 = 0x23;
const TESTFR_ACT: u8 = 0x43;
const TESTFR_CON: u8 = 0x83;

/// A listening raw RTU.
pub struct RawRtu {
    listener: TcpListener,
}

impl RawRtu {
    /// Listens on a free port of 127.0.0.1.
    pub fn bind() -> RawRtu {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        RawRtu { listener }
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().expect("bound address").port()
    }

    /// Takes the next connection within `timeout`.
    pub fn accept(&self, timeout: Duration) -> RawLink {
        let deadline = Instant::now() + timeout;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => return RawLink::start(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        panic!("raw RTU: no connection within {timeout:?}");
                    }
                    thread::sleep(POLL);
                }
                Err(e) => panic!("raw RTU: accept failed: {e}"),
            }
        }
    }
}

/// The sending half: sequence numbers live with the stream they number.
struct Sender {
    stream: TcpStream,
    ns: u16,
    nr: u16,
}

impl Sender {
    fn u_frame(&mut self, code: u8) -> io::Result<()> {
        self.stream.write_all(&[0x68, 4, code, 0, 0, 0])
    }

    fn s_frame(&mut self) -> io::Result<()> {
        let [a, b] = (self.nr << 1).to_le_bytes();
        self.stream.write_all(&[0x68, 4, 0x01, 0, a, b])
    }

    fn i_frame(&mut self, asdu: &[u8]) -> io::Result<()> {
        let len = u8::try_from(asdu.len() + 4).map_err(|_| io::Error::other("ASDU too long"))?;
        let mut f = vec![0x68, len];
        f.extend_from_slice(&(self.ns << 1).to_le_bytes());
        f.extend_from_slice(&(self.nr << 1).to_le_bytes());
        f.extend_from_slice(asdu);
        self.stream.write_all(&f)?;
        self.ns = (self.ns + 1) & 0x7FFF;
        Ok(())
    }
}

/// What the reader thread passes on.
#[derive(Debug)]
pub enum Received {
    /// A decoded ASDU of an I-frame.
    Asdu(Asdu),
    /// An I-frame whose ASDU does not decode (hex of the ASDU).
    Undecodable(String),
}

/// One accepted connection.
pub struct RawLink {
    sender: Arc<Mutex<Sender>>,
    received: Receiver<Received>,
    stream: TcpStream,
}

impl RawLink {
    fn start(stream: TcpStream) -> RawLink {
        stream.set_nonblocking(false).expect("blocking stream");
        stream.set_nodelay(true).expect("nodelay");
        let sender = Arc::new(Mutex::new(Sender {
            stream: stream.try_clone().expect("clone stream"),
            ns: 0,
            nr: 0,
        }));
        let (tx, rx) = mpsc::channel();
        let reader = stream.try_clone().expect("clone stream");
        let s = Arc::clone(&sender);
        thread::spawn(move || read_loop(reader, &s, &tx));
        RawLink {
            sender,
            received: rx,
            stream,
        }
    }

    /// Sends one ASDU in an I-frame.
    pub fn send(&self, asdu: &Asdu) {
        let bytes = asdu
            .to_bytes()
            .unwrap_or_else(|e| panic!("raw RTU: cannot encode {asdu:?}: {e}"));
        let mut s = self.sender.lock().expect("sender lock");
        s.i_frame(&bytes)
            .unwrap_or_else(|e| panic!("raw RTU: cannot send: {e}"));
    }

    /// Sends every ASDU, in order.
    pub fn send_all(&self, asdus: &[Asdu]) {
        for a in asdus {
            self.send(a);
        }
    }

    /// The next received ASDU within `timeout`; `None` when none came or the
    /// connection closed.
    pub fn next(&self, timeout: Duration) -> Option<Received> {
        self.received.recv_timeout(timeout).ok()
    }

    /// The next received ASDU of `type_id` within `timeout` (others are
    /// skipped and returned too, for the failure message or the test).
    pub fn next_of(&self, type_id: TypeId, timeout: Duration) -> (Option<Asdu>, Vec<Received>) {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(Received::Asdu(a)) if a.type_id == type_id => return (Some(a), skipped),
                Some(other) => skipped.push(other),
                None => return (None, skipped),
            }
        }
    }

    /// Closes the connection (FIN both ways).
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

impl Drop for RawLink {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn read_loop(mut stream: TcpStream, sender: &Mutex<Sender>, tx: &mpsc::Sender<Received>) {
    loop {
        let mut head = [0u8; 2];
        if stream.read_exact(&mut head).is_err() || head[0] != 0x68 || head[1] < 4 {
            return;
        }
        let mut body = vec![0u8; usize::from(head[1])];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        let Ok(mut s) = sender.lock() else { return };
        let sent = match body[0] & 0x03 {
            0 | 2 => {
                s.nr = (s.nr + 1) & 0x7FFF;
                let raw = &body[4..];
                let received = match Asdu::decode(raw) {
                    Ok(a) => Received::Asdu(a),
                    Err(_) => Received::Undecodable(hex(raw)),
                };
                let acked = s.s_frame();
                if tx.send(received).is_err() {
                    return;
                }
                acked
            }
            1 => Ok(()),
            _ => match body[0] {
                STARTDT_ACT => s.u_frame(STARTDT_CON),
                STOPDT_ACT => s.u_frame(STOPDT_CON),
                TESTFR_ACT => s.u_frame(TESTFR_CON),
                _ => Ok(()),
            },
        };
        if sent.is_err() {
            return;
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The answer to a command of the monitor's own kind: ACT_CON, `data`
/// (each station's objects of one type packed together, in order) with
/// `cause`, ACT_TERM. Confirmation and termination carry the command's
/// common address, whether one station or the broadcast address.
pub fn command_answer(command: &Asdu, cause: Cause, data: &[(u16, u32, Element)]) -> Vec<Asdu> {
    let mut out = vec![command.reply(Cause::ACTIVATION_CON, false)];
    out.extend(pack_points(cause, data));
    out.push(command.reply(Cause::ACTIVATION_TERMINATION, false));
    out
}

/// Points as ASDUs with `cause`: runs of one station and one type packed
/// together (SQ=1 for consecutive addresses), in the order given.
pub fn pack_points(cause: Cause, points: &[(u16, u32, Element)]) -> Vec<Asdu> {
    let mut out = Vec::new();
    let mut run: Vec<InformationObject> = Vec::new();
    let mut key: Option<(u16, TypeId)> = None;
    let mut flush = |key: Option<(u16, TypeId)>, run: &mut Vec<InformationObject>| {
        if let Some((ca, t)) = key
            && !run.is_empty()
        {
            out.extend(
                pack(t, Cot::new(cause), ca, std::mem::take(run))
                    .unwrap_or_else(|e| panic!("raw RTU: cannot pack: {e}")),
            );
        }
    };
    for (ca, ioa, e) in points {
        let k = Some((*ca, e.type_id()));
        if k != key {
            flush(key, &mut run);
            key = k;
        }
        run.push(InformationObject::new(*ioa, e.clone()));
    }
    flush(key, &mut run);
    out
}
