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

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info_span};

use super::apci::MAX_ASDU_LEN;
use super::link::{ControlError, Event, Link, Role, SendError, State};
use super::params::Params;

/// Outgoing ASDUs queued beyond the k window.
const ASDU_QUEUE: usize = 1;

/// Events queued for the application before the socket is read no more.
const EVENT_QUEUE: usize = 64;

/// Octets read from the socket at once.
const READ_BUFFER: usize = 4096;

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
    commands: mpsc::UnboundedSender<Command>,
    peer: SocketAddr,
    role: Role,
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
        if self.commands.send(command(reply)).is_err() {
            return Err(ControlError::WrongState(State::Closed));
        }
        answer
            .await
            .unwrap_or(Err(ControlError::WrongState(State::Closed)))
    }

    /// Closes the link and waits until the socket is closed.
    pub async fn close(self) {
        // An error means the task has ended already.
        let _ = self.commands.send(Command::Close);
        drop(self.events);
        if let Err(error) = self.task.await {
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
    let mut link = Link::new(Role::Controlling, params, now());
    if let Err(error) = link.start_data_transfer(now()) {
        debug!(%error, "STARTDT act not sent");
    }
    Ok(spawn(stream, addr, link))
}

/// Accepts connections as controlled station.
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    params: Params,
}

impl Listener {
    /// Listens on `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, params: Params) -> io::Result<Self> {
        Ok(Self {
            inner: TcpListener::bind(addr).await?,
            params,
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Waits for the next controlling station.
    pub async fn accept(&self) -> io::Result<Connection> {
        let (stream, peer) = self.inner.accept().await?;
        let link = Link::new(Role::Controlled, self.params, now());
        Ok(spawn(stream, peer, link))
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

fn spawn(stream: TcpStream, peer: SocketAddr, link: Link) -> Connection {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%error, "TCP_NODELAY not set");
    }
    let role = link.role();
    let (asdu_tx, asdu_rx) = mpsc::channel(ASDU_QUEUE);
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE);
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let span = info_span!("iec104", %peer, %role);
    let task = tokio::spawn(run(stream, link, asdu_rx, command_rx, event_tx).instrument(span));
    Connection {
        sender: AsduSender { tx: asdu_tx },
        events: event_rx,
        commands: command_tx,
        peer,
        role,
        task,
    }
}

fn send_to_link(link: &mut Link, asdu: &[u8]) {
    if let Err(error) = link.send_asdu(asdu, now()) {
        // Unreachable: pulled only while can_send, length checked on queueing.
        debug!(%error, "ASDU dropped");
    }
}

async fn run(
    mut stream: TcpStream,
    mut link: Link,
    mut asdus: mpsc::Receiver<Vec<u8>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<Event>,
) {
    let (mut reader, mut writer) = stream.split();
    let mut read_buf = vec![0u8; READ_BUFFER];
    let mut out: Vec<u8> = Vec::new();
    let mut pending: Option<Event> = None;
    let mut asdus_open = true;
    let mut commands_open = true;
    loop {
        if let Some(bytes) = link.poll_transmit() {
            out.extend_from_slice(&bytes);
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
    debug!(reason = ?link.close_reason(), "connection task ends");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iec104::apci::{self, Apci, FrameError, UFunction, decode_frame};
    use crate::iec104::link::{CloseReason, Unanswered};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
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

    /// Reads one whole frame from a raw socket.
    async fn read_frame(stream: &mut TcpStream) -> Option<Apci> {
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

    #[tokio::test]
    async fn send_waits_while_k_frames_are_unacknowledged_because_the_peer_stops_reading() {
        let (client, mut server) = started_pair(Params::default()).await;
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

    #[tokio::test]
    async fn client_closes_a_peer_that_stops_acknowledging_after_t1() {
        let listener = TcpListener::bind(loopback()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let params = Params {
            t1: Duration::from_millis(200),
            t2: Duration::from_millis(100),
            ..Params::default()
        };
        let mut client = connect(addr, params).await.unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
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

    #[tokio::test]
    async fn server_closes_a_client_that_does_not_answer_testfr() {
        let params = Params {
            t1: Duration::from_millis(200),
            t3: Duration::from_millis(100),
            ..Params::default()
        };
        let listener = Listener::bind(loopback(), params).await.unwrap();
        let mut raw = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut server = listener.accept().await.unwrap();
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
}
