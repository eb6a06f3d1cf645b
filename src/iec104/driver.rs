//! Tokio drivers of the link engine over TCP: [`connect`] for the
//! controlling station (client, with the t0 timeout and STARTDT act sent at
//! once) and [`Listener`] for the controlled station (server).
//!
//! Data flow: one task per connection owns the [`TcpStream`] and a
//! [`Link`] and races socket reads, socket writes, the link's next deadline,
//! outgoing ASDUs and commands in one `select!`. Outgoing ASDUs are pulled
//! from a bounded channel only while [`Link::can_send`], so a full k window
//! holds up [`Connection::send`]; the socket is read only while no event
//! waits for the application, so a slow application holds up the peer.
//! Events reach the application through [`Connection::recv`]; the task ends
//! after [`Event::Closed`], and dropping the [`Connection`] closes the link.
//!
//! Bounds: every queue of a connection is bounded. The channels between the
//! application and the task hold [`ASDU_QUEUE`] ASDUs, [`EVENT_QUEUE`]
//! events and [`COMMAND_QUEUE`] commands; a full one makes its producer
//! wait (the application for the k window, the task for the application,
//! which then stops reading the socket). The octets waiting for the socket
//! (the peer does not read them) are bounded by [`backlog_limit`]: a peer
//! that makes them exceed it, by sending without end while it never reads
//! the answers, is closed with [`CloseReason::PeerNotReading`].
//!
//! A listener decides on each connection before anything runs for it:
//! [`Listener::incoming`] gives the accepted socket and its address, and
//! only [`Incoming::admit`] starts the connection's task; a refused
//! [`Incoming`] is dropped and its socket closed.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info_span, warn};

use super::apci::{HEADER_LEN, MAX_ASDU_LEN, MAX_LENGTH};
use super::link::{CloseReason, ControlError, Event, Link, Role, SendError, State};
use super::params::Params;

/// Outgoing ASDUs queued beyond the k window.
pub const ASDU_QUEUE: usize = 1;

/// Events queued for the application before the socket is read no more.
pub const EVENT_QUEUE: usize = 64;

/// Commands (STARTDT, STOPDT, close) queued for the task. Each request
/// waits for its answer, so this holds one per caller waiting at once; a
/// caller beyond that waits for room.
pub const COMMAND_QUEUE: usize = 4;

/// Octets read from the socket at once.
const READ_BUFFER: usize = 4096;

/// The longest APDU: start octet, length octet and 253 octets.
const MAX_APDU: usize = HEADER_LEN + MAX_LENGTH as usize;

/// Octets beyond k full I-frames that may wait for the socket: room for
/// about 11 000 S- or U-frames.
pub const BACKLOG_SLACK: usize = 64 * 1024;

/// The most octets that wait for the socket on a connection with window
/// `k`: k I-frames of the longest APDU (255 octets) plus
/// [`BACKLOG_SLACK`] (68 Ki octets for the default k = 12).
///
/// In normal operation far less waits: the I-frames in flight are at most
/// k, and the S- and U-frames are a few per window or per t3. Only a peer
/// that sends without end (TESTFR act, I-frames, STARTDT act) and never
/// reads the answers reaches it, once the socket buffers of both ends are
/// full; the connection is then closed with
/// [`CloseReason::PeerNotReading`], so memory stays flat.
pub fn backlog_limit(k: u16) -> usize {
    usize::from(k)
        .saturating_mul(MAX_APDU)
        .saturating_add(BACKLOG_SLACK)
}

/// Why [`connect`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// No connection within t0.
    #[error("no connection to {addr} within t0 = {t0:?}")]
    Timeout {
        /// The remote address.
        addr: SocketAddr,
        /// t0.
        t0: Duration,
    },
    /// The peer refused the connection.
    #[error("connection to {addr} refused")]
    Refused {
        /// The remote address.
        addr: SocketAddr,
    },
    /// Any other transport error.
    #[error("connection to {addr} failed: {kind}")]
    Io {
        /// The remote address.
        addr: SocketAddr,
        /// The error kind.
        kind: io::ErrorKind,
    },
}

#[derive(Debug)]
enum Command {
    Start(oneshot::Sender<Result<(), ControlError>>),
    Stop(oneshot::Sender<Result<(), ControlError>>),
    Close,
}

/// A cloneable handle that queues outgoing ASDUs on a connection.
#[derive(Debug, Clone)]
pub struct AsduSender {
    tx: mpsc::Sender<Vec<u8>>,
}

impl AsduSender {
    /// Queues an ASDU; waits while the k window and the queue are full.
    /// Fails with [`SendError::Closed`] once the connection has ended.
    pub async fn send(&self, asdu: Vec<u8>) -> Result<(), SendError> {
        if asdu.is_empty() {
            return Err(SendError::Empty);
        }
        if asdu.len() > MAX_ASDU_LEN {
            return Err(SendError::TooLong(asdu.len()));
        }
        self.tx.send(asdu).await.map_err(|_| SendError::Closed)
    }
}

/// The application's side of one IEC 104 connection.
#[derive(Debug)]
pub struct Connection {
    sender: AsduSender,
    events: mpsc::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    peer: SocketAddr,
    role: Role,
    max_backlog: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Connection {
    /// The remote address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Our role on this connection.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Queues an ASDU; see [`AsduSender::send`].
    pub async fn send(&self, asdu: Vec<u8>) -> Result<(), SendError> {
        self.sender.send(asdu).await
    }

    /// A handle to send from another task.
    pub fn sender(&self) -> AsduSender {
        self.sender.clone()
    }

    /// The next event; `None` after [`Event::Closed`] was received.
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The most octets that waited for the socket at once on this
    /// connection so far; never above [`backlog_limit`].
    pub fn max_backlog(&self) -> usize {
        self.max_backlog.load(Ordering::Relaxed)
    }

    /// Controlling station: sends STARTDT act; [`Event::DataTransferStarted`]
    /// follows the con.
    pub async fn start_data_transfer(&self) -> Result<(), ControlError> {
        self.request(Command::Start).await
    }

    /// Controlling station: sends STOPDT act; [`Event::DataTransferStopped`]
    /// follows the con.
    pub async fn stop_data_transfer(&self) -> Result<(), ControlError> {
        self.request(Command::Stop).await
    }

    async fn request(
        &self,
        command: fn(oneshot::Sender<Result<(), ControlError>>) -> Command,
    ) -> Result<(), ControlError> {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(command(reply)).await.is_err() {
            return Err(ControlError::WrongState(State::Closed));
        }
        answer
            .await
            .unwrap_or(Err(ControlError::WrongState(State::Closed)))
    }

    /// Closes the link and waits until the socket is closed.
    pub async fn close(self) {
        let Self {
            commands,
            events,
            task,
            ..
        } = self;
        // An error means the task has ended already, or the queue is full
        // of requests whose callers gave up: dropping the sender closes the
        // link after them.
        let _ = commands.try_send(Command::Close);
        drop(commands);
        drop(events);
        if let Err(error) = task.await {
            debug!(%error, "connection task failed");
        }
    }
}

/// Opens a connection as controlling station within t0 and sends STARTDT
/// act; [`Event::DataTransferStarted`] follows the con.
pub async fn connect(addr: SocketAddr, params: Params) -> Result<Connection, ConnectError> {
    let stream = match tokio::time::timeout(params.t0, TcpStream::connect(addr)).await {
        Err(_) => {
            return Err(ConnectError::Timeout {
                addr,
                t0: params.t0,
            });
        }
        Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(ConnectError::Refused { addr });
        }
        Ok(Err(error)) => {
            return Err(ConnectError::Io {
                addr,
                kind: error.kind(),
            });
        }
        Ok(Ok(stream)) => stream,
    };
    Ok(spawn_tcp(stream, addr, controlling(params), None))
}

/// A controlling station's link with STARTDT act queued.
fn controlling(params: Params) -> Link {
    let mut link = Link::new(Role::Controlling, params, now());
    if let Err(error) = link.start_data_transfer(now()) {
        debug!(%error, "STARTDT act not sent");
    }
    link
}

/// Accepts connections as controlled station.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    params: Params,
    live: Arc<AtomicUsize>,
}

impl Listener {
    /// Listens on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, params: Params) -> io::Result<Self> {
        Ok(Self {
            inner: TcpListener::bind(addr).await?,
            params,
            live: Arc::default(),
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Waits for the next controlling station and starts its connection.
    pub async fn accept(&self) -> io::Result<Connection> {
        self.incoming().await.map(Incoming::admit)
    }

    /// Waits for the next controlling station and hands it over undecided:
    /// nothing runs for it until [`Incoming::admit`].
    pub async fn incoming(&self) -> io::Result<Incoming> {
        let (stream, peer) = self.inner.accept().await?;
        Ok(Incoming {
            stream,
            peer,
            params: self.params,
            live: Arc::clone(&self.live),
        })
    }

    /// Connection tasks started by this listener that still run (also
    /// after the listener is dropped).
    pub fn connections(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
}

/// An accepted socket whose connection has not started: no task, no link.
/// [`admit`](Self::admit) starts it; dropping it refuses the peer (the
/// socket closes at once).
#[derive(Debug)]
pub struct Incoming {
    stream: TcpStream,
    peer: SocketAddr,
    params: Params,
    live: Arc<AtomicUsize>,
}

impl Incoming {
    /// The remote address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Starts the connection as controlled station.
    pub fn admit(self) -> Connection {
        let link = Link::new(Role::Controlled, self.params, now());
        spawn_tcp(self.stream, self.peer, link, Some(self.live))
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Counts a running connection task while it lives.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn spawn_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    link: Link,
    live: Option<Arc<AtomicUsize>>,
) -> Connection {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%error, "TCP_NODELAY not set");
    }
    let live = live.map(Live::new);
    spawn(peer, link, move |io| async move {
        let _live = live;
        let mut stream = stream;
        let (reader, writer) = stream.split();
        run(reader, writer, io).await;
    })
}

/// The task's ends of the channels to the application.
struct TaskIo {
    link: Link,
    asdus: mpsc::Receiver<Vec<u8>>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    max_backlog: Arc<AtomicUsize>,
}

/// Starts the task `task` builds on the channels of a new [`Connection`].
fn spawn<F, T>(peer: SocketAddr, link: Link, task: F) -> Connection
where
    F: FnOnce(TaskIo) -> T,
    T: Future<Output = ()> + Send + 'static,
{
    let role = link.role();
    let (asdu_tx, asdus) = mpsc::channel(ASDU_QUEUE);
    let (events, event_rx) = mpsc::channel(EVENT_QUEUE);
    let (command_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let max_backlog = Arc::new(AtomicUsize::new(0));
    let io = TaskIo {
        link,
        asdus,
        commands,
        events,
        max_backlog: Arc::clone(&max_backlog),
    };
    let span = info_span!("iec104", %peer, %role);
    let task = tokio::spawn(task(io).instrument(span));
    Connection {
        sender: AsduSender { tx: asdu_tx },
        events: event_rx,
        commands: command_tx,
        peer,
        role,
        max_backlog,
        task,
    }
}

fn send_to_link(link: &mut Link, asdu: &[u8]) {
    if let Err(error) = link.send_asdu(asdu, now()) {
        // Unreachable: pulled only while can_send, length checked on queueing.
        debug!(%error, "ASDU dropped");
    }
}

async fn run<R, W>(mut reader: R, mut writer: W, io: TaskIo)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let TaskIo {
        mut link,
        mut asdus,
        mut commands,
        events,
        max_backlog,
    } = io;
    let limit = backlog_limit(link.params().k);
    let mut read_buf = vec![0u8; READ_BUFFER];
    let mut out: Vec<u8> = Vec::new();
    let mut most = 0usize;
    let mut pending: Option<Event> = None;
    let mut asdus_open = true;
    let mut commands_open = true;
    loop {
        if let Some(bytes) = link.poll_transmit() {
            let waiting = out.len().saturating_add(bytes.len());
            if waiting > limit {
                link.handle_backlog_overflow(waiting, limit);
            } else {
                out.extend_from_slice(&bytes);
                if out.len() > most {
                    most = out.len();
                    max_backlog.store(most, Ordering::Relaxed);
                }
            }
        }
        if pending.is_none() {
            pending = link.poll_event();
        }
        let closed = link.state() == State::Closed;
        if closed && pending.is_none() {
            break;
        }
        let deadline = link.poll_timeout();
        let sleep_deadline = deadline.map_or_else(tokio::time::Instant::now, |d| {
            tokio::time::Instant::from_std(d)
        });
        let can_send = asdus_open && link.can_send();
        tokio::select! {
            permit = events.reserve(), if pending.is_some() => match permit {
                Ok(permit) => {
                    if let Some(event) = pending.take() {
                        permit.send(event);
                    }
                }
                Err(_) => {
                    // The application is gone: close and drop the events.
                    link.close();
                    while link.poll_event().is_some() {}
                    break;
                }
            },
            read = reader.read(&mut read_buf), if pending.is_none() && !closed => match read {
                Ok(0) => link.handle_eof(),
                Ok(n) => link.handle_bytes(read_buf.get(..n).unwrap_or_default(), now()),
                Err(error) => link.handle_io_error(error.kind()),
            },
            written = writer.write(&out), if !out.is_empty() && !closed => match written {
                Ok(0) => link.handle_io_error(io::ErrorKind::WriteZero),
                Ok(n) => {
                    out.drain(..n.min(out.len()));
                }
                Err(error) => link.handle_io_error(error.kind()),
            },
            () = tokio::time::sleep_until(sleep_deadline), if deadline.is_some() => {
                link.handle_timeout(now());
            }
            asdu = asdus.recv(), if can_send => match asdu {
                Some(asdu) => {
                    send_to_link(&mut link, &asdu);
                    while link.can_send() {
                        match asdus.try_recv() {
                            Ok(asdu) => send_to_link(&mut link, &asdu),
                            Err(_) => break,
                        }
                    }
                }
                None => asdus_open = false,
            },
            command = commands.recv(), if commands_open && !closed => match command {
                Some(Command::Start(reply)) => {
                    let _ = reply.send(link.start_data_transfer(now()));
                }
                Some(Command::Stop(reply)) => {
                    let _ = reply.send(link.stop_data_transfer(now()));
                }
                Some(Command::Close) => link.close(),
                None => {
                    // The handle was dropped.
                    commands_open = false;
                    link.close();
                }
            },
            else => break,
        }
    }
    match link.close_reason() {
        Some(reason @ CloseReason::PeerNotReading { .. }) => {
            warn!(%reason, "connection closed");
        }
        reason => debug!(?reason, "connection task ends"),
    }
}

#[cfg(test)]
mod tests {
    //! Over loopback TCP where the socket matters (connecting, refusing,
    //! closing, a peer that does not read); the timers and the k window
    //! over an in-memory stream on tokio's paused clock, so that t1, t3 and
    //! the wait for the window take no real time. Real sockets cannot run
    //! on the paused clock: the kernel's progress does not count as work
    //! for tokio, which then advances the clock past deadlines (t0, t1)
    //! that the kernel was about to meet.

    use super::*;
    use crate::iec104::apci::{self, Apci, FrameError, UFunction, decode_frame};
    use crate::iec104::link::Unanswered;
    use tokio::io::DuplexStream;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    /// A connection driven over an in-memory stream instead of TCP.
    fn spawn_on(stream: DuplexStream, link: Link) -> Connection {
        spawn(loopback(), link, move |io| async move {
            let (reader, writer) = tokio::io::split(stream);
            run(reader, writer, io).await;
        })
    }

    /// Octets the in-memory streams hold in each direction, as a socket
    /// buffer does.
    const STREAM_BUFFER: usize = 64 * 1024;

    /// A client and a server connected by an in-memory stream.
    fn memory_pair(params: Params) -> (Connection, Connection) {
        let (a, b) = tokio::io::duplex(STREAM_BUFFER);
        let client = spawn_on(a, controlling(params));
        let server = spawn_on(b, Link::new(Role::Controlled, params, now()));
        (client, server)
    }

    async fn started_memory_pair(params: Params) -> (Connection, Connection) {
        let (mut client, mut server) = memory_pair(params);
        assert_eq!(client.recv().await, Some(Event::DataTransferStarted));
        assert_eq!(server.recv().await, Some(Event::DataTransferStarted));
        (client, server)
    }

    async fn pair(params: Params) -> (Connection, Connection) {
        let listener = Listener::bind(loopback(), params).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, server) = tokio::join!(connect(addr, params), listener.accept());
        (client.unwrap(), server.unwrap())
    }

    async fn started_pair(params: Params) -> (Connection, Connection) {
        let (mut client, mut server) = pair(params).await;
        assert_eq!(client.recv().await, Some(Event::DataTransferStarted));
        assert_eq!(server.recv().await, Some(Event::DataTransferStarted));
        (client, server)
    }

    fn asdu(n: u32) -> Vec<u8> {
        n.to_le_bytes().to_vec()
    }

    async fn expect_asdus(connection: &mut Connection, count: u32) {
        for n in 0..count {
            assert_eq!(connection.recv().await, Some(Event::Asdu(asdu(n))));
        }
    }

    /// Reads one whole frame from a raw socket or stream.
    async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Apci> {
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).await.ok()?;
        let mut frame = header.to_vec();
        frame.resize(2 + usize::from(header[1]), 0);
        stream.read_exact(&mut frame[2..]).await.ok()?;
        decode_frame(&frame).unwrap().map(|(apdu, _)| apdu.apci)
    }

    fn u_frame(function: UFunction) -> Vec<u8> {
        let mut out = Vec::new();
        apci::encode_u(function, &mut out);
        out
    }

    #[tokio::test]
    async fn client_and_server_start_data_transfer_and_exchange_asdus_in_order() {
        let (mut client, mut server) = started_pair(Params::default()).await;
        assert_eq!(client.role(), Role::Controlling);
        assert_eq!(server.role(), Role::Controlled);
        assert!(client.peer().ip().is_loopback() && server.peer().ip().is_loopback());
        let count = 300;
        let client_sender = client.sender();
        let server_sender = server.sender();
        let sending = tokio::spawn(async move {
            for n in 0..count {
                client_sender.send(asdu(n)).await.unwrap();
                server_sender.send(asdu(n)).await.unwrap();
            }
        });
        tokio::join!(
            expect_asdus(&mut client, count),
            expect_asdus(&mut server, count)
        );
        sending.await.unwrap();
        client.close().await;
        assert_eq!(
            server.recv().await,
            Some(Event::Closed(CloseReason::RemoteClosed))
        );
        assert_eq!(server.recv().await, None);
    }

    #[tokio::test]
    async fn client_stops_and_restarts_data_transfer() {
        let (mut client, mut server) = started_pair(Params::default()).await;
        client.send(asdu(0)).await.unwrap();
        expect_asdus(&mut server, 1).await;
        client.stop_data_transfer().await.unwrap();
        assert_eq!(client.recv().await, Some(Event::DataTransferStopped));
        assert_eq!(server.recv().await, Some(Event::DataTransferStopped));
        assert_eq!(
            server.start_data_transfer().await,
            Err(ControlError::WrongRole(Role::Controlled))
        );
        client.start_data_transfer().await.unwrap();
        assert_eq!(client.recv().await, Some(Event::DataTransferStarted));
        assert_eq!(server.recv().await, Some(Event::DataTransferStarted));
    }

    #[tokio::test(start_paused = true)]
    async fn send_waits_while_k_frames_are_unacknowledged_because_the_peer_stops_reading() {
        let (client, mut server) = started_memory_pair(Params::default()).await;
        // The server application reads no events: the server stops reading
        // its socket once its event queue is full, so acknowledgements stop
        // and the client's k window closes.
        let total = 1000u32;
        let sent = Arc::new(AtomicUsize::new(0));
        let sender = client.sender();
        let sent_count = Arc::clone(&sent);
        let mut sending = tokio::spawn(async move {
            for n in 0..total {
                sender.send(asdu(n)).await.unwrap();
                sent_count.fetch_add(1, Ordering::SeqCst);
            }
        });
        // A bound, not a synchronisation: the sender must still be held up.
        let held = tokio::time::timeout(Duration::from_millis(500), &mut sending).await;
        assert!(
            held.is_err(),
            "all {total} ASDUs went out without acknowledgement"
        );
        let stalled_at = sent.load(Ordering::SeqCst);
        assert!(stalled_at < 200, "sent {stalled_at}");
        // The server reads again: everything arrives in order and the
        // sender finishes.
        expect_asdus(&mut server, total).await;
        sending.await.unwrap();
        assert_eq!(client.send(asdu(0)).await, Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn client_closes_a_peer_that_stops_acknowledging_after_t1() {
        let params = Params {
            t1: Duration::from_millis(200),
            t2: Duration::from_millis(100),
            ..Params::default()
        };
        let (ours, mut peer) = tokio::io::duplex(STREAM_BUFFER);
        let mut client = spawn_on(ours, controlling(params));
        assert_eq!(
            read_frame(&mut peer).await,
            Some(Apci::U(UFunction::StartDtAct))
        );
        peer.write_all(&u_frame(UFunction::StartDtCon))
            .await
            .unwrap();
        assert_eq!(client.recv().await, Some(Event::DataTransferStarted));
        client.send(asdu(7)).await.unwrap();
        assert_eq!(
            read_frame(&mut peer).await,
            Some(Apci::I {
                send_seq: 0,
                recv_seq: 0
            })
        );
        // The peer goes silent; the client gives up after t1.
        assert_eq!(
            client.recv().await,
            Some(Event::Closed(CloseReason::T1Expired(Unanswered::IFrame {
                send_seq: 0
            })))
        );
        assert_eq!(read_frame(&mut peer).await, None);
        assert_eq!(client.send(asdu(8)).await, Err(SendError::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn server_closes_a_client_that_does_not_answer_testfr() {
        let params = Params {
            t1: Duration::from_millis(200),
            t3: Duration::from_millis(100),
            ..Params::default()
        };
        let (ours, mut raw) = tokio::io::duplex(STREAM_BUFFER);
        let mut server = spawn_on(ours, Link::new(Role::Controlled, params, now()));
        assert_eq!(
            read_frame(&mut raw).await,
            Some(Apci::U(UFunction::TestFrAct))
        );
        assert_eq!(
            server.recv().await,
            Some(Event::Closed(CloseReason::T1Expired(Unanswered::TestFrAct)))
        );
        assert_eq!(read_frame(&mut raw).await, None);
    }

    #[tokio::test]
    async fn server_closes_on_malformed_bytes() {
        let listener = Listener::bind(loopback(), Params::default()).await.unwrap();
        let mut raw = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut server = listener.accept().await.unwrap();
        raw.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        assert_eq!(
            server.recv().await,
            Some(Event::Closed(CloseReason::Frame(FrameError::BadStart(
                0x16
            ))))
        );
        assert_eq!(read_frame(&mut raw).await, None);
    }

    #[tokio::test]
    async fn dropping_the_handle_closes_the_connection() {
        let (client, mut server) = started_pair(Params::default()).await;
        drop(client);
        assert_eq!(
            server.recv().await,
            Some(Event::Closed(CloseReason::RemoteClosed))
        );
    }

    #[tokio::test]
    async fn connect_to_a_closed_port_is_refused() {
        let listener = TcpListener::bind(loopback()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert_eq!(
            connect(addr, Params::default()).await.err(),
            Some(ConnectError::Refused { addr })
        );
    }

    /// On the real clock: the paused one would give up on connections the
    /// kernel is about to complete, and the test would pass without a full
    /// backlog.
    #[tokio::test]
    async fn connect_gives_up_after_t0() {
        // A listener that accepts nothing and has a backlog of one: once it
        // is full, the kernel drops further SYNs and connect hangs.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(loopback()).unwrap();
        let listener = socket.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        let t0 = Duration::from_millis(200);
        let params = Params {
            t0,
            ..Params::default()
        };
        let mut held = Vec::new();
        let mut outcome = None;
        for _ in 0..16 {
            match connect(addr, params).await {
                Ok(connection) => held.push(connection),
                Err(error) => {
                    outcome = Some(error);
                    break;
                }
            }
        }
        assert_eq!(outcome, Some(ConnectError::Timeout { addr, t0 }));
    }

    #[tokio::test]
    async fn refuses_empty_and_too_long_asdus_before_queueing() {
        let (client, _server) = started_pair(Params::default()).await;
        assert_eq!(client.send(Vec::new()).await, Err(SendError::Empty));
        assert_eq!(
            client.send(vec![0; 250]).await,
            Err(SendError::TooLong(250))
        );
    }

    /// Writes TESTFR act without end and reads nothing, until the
    /// connection breaks; the octets written.
    async fn flood_testfr_act(mut raw: TcpStream, most: usize) -> usize {
        let burst = u_frame(UFunction::TestFrAct).repeat(1024);
        let mut written = 0;
        while written < most {
            match raw.write(&burst).await {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n,
            }
        }
        written
    }

    #[tokio::test]
    async fn a_peer_that_floods_testfr_act_and_never_reads_is_closed_within_the_backlog_limit() {
        let params = Params::default();
        let limit = backlog_limit(params.k);
        let listener = Listener::bind(loopback(), params).await.unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        // A small receive buffer, so that the kernel holds little of what
        // the peer never reads.
        socket.set_recv_buffer_size(4096).unwrap();
        let (raw, server) = tokio::join!(
            socket.connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        let mut server = server.unwrap();
        // Far more than the kernel's buffers and the limit together.
        let most = 64 * 1024 * 1024;
        let flood = tokio::spawn(flood_testfr_act(raw.unwrap(), most));
        match server.recv().await {
            Some(Event::Closed(CloseReason::PeerNotReading {
                waiting,
                limit: reported,
            })) => {
                assert_eq!(reported, limit);
                assert!(waiting > limit, "{waiting} octets");
            }
            other => panic!("closed for the backlog expected, got {other:?}"),
        }
        assert_eq!(server.recv().await, None);
        assert!(server.max_backlog() <= limit, "{}", server.max_backlog());
        assert!(
            server.max_backlog() > limit - READ_BUFFER,
            "the backlog was filled before the close: {}",
            server.max_backlog()
        );
        let written = flood.await.unwrap();
        assert!(written < most, "the peer's writes failed once closed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_backlog_of_a_peer_that_sends_without_reading_never_exceeds_the_limit() {
        let params = Params::default();
        let limit = backlog_limit(params.k);
        // A stream that holds 1 Ki octets towards the peer, which never
        // reads: the rest of the answers wait in the driver.
        let (ours, mut raw) = tokio::io::duplex(1024);
        let mut server = spawn_on(ours, Link::new(Role::Controlled, params, now()));
        let burst = u_frame(UFunction::TestFrAct).repeat(100);
        let mut sent = 0usize;
        let event = loop {
            tokio::select! {
                biased;
                event = server.recv() => break event,
                written = raw.write_all(&burst) => match written {
                    Ok(()) => sent += burst.len(),
                    // Closed: the event is queued already.
                    Err(_) => break server.recv().await,
                },
            }
        };
        let Some(Event::Closed(CloseReason::PeerNotReading {
            waiting,
            limit: reported,
        })) = event
        else {
            panic!("closed for the backlog expected, got {event:?}");
        };
        assert_eq!(reported, limit);
        assert!(
            waiting > limit && waiting <= limit + 1024,
            "closed at the first answers beyond the limit: {waiting}"
        );
        assert!(server.max_backlog() <= limit);
        assert!(sent > limit, "{sent} octets sent");
    }

    #[tokio::test]
    async fn a_refused_incoming_connection_starts_no_task_and_is_closed_at_once() {
        let listener = Listener::bind(loopback(), Params::default()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        for _ in 0..200 {
            let (raw, incoming) = tokio::join!(TcpStream::connect(addr), listener.incoming());
            let mut raw = raw.unwrap();
            let incoming = incoming.unwrap();
            assert_eq!(incoming.peer(), raw.local_addr().unwrap());
            assert_eq!(listener.connections(), 0, "nothing runs for it");
            drop(incoming);
            assert_eq!(read_frame(&mut raw).await, None, "closed");
        }
        assert_eq!(listener.connections(), 0, "the refused left nothing");
        // An admitted connection runs until it is closed.
        let (raw, incoming) = tokio::join!(TcpStream::connect(addr), listener.incoming());
        let mut raw = raw.unwrap();
        let server = incoming.unwrap().admit();
        assert_eq!(listener.connections(), 1);
        raw.write_all(&u_frame(UFunction::TestFrAct)).await.unwrap();
        assert_eq!(
            read_frame(&mut raw).await,
            Some(Apci::U(UFunction::TestFrCon))
        );
        server.close().await;
        assert_eq!(listener.connections(), 0);
    }

    #[tokio::test]
    async fn control_requests_from_many_callers_at_once_are_each_answered() {
        let (client, mut server) = started_pair(Params::default()).await;
        // More callers than the command queue holds: the rest wait for room.
        let answers =
            futures::future::join_all((0..COMMAND_QUEUE * 4).map(|_| client.stop_data_transfer()))
                .await;
        let stopped = answers.iter().filter(|a| a.is_ok()).count();
        assert_eq!(stopped, 1, "{answers:?}");
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Ok(()) | Err(ControlError::WrongState(_)))),
            "{answers:?}"
        );
        assert_eq!(server.recv().await, Some(Event::DataTransferStopped));
    }
}
