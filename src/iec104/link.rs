//! The IEC 60870-5-104 link engine without I/O, for the controlling and the
//! controlled station: sequence numbers, the k and w windows, the timeouts
//! t1, t2 and t3, and the STARTDT / STOPDT / TESTFR procedures (§5).
//!
//! Data flow: the driver feeds received bytes ([`Link::handle_bytes`]) and
//! expired deadlines ([`Link::handle_timeout`]) together with the current
//! [`Instant`]; the engine answers with bytes to transmit
//! ([`Link::poll_transmit`]), [`Event`]s for the application
//! ([`Link::poll_event`]: received ASDUs in order, data transfer started or
//! stopped, closed with a reason) and the next deadline
//! ([`Link::poll_timeout`]). The application hands outgoing ASDUs to
//! [`Link::send_asdu`] as raw octets; the engine never reads a clock and
//! never touches a socket.

use core::fmt;
use std::collections::VecDeque;
use std::io;
use std::mem;
use std::time::{Duration, Instant};

use tracing::{debug, trace};

use super::apci::{self, Apci, Apdu, FrameError, MAX_ASDU_LEN, MAX_SEQ, UFunction, decode_frame};
use super::params::Params;

/// Which end of the connection this engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The controlling station (client, SCADA master): sends STARTDT/STOPDT act.
    Controlling,
    /// The controlled station (server, outstation): answers STARTDT/STOPDT.
    Controlled,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Controlling => "controlling",
            Self::Controlled => "controlled",
        })
    }
}

/// The data transfer state of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connected, no data transfer: only U- and S-frames.
    Stopped,
    /// Controlling station: STARTDT act sent, awaiting con.
    Starting,
    /// Data transfer: I-frames in both directions.
    Started,
    /// Controlling station: STOPDT act sent, awaiting con. Controlled
    /// station: STOPDT act received, awaiting the acknowledgement of its sent
    /// I-frames before it confirms.
    Stopping,
    /// Closed; see [`Link::close_reason`].
    Closed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Started => "started",
            Self::Stopping => "stopping",
            Self::Closed => "closed",
        })
    }
}

/// What went unanswered for t1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unanswered {
    /// The oldest unacknowledged I-frame, by its N(S).
    IFrame {
        /// N(S) of that I-frame.
        send_seq: u16,
    },
    /// A STARTDT act.
    StartDtAct,
    /// A STOPDT act.
    StopDtAct,
    /// A TESTFR act.
    TestFrAct,
}

impl fmt::Display for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IFrame { send_seq } => write!(f, "I-frame N(S)={send_seq}"),
            Self::StartDtAct => f.write_str("STARTDT act"),
            Self::StopDtAct => f.write_str("STOPDT act"),
            Self::TestFrAct => f.write_str("TESTFR act"),
        }
    }
}

/// Why the link closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// Closed by the local application.
    #[error("closed locally")]
    Local,
    /// The peer closed the connection (end of stream).
    #[error("closed by the peer")]
    RemoteClosed,
    /// The transport failed.
    #[error("transport error: {0}")]
    Io(io::ErrorKind),
    /// The peer sent bytes that are not a valid APDU.
    #[error("malformed frame: {0}")]
    Frame(FrameError),
    /// t1 expired.
    #[error("t1 expired waiting for the answer to {0}")]
    T1Expired(Unanswered),
    /// An I-frame with N(S) other than the expected V(R).
    #[error("sequence error: expected N(S)={expected}, received N(S)={received}")]
    SequenceError {
        /// V(R), the N(S) expected.
        expected: u16,
        /// N(S) received.
        received: u16,
    },
    /// An acknowledgement outside the sent-but-unacknowledged window.
    #[error(
        "N(R)={recv_seq} is outside the window of unacknowledged I-frames {oldest_unacked}..={next_send}"
    )]
    AckOutOfWindow {
        /// N(R) received.
        recv_seq: u16,
        /// N(S) of the oldest unacknowledged I-frame (V(S) when none).
        oldest_unacked: u16,
        /// V(S), the next N(S) to send.
        next_send: u16,
    },
    /// An I-frame arrived in a state that does not allow it.
    #[error("I-frame received while data transfer is {0}")]
    IFrameNotAllowed(State),
    /// A U act only the other role sends.
    #[error("{function} is not sent to a {role} station")]
    UnexpectedU {
        /// The function received.
        function: UFunction,
        /// Our role.
        role: Role,
    },
    /// The peer does not read what it is sent: the octets waiting for the
    /// transport would exceed the driver's limit (a peer that sends TESTFR
    /// act or I-frames without end and never reads the answers).
    #[error(
        "the peer does not read: {waiting} octets would wait to be sent, more than the limit of {limit}"
    )]
    PeerNotReading {
        /// Octets that would wait, the refused frames included.
        waiting: usize,
        /// The driver's limit.
        limit: usize,
    },
}

/// What the link reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The ASDU of a received I-frame, in order of N(S).
    Asdu(Vec<u8>),
    /// Data transfer started (STARTDT con received, or STARTDT act answered).
    DataTransferStarted,
    /// Data transfer stopped (STOPDT con received, or STOPDT act answered).
    DataTransferStopped,
    /// The link closed; nothing is transmitted after this.
    Closed(CloseReason),
}

/// Why [`Link::send_asdu`] refused an ASDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The link is closed.
    #[error("link is closed")]
    Closed,
    /// Data transfer is not started.
    #[error("data transfer is {0}, not started")]
    NotStarted(State),
    /// k I-frames are unacknowledged.
    #[error("k = {k} I-frames are unacknowledged")]
    WindowFull {
        /// k.
        k: u16,
    },
    /// An empty ASDU.
    #[error("ASDU is empty")]
    Empty,
    /// An ASDU longer than 249 octets.
    #[error("ASDU of {0} octets is longer than 249")]
    TooLong(usize),
}

/// Why [`Link::start_data_transfer`] or [`Link::stop_data_transfer`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// Only the controlling station starts and stops data transfer.
    #[error("a {0} station does not start or stop data transfer")]
    WrongRole(Role),
    /// The request does not fit the current state.
    #[error("data transfer is {0}")]
    WrongState(State),
}

/// Collects received bytes and cuts them into frames; a partial frame stays
/// here between calls.
#[derive(Debug, Default)]
struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, with its ASDU copied out.
    fn next_frame(&mut self) -> Result<Option<(Apci, Vec<u8>)>, FrameError> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        match decode_frame(pending)? {
            Some((apdu, used)) => {
                trace!(frame = %apdu, "rx");
                let frame = (apdu.apci, apdu.asdu.to_vec());
                self.start = self
                    .start
                    .checked_add(used)
                    .map_or(self.buf.len(), |s| s.min(self.buf.len()));
                Ok(Some(frame))
            }
            None => {
                self.buf.drain(..self.start);
                self.start = 0;
                Ok(None)
            }
        }
    }

    fn clear(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
    }
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u16,
    at: Instant,
}

/// Next sequence number modulo 32768.
const fn next_seq(seq: u16) -> u16 {
    seq.wrapping_add(1) & MAX_SEQ
}

/// `a - b` modulo 32768.
const fn seq_distance(a: u16, b: u16) -> u16 {
    a.wrapping_sub(b) & MAX_SEQ
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// `now + duration`; `None` (never) when that is not representable.
fn after(now: Instant, duration: Duration) -> Option<Instant> {
    now.checked_add(duration)
}

fn expired(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}

/// The link engine of one connection.
#[derive(Debug)]
pub struct Link {
    role: Role,
    params: Params,
    state: State,
    close_reason: Option<CloseReason>,
    /// At most one partial frame (254 octets) plus the bytes of the last
    /// [`Link::handle_bytes`]: every whole frame is taken out at once.
    reader: FrameReader,
    /// Frames since the last [`Link::poll_transmit`]: the answers to one
    /// input (a frame or two on a timeout; for received bytes about as
    /// many octets: a U con per U act, an S-frame per w I-frames) and the
    /// I-frames sent (at most k); the driver takes them after each input
    /// and bounds what waits for the socket.
    transmit: Vec<u8>,
    /// Events since the last [`Link::poll_event`]: at most one per frame
    /// of one input, plus one. The driver reads the socket only while none
    /// waits, so this holds the events of one read at most.
    events: VecDeque<Event>,
    /// V(S).
    next_send: u16,
    /// Sent I-frames not yet acknowledged, oldest first; N(S) consecutive.
    unacked_sent: VecDeque<Sent>,
    /// V(R).
    next_recv: u16,
    /// Received I-frames not yet acknowledged.
    unacked_recv: u16,
    /// When the oldest unacknowledged received I-frame must be acknowledged.
    t2_deadline: Option<Instant>,
    /// When the last frame was received (t3 counts from here).
    last_rx: Instant,
    /// STARTDT or STOPDT act sent, with its t1 deadline.
    pending_dt: Option<(Unanswered, Option<Instant>)>,
    /// TESTFR act sent, with its t1 deadline.
    pending_test: Option<Option<Instant>>,
}

impl Link {
    /// A link on a freshly established connection, data transfer stopped.
    pub fn new(role: Role, params: Params, now: Instant) -> Self {
        debug!(%role, "link open");
        Self {
            role,
            params,
            state: State::Stopped,
            close_reason: None,
            reader: FrameReader::default(),
            transmit: Vec::new(),
            events: VecDeque::new(),
            next_send: 0,
            unacked_sent: VecDeque::new(),
            next_recv: 0,
            unacked_recv: 0,
            t2_deadline: None,
            last_rx: now,
            pending_dt: None,
            pending_test: None,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The parameters in use.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The data transfer state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Why the link closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// Number of sent I-frames not yet acknowledged by the peer.
    pub fn unacknowledged(&self) -> usize {
        self.unacked_sent.len()
    }

    /// V(S): the N(S) of the next I-frame to send.
    pub fn next_send_seq(&self) -> u16 {
        self.next_send
    }

    /// V(R): the N(S) expected in the next received I-frame.
    pub fn next_recv_seq(&self) -> u16 {
        self.next_recv
    }

    /// Whether [`Link::send_asdu`] accepts an ASDU now: data transfer started
    /// and fewer than k I-frames unacknowledged.
    pub fn can_send(&self) -> bool {
        self.state == State::Started && self.unacked_sent.len() < usize::from(self.params.k)
    }

    /// Bytes to write to the transport, all frames produced so far.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.transmit.is_empty() {
            None
        } else {
            Some(mem::take(&mut self.transmit))
        }
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether events are waiting in [`Link::poll_event`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The earliest deadline at which [`Link::handle_timeout`] must run:
    /// t1 of the oldest unacknowledged I-frame or of an unanswered U act, t2,
    /// t3. `None` after close.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let mut next = self.i_frame_t1_deadline();
        if let Some((_, deadline)) = self.pending_dt {
            next = earliest(next, deadline);
        }
        if let Some(deadline) = self.pending_test {
            next = earliest(next, deadline);
        }
        if self.unacked_recv > 0 {
            next = earliest(next, self.t2_deadline);
        }
        earliest(next, self.t3_deadline())
    }

    fn i_frame_t1_deadline(&self) -> Option<Instant> {
        self.unacked_sent
            .front()
            .and_then(|sent| sent.at.checked_add(self.params.t1))
    }

    /// t3 runs while no TESTFR act is outstanding.
    fn t3_deadline(&self) -> Option<Instant> {
        if self.pending_test.is_some() {
            None
        } else {
            self.last_rx.checked_add(self.params.t3)
        }
    }

    /// Runs the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if let Some(sent) = self.unacked_sent.front().copied()
            && expired(self.i_frame_t1_deadline(), now)
        {
            self.close_with(CloseReason::T1Expired(Unanswered::IFrame {
                send_seq: sent.seq,
            }));
            return;
        }
        if let Some((what, deadline)) = self.pending_dt
            && expired(deadline, now)
        {
            self.close_with(CloseReason::T1Expired(what));
            return;
        }
        if let Some(deadline) = self.pending_test
            && expired(deadline, now)
        {
            self.close_with(CloseReason::T1Expired(Unanswered::TestFrAct));
            return;
        }
        if self.unacked_recv > 0 && expired(self.t2_deadline, now) {
            debug!(unacknowledged = self.unacked_recv, "t2 expired");
            self.send_s();
        }
        if expired(self.t3_deadline(), now) {
            debug!("t3 expired, testing the link");
            self.send_u(UFunction::TestFrAct);
            self.pending_test = Some(after(now, self.params.t1));
        }
    }

    /// Processes received bytes; a partial frame is kept for the next call.
    pub fn handle_bytes(&mut self, data: &[u8], now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.reader.push(data);
        while self.state != State::Closed {
            match self.reader.next_frame() {
                Ok(Some((apci, asdu))) => self.handle_frame(apci, asdu, now),
                Ok(None) => break,
                Err(error) => self.close_with(CloseReason::Frame(error)),
            }
        }
    }

    /// The transport reached end of stream.
    pub fn handle_eof(&mut self) {
        self.close_with(CloseReason::RemoteClosed);
    }

    /// The transport failed.
    pub fn handle_io_error(&mut self, kind: io::ErrorKind) {
        self.close_with(CloseReason::Io(kind));
    }

    /// Closes the link locally; nothing more is transmitted.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// The transport cannot take what the link transmits: `waiting` octets
    /// would wait to be written, more than the driver's `limit`. Closes the
    /// link with [`CloseReason::PeerNotReading`].
    pub fn handle_backlog_overflow(&mut self, waiting: usize, limit: usize) {
        self.close_with(CloseReason::PeerNotReading { waiting, limit });
    }

    /// Sends an ASDU in an I-frame; the frame also acknowledges everything
    /// received so far.
    pub fn send_asdu(&mut self, asdu: &[u8], now: Instant) -> Result<(), SendError> {
        match self.state {
            State::Started => {}
            State::Closed => return Err(SendError::Closed),
            other => return Err(SendError::NotStarted(other)),
        }
        if asdu.is_empty() {
            return Err(SendError::Empty);
        }
        if asdu.len() > MAX_ASDU_LEN {
            return Err(SendError::TooLong(asdu.len()));
        }
        if self.unacked_sent.len() >= usize::from(self.params.k) {
            return Err(SendError::WindowFull { k: self.params.k });
        }
        let seq = self.next_send;
        let apci = Apci::I {
            send_seq: seq,
            recv_seq: self.next_recv,
        };
        if let Err(error) = apci::encode_i(seq, self.next_recv, asdu, &mut self.transmit) {
            // Unreachable: the length is checked above and sequence numbers
            // stay below 32768.
            debug!(%error, "I-frame not encoded");
            return Err(SendError::TooLong(asdu.len()));
        }
        trace!(frame = %Apdu { apci, asdu }, "tx");
        self.unacked_sent.push_back(Sent { seq, at: now });
        self.next_send = next_seq(seq);
        self.unacked_recv = 0;
        self.t2_deadline = None;
        Ok(())
    }

    /// Controlling station: sends STARTDT act; data transfer starts with the
    /// con ([`Event::DataTransferStarted`]).
    pub fn start_data_transfer(&mut self, now: Instant) -> Result<(), ControlError> {
        if self.role != Role::Controlling {
            return Err(ControlError::WrongRole(self.role));
        }
        if self.state != State::Stopped {
            return Err(ControlError::WrongState(self.state));
        }
        self.send_u(UFunction::StartDtAct);
        self.pending_dt = Some((Unanswered::StartDtAct, after(now, self.params.t1)));
        self.set_state(State::Starting);
        Ok(())
    }

    /// Controlling station: acknowledges what it received, then sends STOPDT
    /// act; data transfer stops with the con ([`Event::DataTransferStopped`]).
    pub fn stop_data_transfer(&mut self, now: Instant) -> Result<(), ControlError> {
        if self.role != Role::Controlling {
            return Err(ControlError::WrongRole(self.role));
        }
        if self.state != State::Started {
            return Err(ControlError::WrongState(self.state));
        }
        if self.unacked_recv > 0 {
            self.send_s();
        }
        self.send_u(UFunction::StopDtAct);
        self.pending_dt = Some((Unanswered::StopDtAct, after(now, self.params.t1)));
        self.set_state(State::Stopping);
        Ok(())
    }

    fn handle_frame(&mut self, apci: Apci, asdu: Vec<u8>, now: Instant) {
        self.last_rx = now;
        match apci {
            Apci::I { send_seq, recv_seq } => self.handle_i(send_seq, recv_seq, asdu, now),
            Apci::S { recv_seq } => {
                self.acknowledge(recv_seq);
            }
            Apci::U(function) => self.handle_u(function),
        }
    }

    fn handle_i(&mut self, send_seq: u16, recv_seq: u16, asdu: Vec<u8>, now: Instant) {
        let allowed = match self.role {
            Role::Controlling => matches!(self.state, State::Started | State::Stopping),
            Role::Controlled => self.state == State::Started,
        };
        if !allowed {
            self.close_with(CloseReason::IFrameNotAllowed(self.state));
            return;
        }
        if send_seq != self.next_recv {
            self.close_with(CloseReason::SequenceError {
                expected: self.next_recv,
                received: send_seq,
            });
            return;
        }
        if !self.acknowledge(recv_seq) {
            return;
        }
        self.next_recv = next_seq(self.next_recv);
        self.unacked_recv = self.unacked_recv.saturating_add(1);
        if self.t2_deadline.is_none() {
            self.t2_deadline = after(now, self.params.t2);
        }
        self.events.push_back(Event::Asdu(asdu));
        // While stopping, the controlled station waits for our acknowledgement.
        if self.unacked_recv >= self.params.w.max(1) || self.state == State::Stopping {
            self.send_s();
        }
    }

    /// Applies N(R); false (and closed) when it is outside the window.
    fn acknowledge(&mut self, recv_seq: u16) -> bool {
        let oldest = self.unacked_sent.front().map_or(self.next_send, |s| s.seq);
        let outstanding = seq_distance(self.next_send, oldest);
        let acked = seq_distance(recv_seq, oldest);
        if acked > outstanding {
            self.close_with(CloseReason::AckOutOfWindow {
                recv_seq,
                oldest_unacked: oldest,
                next_send: self.next_send,
            });
            return false;
        }
        for _ in 0..acked {
            self.unacked_sent.pop_front();
        }
        if self.role == Role::Controlled
            && self.state == State::Stopping
            && self.unacked_sent.is_empty()
        {
            self.confirm_stop();
        }
        true
    }

    fn handle_u(&mut self, function: UFunction) {
        match (function, self.role) {
            (UFunction::TestFrAct, _) => self.send_u(UFunction::TestFrCon),
            (UFunction::TestFrCon, _) => {
                if self.pending_test.take().is_none() {
                    debug!("unsolicited TESTFR con ignored");
                }
            }
            (UFunction::StartDtAct, Role::Controlled) => {
                self.send_u(UFunction::StartDtCon);
                match self.state {
                    State::Stopped => {
                        self.set_state(State::Started);
                        self.events.push_back(Event::DataTransferStarted);
                    }
                    // Resumes a stop that was not confirmed yet.
                    State::Stopping => self.set_state(State::Started),
                    State::Starting | State::Started | State::Closed => {}
                }
            }
            (UFunction::StopDtAct, Role::Controlled) => match self.state {
                State::Started => {
                    self.set_state(State::Stopping);
                    if self.unacked_recv > 0 {
                        self.send_s();
                    }
                    if self.unacked_sent.is_empty() {
                        self.confirm_stop();
                    } else {
                        debug!(
                            unacknowledged = self.unacked_sent.len(),
                            "STOPDT act: waiting for acknowledgements"
                        );
                    }
                }
                State::Stopped => self.send_u(UFunction::StopDtCon),
                State::Starting | State::Stopping | State::Closed => {}
            },
            (UFunction::StartDtCon, Role::Controlling) => {
                if matches!(self.pending_dt, Some((Unanswered::StartDtAct, _))) {
                    self.pending_dt = None;
                    self.set_state(State::Started);
                    self.events.push_back(Event::DataTransferStarted);
                } else {
                    debug!("unsolicited STARTDT con ignored");
                }
            }
            (UFunction::StopDtCon, Role::Controlling) => {
                if matches!(self.pending_dt, Some((Unanswered::StopDtAct, _))) {
                    self.pending_dt = None;
                    self.set_state(State::Stopped);
                    self.events.push_back(Event::DataTransferStopped);
                } else {
                    debug!("unsolicited STOPDT con ignored");
                }
            }
            (UFunction::StartDtAct | UFunction::StopDtAct, Role::Controlling) => {
                self.close_with(CloseReason::UnexpectedU {
                    function,
                    role: self.role,
                });
            }
            (UFunction::StartDtCon | UFunction::StopDtCon, Role::Controlled) => {
                debug!(%function, "unsolicited confirmation ignored");
            }
        }
    }

    fn confirm_stop(&mut self) {
        self.send_u(UFunction::StopDtCon);
        self.set_state(State::Stopped);
        self.events.push_back(Event::DataTransferStopped);
    }

    fn set_state(&mut self, state: State) {
        if self.state != state {
            debug!(from = %self.state, to = %state, "data transfer state");
            self.state = state;
        }
    }

    fn send_s(&mut self) {
        let apci = Apci::S {
            recv_seq: self.next_recv,
        };
        match apci::encode_s(self.next_recv, &mut self.transmit) {
            Ok(()) => trace!(frame = %apci, "tx"),
            // Unreachable: V(R) stays below 32768.
            Err(error) => debug!(%error, "S-frame not encoded"),
        }
        self.unacked_recv = 0;
        self.t2_deadline = None;
    }

    fn send_u(&mut self, function: UFunction) {
        apci::encode_u(function, &mut self.transmit);
        trace!(frame = %Apci::U(function), "tx");
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        debug!(%reason, "link closed");
        self.state = State::Closed;
        self.close_reason = Some(reason);
        self.transmit = Vec::new();
        self.reader.clear();
        self.pending_dt = None;
        self.pending_test = None;
        self.t2_deadline = None;
        self.events.push_back(Event::Closed(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn params() -> Params {
        Params::default()
    }

    fn i_frame(send_seq: u16, recv_seq: u16, asdu: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        apci::encode_i(send_seq, recv_seq, asdu, &mut out).unwrap();
        out
    }

    fn s_frame(recv_seq: u16) -> Vec<u8> {
        let mut out = Vec::new();
        apci::encode_s(recv_seq, &mut out).unwrap();
        out
    }

    fn u_frame(function: UFunction) -> Vec<u8> {
        let mut out = Vec::new();
        apci::encode_u(function, &mut out);
        out
    }

    /// Every frame the link wants to transmit, decoded.
    fn sent(link: &mut Link) -> Vec<Apci> {
        let bytes = link.poll_transmit().unwrap_or_default();
        let mut rest = bytes.as_slice();
        let mut frames = Vec::new();
        while let Some((apdu, used)) = decode_frame(rest).unwrap() {
            frames.push(apdu.apci);
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        frames
    }

    fn events(link: &mut Link) -> Vec<Event> {
        std::iter::from_fn(|| link.poll_event()).collect()
    }

    /// Moves every pending byte from `from` to `to`; returns whether any moved.
    fn deliver(from: &mut Link, to: &mut Link, now: Instant) -> bool {
        match from.poll_transmit() {
            Some(bytes) => {
                to.handle_bytes(&bytes, now);
                true
            }
            None => false,
        }
    }

    fn pump(a: &mut Link, b: &mut Link, now: Instant) {
        while deliver(a, b, now) | deliver(b, a, now) {}
    }

    /// A controlled station after STARTDT act, with its transmit and events drained.
    fn started_controlled(params: Params, now: Instant) -> Link {
        let mut link = Link::new(Role::Controlled, params, now);
        link.handle_bytes(&u_frame(UFunction::StartDtAct), now);
        assert_eq!(sent(&mut link), [Apci::U(UFunction::StartDtCon)]);
        assert_eq!(events(&mut link), [Event::DataTransferStarted]);
        link
    }

    /// A controlling station after STARTDT act/con, drained.
    fn started_controlling(params: Params, now: Instant) -> Link {
        let mut link = Link::new(Role::Controlling, params, now);
        link.start_data_transfer(now).unwrap();
        assert_eq!(sent(&mut link), [Apci::U(UFunction::StartDtAct)]);
        link.handle_bytes(&u_frame(UFunction::StartDtCon), now);
        assert_eq!(events(&mut link), [Event::DataTransferStarted]);
        link
    }

    fn started_pair(params: Params, now: Instant) -> (Link, Link) {
        let mut controlling = Link::new(Role::Controlling, params, now);
        let mut controlled = Link::new(Role::Controlled, params, now);
        controlling.start_data_transfer(now).unwrap();
        pump(&mut controlling, &mut controlled, now);
        assert_eq!(events(&mut controlling), [Event::DataTransferStarted]);
        assert_eq!(events(&mut controlled), [Event::DataTransferStarted]);
        (controlling, controlled)
    }

    fn closed_with(link: &mut Link) -> Option<CloseReason> {
        events(link).into_iter().find_map(|e| match e {
            Event::Closed(reason) => Some(reason),
            _ => None,
        })
    }

    #[test]
    fn sequence_numbers_wrap_modulo_32768() {
        let t0 = Instant::now();
        let (mut master, mut outstation) = started_pair(params(), t0);
        for n in 0..32770u32 {
            let asdu = n.to_le_bytes();
            outstation.send_asdu(&asdu, t0).unwrap();
            if n == 32767 {
                let bytes = outstation.poll_transmit().unwrap();
                let (apdu, _) = decode_frame(&bytes).unwrap().unwrap();
                assert_eq!(
                    apdu.apci,
                    Apci::I {
                        send_seq: 32767,
                        recv_seq: 0
                    }
                );
                master.handle_bytes(&bytes, t0);
            }
            pump(&mut outstation, &mut master, t0);
        }
        assert_eq!(outstation.next_send_seq(), 2);
        assert_eq!(master.next_recv_seq(), 2);
        let received: Vec<Event> = events(&mut master);
        assert_eq!(received.len(), 32770);
        assert_eq!(
            received.last(),
            Some(&Event::Asdu(32769u32.to_le_bytes().to_vec()))
        );
        // The last two I-frames are acknowledged by an S-frame with N(R) = 2.
        master.handle_timeout(t0 + secs(10));
        assert_eq!(sent(&mut master), [Apci::S { recv_seq: 2 }]);
    }

    #[test]
    fn stops_sending_at_k_unacknowledged_i_frames() {
        let t0 = Instant::now();
        let p = Params {
            k: 3,
            w: 2,
            ..params()
        };
        let mut link = started_controlled(p, t0);
        for n in 0..3u8 {
            assert!(link.can_send());
            link.send_asdu(&[n], t0).unwrap();
        }
        assert!(!link.can_send());
        assert_eq!(
            link.send_asdu(&[3], t0),
            Err(SendError::WindowFull { k: 3 })
        );
        assert_eq!(sent(&mut link).len(), 3);
        link.handle_bytes(&s_frame(1), t0);
        assert!(link.can_send());
        link.send_asdu(&[3], t0).unwrap();
        assert_eq!(
            sent(&mut link),
            [Apci::I {
                send_seq: 3,
                recv_seq: 0
            }]
        );
    }

    #[test]
    fn acknowledges_after_w_received_i_frames() {
        let t0 = Instant::now();
        let mut link = started_controlling(params(), t0);
        for n in 0..7u16 {
            link.handle_bytes(&i_frame(n, 0, &[1]), t0);
        }
        assert_eq!(sent(&mut link), []);
        link.handle_bytes(&i_frame(7, 0, &[1]), t0);
        assert_eq!(sent(&mut link), [Apci::S { recv_seq: 8 }]);
        assert_eq!(events(&mut link).len(), 8);
    }

    #[test]
    fn acknowledges_when_t2_expires() {
        let t0 = Instant::now();
        let mut link = started_controlling(params(), t0);
        link.handle_bytes(&i_frame(0, 0, &[1]), t0 + secs(1));
        link.handle_bytes(&i_frame(1, 0, &[2]), t0 + secs(5));
        // t2 counts from the first unacknowledged I-frame.
        assert_eq!(link.poll_timeout(), Some(t0 + secs(11)));
        link.handle_timeout(t0 + secs(10));
        assert_eq!(sent(&mut link), []);
        link.handle_timeout(t0 + secs(11));
        assert_eq!(sent(&mut link), [Apci::S { recv_seq: 2 }]);
        // Nothing left to acknowledge: the next deadline is t3.
        assert_eq!(link.poll_timeout(), Some(t0 + secs(25)));
    }

    #[test]
    fn outgoing_i_frame_piggybacks_the_acknowledgement_and_cancels_t2() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.handle_bytes(&i_frame(0, 0, &[1]), t0);
        link.handle_bytes(&i_frame(1, 0, &[2]), t0);
        link.send_asdu(&[9], t0 + secs(1)).unwrap();
        assert_eq!(
            sent(&mut link),
            [Apci::I {
                send_seq: 0,
                recv_seq: 2
            }]
        );
        link.handle_timeout(t0 + secs(10));
        assert_eq!(sent(&mut link), []);
        // The next deadline is t1 of the I-frame, not t2.
        assert_eq!(link.poll_timeout(), Some(t0 + secs(16)));
    }

    #[test]
    fn sends_testfr_act_after_t3_without_receiving() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlled, params(), t0);
        assert_eq!(link.poll_timeout(), Some(t0 + secs(20)));
        link.handle_timeout(t0 + secs(19));
        assert_eq!(sent(&mut link), []);
        link.handle_timeout(t0 + secs(20));
        assert_eq!(sent(&mut link), [Apci::U(UFunction::TestFrAct)]);
        // Now t1 of the TESTFR act runs; a con restarts t3.
        assert_eq!(link.poll_timeout(), Some(t0 + secs(35)));
        link.handle_bytes(&u_frame(UFunction::TestFrCon), t0 + secs(21));
        assert_eq!(link.poll_timeout(), Some(t0 + secs(41)));
        assert_eq!(link.state(), State::Stopped);
    }

    #[test]
    fn any_received_frame_restarts_t3() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.handle_bytes(&s_frame(0), t0 + secs(15));
        link.handle_timeout(t0 + secs(20));
        assert_eq!(sent(&mut link), []);
        assert_eq!(link.poll_timeout(), Some(t0 + secs(35)));
    }

    #[test]
    fn answers_testfr_act_with_con_in_every_state() {
        let t0 = Instant::now();
        for mut link in [
            Link::new(Role::Controlled, params(), t0),
            Link::new(Role::Controlling, params(), t0),
            started_controlled(params(), t0),
            started_controlling(params(), t0),
        ] {
            link.handle_bytes(&u_frame(UFunction::TestFrAct), t0);
            assert_eq!(sent(&mut link), [Apci::U(UFunction::TestFrCon)]);
        }
    }

    #[test]
    fn closes_when_t1_expires_without_acknowledgement() {
        let t0 = Instant::now();
        let mut link = started_controlling(params(), t0);
        link.send_asdu(&[1], t0 + secs(2)).unwrap();
        assert_eq!(link.poll_timeout(), Some(t0 + secs(17)));
        link.handle_timeout(t0 + secs(16));
        assert_eq!(link.state(), State::Started);
        link.handle_timeout(t0 + secs(17));
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::T1Expired(Unanswered::IFrame { send_seq: 0 }))
        );
        assert_eq!(link.poll_timeout(), None);
    }

    #[test]
    fn partial_acknowledgement_moves_t1_to_the_next_oldest_i_frame() {
        let t0 = Instant::now();
        let mut link = started_controlling(params(), t0);
        link.send_asdu(&[1], t0).unwrap();
        link.send_asdu(&[2], t0 + secs(4)).unwrap();
        link.send_asdu(&[3], t0 + secs(8)).unwrap();
        assert_eq!(link.poll_timeout(), Some(t0 + secs(15)));
        link.handle_bytes(&s_frame(1), t0 + secs(10));
        assert_eq!(link.poll_timeout(), Some(t0 + secs(19)));
        // An I-frame acknowledges too; its own t2 runs until 22 s.
        link.handle_bytes(&i_frame(0, 2, &[7]), t0 + secs(12));
        assert_eq!(link.poll_timeout(), Some(t0 + secs(22)));
        link.handle_timeout(t0 + secs(22));
        assert_eq!(sent(&mut link).last(), Some(&Apci::S { recv_seq: 1 }));
        assert_eq!(link.poll_timeout(), Some(t0 + secs(23)));
        link.handle_timeout(t0 + secs(23));
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::T1Expired(Unanswered::IFrame { send_seq: 2 }))
        );
    }

    #[test]
    fn full_acknowledgement_stops_t1() {
        let t0 = Instant::now();
        let mut link = started_controlling(params(), t0);
        link.send_asdu(&[1], t0).unwrap();
        link.send_asdu(&[2], t0).unwrap();
        link.handle_bytes(&s_frame(2), t0 + secs(1));
        assert_eq!(link.unacknowledged(), 0);
        assert_eq!(link.poll_timeout(), Some(t0 + secs(21)));
    }

    #[test]
    fn closes_when_startdt_act_is_unanswered_for_t1() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlling, params(), t0);
        link.start_data_transfer(t0).unwrap();
        assert_eq!(link.poll_timeout(), Some(t0 + secs(15)));
        link.handle_timeout(t0 + secs(15));
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::T1Expired(Unanswered::StartDtAct))
        );
    }

    #[test]
    fn closes_when_stopdt_act_is_unanswered_for_t1() {
        let t0 = Instant::now();
        let mut link = started_controlling(params(), t0);
        link.stop_data_transfer(t0 + secs(1)).unwrap();
        assert_eq!(sent(&mut link), [Apci::U(UFunction::StopDtAct)]);
        link.handle_timeout(t0 + secs(16));
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::T1Expired(Unanswered::StopDtAct))
        );
    }

    #[test]
    fn closes_when_testfr_act_is_unanswered_for_t1() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.handle_timeout(t0 + secs(20));
        assert_eq!(sent(&mut link), [Apci::U(UFunction::TestFrAct)]);
        // Other traffic does not answer the test.
        link.handle_bytes(&s_frame(0), t0 + secs(30));
        link.handle_timeout(t0 + secs(35));
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::T1Expired(Unanswered::TestFrAct))
        );
    }

    #[test]
    fn closes_when_n_s_differs_from_v_r() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.handle_bytes(&i_frame(0, 0, &[1]), t0);
        link.handle_bytes(&i_frame(2, 0, &[1]), t0);
        assert_eq!(
            events(&mut link),
            [
                Event::Asdu(vec![1]),
                Event::Closed(CloseReason::SequenceError {
                    expected: 1,
                    received: 2
                })
            ]
        );
        assert_eq!(sent(&mut link), []);
    }

    #[test]
    fn closes_on_n_r_beyond_the_sent_i_frames() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.send_asdu(&[1], t0).unwrap();
        link.handle_bytes(&s_frame(2), t0);
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::AckOutOfWindow {
                recv_seq: 2,
                oldest_unacked: 0,
                next_send: 1
            })
        );
    }

    #[test]
    fn closes_on_n_r_before_the_oldest_unacknowledged_i_frame() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.send_asdu(&[1], t0).unwrap();
        link.send_asdu(&[2], t0).unwrap();
        link.handle_bytes(&s_frame(1), t0);
        link.handle_bytes(&i_frame(0, 0, &[9]), t0);
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::AckOutOfWindow {
                recv_seq: 0,
                oldest_unacked: 1,
                next_send: 2
            })
        );
    }

    #[test]
    fn controlled_station_answers_startdt_act_with_con() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlled, params(), t0);
        assert_eq!(link.state(), State::Stopped);
        link.handle_bytes(&u_frame(UFunction::StartDtAct), t0);
        assert_eq!(sent(&mut link), [Apci::U(UFunction::StartDtCon)]);
        assert_eq!(events(&mut link), [Event::DataTransferStarted]);
        assert_eq!(link.state(), State::Started);
    }

    #[test]
    fn controlled_station_sends_no_i_frame_before_startdt() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlled, params(), t0);
        assert!(!link.can_send());
        assert_eq!(
            link.send_asdu(&[1], t0),
            Err(SendError::NotStarted(State::Stopped))
        );
        assert_eq!(sent(&mut link), []);
    }

    #[test]
    fn controlled_station_closes_on_i_frame_before_startdt() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlled, params(), t0);
        link.handle_bytes(&i_frame(0, 0, &[1]), t0);
        assert_eq!(
            events(&mut link),
            [Event::Closed(CloseReason::IFrameNotAllowed(State::Stopped))]
        );
    }

    #[test]
    fn controlled_station_confirms_stopdt_only_after_its_i_frames_are_acknowledged() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.send_asdu(&[1], t0).unwrap();
        link.send_asdu(&[2], t0).unwrap();
        sent(&mut link);
        link.handle_bytes(&u_frame(UFunction::StopDtAct), t0);
        assert_eq!(sent(&mut link), []);
        assert_eq!(link.state(), State::Stopping);
        assert_eq!(
            link.send_asdu(&[3], t0),
            Err(SendError::NotStarted(State::Stopping))
        );
        link.handle_bytes(&s_frame(1), t0);
        assert_eq!(sent(&mut link), []);
        link.handle_bytes(&s_frame(2), t0);
        assert_eq!(sent(&mut link), [Apci::U(UFunction::StopDtCon)]);
        assert_eq!(events(&mut link), [Event::DataTransferStopped]);
        assert_eq!(link.state(), State::Stopped);
    }

    #[test]
    fn controlled_station_acknowledges_received_i_frames_before_confirming_stopdt() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.handle_bytes(&i_frame(0, 0, &[1]), t0);
        link.handle_bytes(&u_frame(UFunction::StopDtAct), t0);
        assert_eq!(
            sent(&mut link),
            [Apci::S { recv_seq: 1 }, Apci::U(UFunction::StopDtCon)]
        );
    }

    #[test]
    fn controlled_station_closes_on_i_frame_after_stopdt_act() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.send_asdu(&[1], t0).unwrap();
        link.handle_bytes(&u_frame(UFunction::StopDtAct), t0);
        link.handle_bytes(&i_frame(0, 1, &[1]), t0);
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::IFrameNotAllowed(State::Stopping))
        );
    }

    #[test]
    fn controlling_station_starts_data_transfer_with_startdt_act_and_con() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlling, params(), t0);
        assert_eq!(
            link.send_asdu(&[1], t0),
            Err(SendError::NotStarted(State::Stopped))
        );
        link.start_data_transfer(t0).unwrap();
        assert_eq!(sent(&mut link), [Apci::U(UFunction::StartDtAct)]);
        assert_eq!(link.state(), State::Starting);
        assert_eq!(
            link.start_data_transfer(t0),
            Err(ControlError::WrongState(State::Starting))
        );
        assert!(!link.can_send());
        link.handle_bytes(&u_frame(UFunction::StartDtCon), t0);
        assert_eq!(events(&mut link), [Event::DataTransferStarted]);
        assert_eq!(link.state(), State::Started);
        assert!(link.can_send());
    }

    #[test]
    fn controlled_station_cannot_start_or_stop_data_transfer() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlled, params(), t0);
        assert_eq!(
            link.start_data_transfer(t0),
            Err(ControlError::WrongRole(Role::Controlled))
        );
        assert_eq!(
            link.stop_data_transfer(t0),
            Err(ControlError::WrongRole(Role::Controlled))
        );
    }

    #[test]
    fn controlling_station_closes_on_i_frame_while_stopped() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlling, params(), t0);
        link.handle_bytes(&i_frame(0, 0, &[1]), t0);
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::IFrameNotAllowed(State::Stopped))
        );
        let mut starting = Link::new(Role::Controlling, params(), t0);
        starting.start_data_transfer(t0).unwrap();
        starting.handle_bytes(&i_frame(0, 0, &[1]), t0);
        assert_eq!(
            closed_with(&mut starting),
            Some(CloseReason::IFrameNotAllowed(State::Starting))
        );
    }

    #[test]
    fn controlling_station_acknowledges_received_i_frames_before_stopdt_act() {
        let t0 = Instant::now();
        let mut link = started_controlling(params(), t0);
        link.handle_bytes(&i_frame(0, 0, &[1]), t0);
        link.handle_bytes(&i_frame(1, 0, &[2]), t0);
        link.stop_data_transfer(t0).unwrap();
        assert_eq!(
            sent(&mut link),
            [Apci::S { recv_seq: 2 }, Apci::U(UFunction::StopDtAct)]
        );
        // I-frames still in flight are accepted and acknowledged at once.
        link.handle_bytes(&i_frame(2, 0, &[3]), t0);
        assert_eq!(sent(&mut link), [Apci::S { recv_seq: 3 }]);
        link.handle_bytes(&u_frame(UFunction::StopDtCon), t0);
        assert_eq!(link.state(), State::Stopped);
        assert_eq!(
            events(&mut link),
            [
                Event::Asdu(vec![1]),
                Event::Asdu(vec![2]),
                Event::Asdu(vec![3]),
                Event::DataTransferStopped
            ]
        );
    }

    #[test]
    fn stopdt_handshake_between_two_engines_drains_both_windows() {
        let t0 = Instant::now();
        let (mut master, mut outstation) = started_pair(params(), t0);
        outstation.send_asdu(&[1], t0).unwrap();
        outstation.send_asdu(&[2], t0).unwrap();
        master.send_asdu(&[3], t0).unwrap();
        // The outstation's frames are in flight when STOPDT act leaves.
        master.stop_data_transfer(t0).unwrap();
        pump(&mut master, &mut outstation, t0);
        assert_eq!(master.state(), State::Stopped);
        assert_eq!(outstation.state(), State::Stopped);
        assert_eq!(outstation.unacknowledged(), 0);
        assert_eq!(
            events(&mut master),
            [
                Event::Asdu(vec![1]),
                Event::Asdu(vec![2]),
                Event::DataTransferStopped
            ]
        );
        assert_eq!(
            events(&mut outstation),
            [Event::Asdu(vec![3]), Event::DataTransferStopped]
        );
    }

    #[test]
    fn controlling_station_closes_on_startdt_act() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlling, params(), t0);
        link.handle_bytes(&u_frame(UFunction::StartDtAct), t0);
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::UnexpectedU {
                function: UFunction::StartDtAct,
                role: Role::Controlling
            })
        );
    }

    #[test]
    fn ignores_unsolicited_confirmations() {
        let t0 = Instant::now();
        let mut master = started_controlling(params(), t0);
        let mut outstation = Link::new(Role::Controlled, params(), t0);
        for function in [
            UFunction::StartDtCon,
            UFunction::StopDtCon,
            UFunction::TestFrCon,
        ] {
            master.handle_bytes(&u_frame(function), t0);
            outstation.handle_bytes(&u_frame(function), t0);
        }
        assert_eq!(master.state(), State::Started);
        assert_eq!(outstation.state(), State::Stopped);
        assert_eq!(sent(&mut master), []);
        assert_eq!(sent(&mut outstation), []);
        assert_eq!(events(&mut master), []);
        assert_eq!(events(&mut outstation), []);
    }

    #[test]
    fn controlled_station_confirms_stopdt_act_while_stopped() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlled, params(), t0);
        link.handle_bytes(&u_frame(UFunction::StopDtAct), t0);
        assert_eq!(sent(&mut link), [Apci::U(UFunction::StopDtCon)]);
        assert_eq!(events(&mut link), []);
    }

    #[test]
    fn closes_on_malformed_frame_after_delivering_what_preceded_it() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        let mut bytes = i_frame(0, 0, &[1]);
        bytes.extend_from_slice(&[0x68, 0x02]);
        link.handle_bytes(&bytes, t0);
        assert_eq!(
            events(&mut link),
            [
                Event::Asdu(vec![1]),
                Event::Closed(CloseReason::Frame(FrameError::BadLength(2)))
            ]
        );
        assert_eq!(sent(&mut link), []);
    }

    #[test]
    fn reassembles_frames_split_across_reads() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        let mut bytes = i_frame(0, 0, &[1, 2, 3]);
        bytes.extend(i_frame(1, 0, &[4]));
        for byte in &bytes {
            link.handle_bytes(std::slice::from_ref(byte), t0);
        }
        assert_eq!(
            events(&mut link),
            [Event::Asdu(vec![1, 2, 3]), Event::Asdu(vec![4])]
        );
    }

    #[test]
    fn transmits_nothing_after_close() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.handle_bytes(&i_frame(0, 0, &[1]), t0);
        link.send_asdu(&[1], t0).unwrap();
        link.close();
        assert_eq!(link.poll_transmit(), None);
        assert_eq!(link.send_asdu(&[2], t0), Err(SendError::Closed));
        link.handle_bytes(&u_frame(UFunction::TestFrAct), t0);
        link.handle_timeout(t0 + secs(100));
        assert_eq!(link.poll_transmit(), None);
        assert_eq!(link.poll_timeout(), None);
        assert_eq!(link.close_reason(), Some(CloseReason::Local));
        assert_eq!(
            events(&mut link),
            [Event::Asdu(vec![1]), Event::Closed(CloseReason::Local)]
        );
        link.close();
        assert_eq!(events(&mut link), []);
    }

    #[test]
    fn refuses_empty_and_too_long_asdus() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        assert_eq!(link.send_asdu(&[], t0), Err(SendError::Empty));
        assert_eq!(link.send_asdu(&[0; 250], t0), Err(SendError::TooLong(250)));
        link.send_asdu(&[0; 249], t0).unwrap();
    }

    #[test]
    fn transport_end_and_errors_close_with_their_reason() {
        let t0 = Instant::now();
        let mut link = Link::new(Role::Controlled, params(), t0);
        link.handle_eof();
        assert_eq!(closed_with(&mut link), Some(CloseReason::RemoteClosed));
        let mut link = Link::new(Role::Controlled, params(), t0);
        link.handle_io_error(io::ErrorKind::ConnectionReset);
        assert_eq!(
            closed_with(&mut link),
            Some(CloseReason::Io(io::ErrorKind::ConnectionReset))
        );
    }

    #[test]
    fn a_backlog_overflow_closes_with_its_sizes_and_drops_what_was_to_be_sent() {
        let t0 = Instant::now();
        let mut link = started_controlled(params(), t0);
        link.handle_bytes(&u_frame(UFunction::TestFrAct), t0);
        link.handle_backlog_overflow(70_006, 70_000);
        let reason = CloseReason::PeerNotReading {
            waiting: 70_006,
            limit: 70_000,
        };
        assert_eq!(closed_with(&mut link), Some(reason));
        assert_eq!(link.poll_transmit(), None, "the TESTFR con is dropped");
        assert_eq!(
            reason.to_string(),
            "the peer does not read: 70006 octets would wait to be sent, more than the limit of 70000"
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        MasterSends(u8),
        OutstationSends(u8),
        Deliver { to_outstation: bool },
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<u8>().prop_map(Op::MasterSends),
            any::<u8>().prop_map(Op::OutstationSends),
            any::<bool>().prop_map(|to_outstation| Op::Deliver { to_outstation }),
            (0u16..3000).prop_map(Op::Advance),
        ]
    }

    proptest! {
        #[test]
        fn sequence_numbers_stay_within_the_windows(
            ops in proptest::collection::vec(op(), 1..200),
            k in 1u16..6,
        ) {
            let t0 = Instant::now();
            let p = Params { k, w: k.div_ceil(2), ..params() };
            let (mut master, mut outstation) = started_pair(p, t0);
            let mut now = t0;
            let mut delivered = [Vec::new(), Vec::new()];
            let mut sent_by = [Vec::new(), Vec::new()];
            for op in ops {
                match op {
                    Op::MasterSends(b) => {
                        if master.send_asdu(&[b], now).is_ok() { sent_by[0].push(vec![b]); }
                    }
                    Op::OutstationSends(b) => {
                        if outstation.send_asdu(&[b], now).is_ok() { sent_by[1].push(vec![b]); }
                    }
                    Op::Deliver { to_outstation: true } => { deliver(&mut master, &mut outstation, now); }
                    Op::Deliver { to_outstation: false } => { deliver(&mut outstation, &mut master, now); }
                    Op::Advance(ms) => {
                        now += Duration::from_millis(u64::from(ms));
                        master.handle_timeout(now);
                        outstation.handle_timeout(now);
                    }
                }
                prop_assert!(master.unacknowledged() <= usize::from(k));
                prop_assert!(outstation.unacknowledged() <= usize::from(k));
                for (i, link) in [&mut master, &mut outstation].into_iter().enumerate() {
                    while let Some(e) = link.poll_event() {
                        match e {
                            Event::Asdu(a) => delivered[i].push(a),
                            Event::Closed(reason) => prop_assert!(
                                matches!(reason, CloseReason::T1Expired(_)),
                                "unexpected close {reason:?}"
                            ),
                            other => prop_assert!(false, "unexpected {other:?}"),
                        }
                    }
                }
            }
            // Whatever arrived is a prefix of what the other side sent, in order.
            prop_assert!(sent_by[1].starts_with(&delivered[0]));
            prop_assert!(sent_by[0].starts_with(&delivered[1]));
        }

        #[test]
        fn arbitrary_input_never_panics_and_nothing_follows_close(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..20),
            controlled in any::<bool>(),
        ) {
            let t0 = Instant::now();
            let role = if controlled { Role::Controlled } else { Role::Controlling };
            let mut link = Link::new(role, params(), t0);
            let _ = link.start_data_transfer(t0);
            let mut now = t0;
            for chunk in chunks {
                // Prefix a valid frame sometimes so that parsing goes deeper.
                let mut bytes = if chunk.first().is_some_and(|b| b % 2 == 0) {
                    u_frame(UFunction::StartDtAct)
                } else {
                    Vec::new()
                };
                bytes.extend_from_slice(&chunk);
                let was_closed = link.state() == State::Closed;
                link.handle_bytes(&bytes, now);
                now += secs(3);
                link.handle_timeout(now);
                let _ = link.send_asdu(&[1], now);
                if was_closed || link.state() == State::Closed {
                    prop_assert_eq!(link.poll_transmit(), None);
                    prop_assert_eq!(link.poll_timeout(), None);
                } else {
                    let _ = link.poll_transmit();
                }
            }
        }
    }
}
