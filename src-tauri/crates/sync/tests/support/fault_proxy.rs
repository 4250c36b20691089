//! A loopback proxy in front of an HTTP/1 server that drops, delays,
//! duplicates and cuts requests and responses on demand, for the tests that
//! check that no sync change is lost or applied twice.
//!
//! It carries one request per client connection: it reads the request whole
//! (head, then a `Content-Length` body), forwards it on a fresh upstream
//! connection with `Connection: close`, reads the whole response
//! (`Content-Length`, or until the upstream closes) and answers with
//! `Connection: close`. Closing both sides after each exchange keeps every
//! message boundary plain, so a fault always hits exactly one request.

#![allow(dead_code)] // each test binary uses its own part of the support code

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Heads larger than this are refused (the client is closed).
const MAX_HEAD: usize = 64 * 1024;
/// How long the proxy waits on the upstream before giving the exchange up,
/// so a test fails instead of hanging.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded and answered as is (to aim a later fault at a later request).
    Pass,
    /// The request is read, then the client connection is closed: the
    /// upstream never sees it.
    DropRequest,
    /// The request is forwarded and the upstream's whole response read, then
    /// the client connection is closed without it: the server applied the
    /// request, the client never hears so.
    DropResponse,
    /// The request is held this long before it is forwarded.
    Delay(Duration),
    /// The response is held this long after the upstream gave it.
    DelayResponse(Duration),
    /// The request is forwarded twice, one connection after the other; the
    /// client gets the second answer.
    Duplicate,
    /// Only the first part of the request reaches the upstream (half the body,
    /// or half the head if it has no body); both connections are then closed
    /// and the client gets no answer.
    CutRequest,
    /// The request is forwarded; the client gets only the first part of the
    /// response (half its body, or half its head), then the connection closes.
    CutResponse,
}

pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

/// A queued fault, and the requests it may hit: any (`None`), or only those
/// whose path starts with this.
struct Queued {
    path: Option<String>,
    fault: Fault,
}

struct Shared {
    upstream: SocketAddr,
    /// Faults for the next requests, in arrival order.
    queue: Mutex<VecDeque<Queued>>,
    /// The fault for every request once the queue is empty.
    always: Mutex<Fault>,
    seen: AtomicUsize,
    forwarded: AtomicUsize,
    answered: AtomicUsize,
}

impl Shared {
    /// The fault for a request to `path`: the first queued one if it may hit
    /// it; otherwise (a fault waiting for another path, or none) `always`.
    fn next_fault(&self, path: &str) -> Fault {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let aimed_here = queue
            .front()
            .is_some_and(|queued| queued.path.as_ref().is_none_or(|p| path.starts_with(p)));
        match aimed_here.then(|| queue.pop_front()).flatten() {
            Some(queued) => queued.fault,
            None => *self.always.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy on loopback");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream,
            queue: Mutex::new(VecDeque::new()),
            always: Mutex::new(Fault::Pass),
            seen: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
        });
        let accepting = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        FaultProxy {
            addr,
            shared,
            accepting,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to give the client instead of the server's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a fault for the next request that has none queued before it.
    pub fn push_fault(&self, fault: Fault) {
        self.queue(None, fault);
    }

    /// Queues a fault for the next request whose path starts with `path`
    /// (and that has none queued before it); requests to other paths pass
    /// meanwhile. `push_fault_on("/v1/sync/pull", Pass)` then a fault: the
    /// fault hits the second pull page, whatever is pushed before it.
    pub fn push_fault_on(&self, path: &str, fault: Fault) {
        self.queue(Some(path.to_string()), fault);
    }

    fn queue(&self, path: Option<String>, fault: Fault) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(Queued { path, fault });
    }

    /// Applies `fault` to every request once the queue is empty (`Fault::Pass`
    /// by default), e.g. `DropRequest` for a remote that cannot be reached.
    pub fn set(&self, fault: Fault) {
        *self
            .shared
            .always
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// Forgets queued faults and passes every request from now on.
    pub fn clear(&self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.set(Fault::Pass);
    }

    /// Queued faults not yet applied.
    pub fn faults_pending(&self) -> usize {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whole requests read from clients, whatever their fault.
    pub fn requests_seen(&self) -> usize {
        self.shared.seen.load(Ordering::SeqCst)
    }

    /// Whole requests written to the upstream (a duplicate counts twice, a
    /// cut or dropped request not at all).
    pub fn forwarded(&self) -> usize {
        self.shared.forwarded.load(Ordering::SeqCst)
    }

    /// Whole answers read from the upstream (for a duplicate, both). While
    /// fewer than `forwarded`, a request is with the upstream.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Also ends the exchanges in flight: they live in the loop's JoinSet.
        self.accepting.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut exchanges = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                exchanges.spawn(serve_client(client, Arc::clone(&shared)));
            }
            Some(_) = exchanges.join_next(), if !exchanges.is_empty() => {}
        }
    }
}

/// An HTTP/1 message as the proxy handles it: the start line, the headers as
/// they came, and the body.
#[derive(Debug, Clone)]
struct Message {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The message on the wire with `Connection: close` in place of any
    /// connection-management header; also where a cut falls (half the body,
    /// or half the head when there is no body).
    fn to_wire(&self) -> (Vec<u8>, usize) {
        let mut head = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            let hop_by_hop = ["connection", "keep-alive", "proxy-connection"]
                .iter()
                .any(|hop| name.eq_ignore_ascii_case(hop));
            if !hop_by_hop {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        let cut = if self.body.is_empty() {
            head.len() / 2
        } else {
            head.len() + self.body.len() / 2
        };
        let mut wire = head.into_bytes();
        wire.extend_from_slice(&self.body);
        (wire, cut)
    }
}

/// Reads up to the end of a head; returns the head and the bytes read past it.
/// `None` if the peer closed before a whole head.
async fn read_head<R: AsyncRead + Unpin>(
    stream: &mut R,
) -> io::Result<Option<(String, Vec<String>, Vec<u8>)>> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buffer.split_off(end + 4);
            let head = String::from_utf8(buffer[..end].to_vec())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a head not in UTF-8"))?;
            let mut lines = head.split("\r\n").map(str::to_string);
            let start = lines.next().unwrap_or_default();
            return Ok(Some((start, lines.collect(), rest)));
        }
        if buffer.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn parse_headers(lines: Vec<String>) -> io::Result<Vec<(String, String)>> {
    lines
        .into_iter()
        .map(|line| {
            line.split_once(':')
                .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a header without ':'"))
        })
        .collect()
}

fn content_length(headers: &[(String, String)]) -> io::Result<Option<usize>> {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| {
            value
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a bad Content-Length"))
        })
        .transpose()
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && !value.eq_ignore_ascii_case("identity")
    })
}

/// Reads exactly `length` body bytes, `rest` (read with the head) first.
async fn read_body<R: AsyncRead + Unpin>(
    stream: &mut R,
    mut rest: Vec<u8>,
    length: usize,
) -> io::Result<Vec<u8>> {
    if rest.len() < length {
        let have = rest.len();
        rest.resize(length, 0);
        stream.read_exact(&mut rest[have..]).await?;
    }
    rest.truncate(length);
    Ok(rest)
}

enum ClientRequest {
    Whole(Message),
    /// A body the proxy cannot frame (chunked): answered 501, not forwarded.
    Unsupported,
}

async fn read_request(client: &mut TcpStream) -> io::Result<Option<ClientRequest>> {
    let Some((start, lines, rest)) = read_head(client).await? else {
        return Ok(None);
    };
    let headers = parse_headers(lines)?;
    if is_chunked(&headers) {
        return Ok(Some(ClientRequest::Unsupported));
    }
    let length = content_length(&headers)?.unwrap_or(0);
    let body = read_body(client, rest, length).await?;
    Ok(Some(ClientRequest::Whole(Message {
        start,
        headers,
        body,
    })))
}

/// Reads a whole response; a body without `Content-Length` runs to the close.
async fn read_response(upstream: &mut TcpStream, method: &str) -> io::Result<Message> {
    let (start, lines, rest) = read_head(upstream).await?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the upstream closed before answering",
        )
    })?;
    let headers = parse_headers(lines)?;
    let status: u16 = start
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let bodiless = method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304;
    let body = if bodiless {
        Vec::new()
    } else if let (Some(length), false) = (content_length(&headers)?, is_chunked(&headers)) {
        read_body(upstream, rest, length).await?
    } else {
        let mut body = rest;
        upstream.read_to_end(&mut body).await?;
        body
    };
    Ok(Message {
        start,
        headers,
        body,
    })
}

/// Sends `request` on a new upstream connection and reads the whole answer.
async fn forward(shared: &Shared, request: &Message) -> io::Result<Message> {
    let exchange = async {
        let mut upstream = TcpStream::connect(shared.upstream).await?;
        upstream.write_all(&request.to_wire().0).await?;
        shared.forwarded.fetch_add(1, Ordering::SeqCst);
        let method = request.start.split_whitespace().next().unwrap_or("");
        let response = read_response(&mut upstream, method).await?;
        shared.answered.fetch_add(1, Ordering::SeqCst);
        Ok(response)
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the upstream did not answer"))?
}

/// Writes the first part of `request` to the upstream, closes its sending
/// side, and waits for the upstream to close (so that by the time the client
/// hears nothing, the server has dealt with the cut request).
async fn forward_cut(shared: &Shared, request: &Message) -> io::Result<()> {
    let exchange = async {
        let mut upstream = TcpStream::connect(shared.upstream).await?;
        let (wire, cut) = request.to_wire();
        upstream.write_all(&wire[..cut]).await?;
        upstream.shutdown().await?;
        let mut ignored = Vec::new();
        // The upstream may answer the cut request with an error, or reset.
        let _ = upstream.read_to_end(&mut ignored).await;
        Ok(())
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the upstream did not close"))?
}

async fn answer(client: &mut TcpStream, response: &Message, whole: bool) -> io::Result<()> {
    let (wire, cut) = response.to_wire();
    let end = if whole { wire.len() } else { cut };
    client.write_all(&wire[..end]).await?;
    client.shutdown().await
}

const NOT_IMPLEMENTED: &[u8] =
    b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// One client connection: one request, its fault, then close. An upstream
/// that fails (refused, reset, silent) closes the client without an answer,
/// as a dead server would look to it.
async fn serve_client(mut client: TcpStream, shared: Arc<Shared>) {
    let request = match read_request(&mut client).await {
        Ok(Some(ClientRequest::Whole(request))) => request,
        Ok(Some(ClientRequest::Unsupported)) => {
            let _ = client.write_all(NOT_IMPLEMENTED).await;
            let _ = client.shutdown().await;
            return;
        }
        // A client that closed an idle connection, or sent something that is not HTTP/1.
        Ok(None) | Err(_) => return,
    };
    shared.seen.fetch_add(1, Ordering::SeqCst);
    let path = request.start.split_whitespace().nth(1).unwrap_or("");
    let _ = apply(shared.next_fault(path), &mut client, &shared, &request).await;
    // Dropping the client stream closes it, with or without an answer.
}

async fn apply(
    fault: Fault,
    client: &mut TcpStream,
    shared: &Shared,
    request: &Message,
) -> io::Result<()> {
    match fault {
        Fault::Pass => answer(client, &forward(shared, request).await?, true).await,
        Fault::DropRequest => Ok(()),
        Fault::DropResponse => forward(shared, request).await.map(drop),
        Fault::Delay(wait) => {
            tokio::time::sleep(wait).await;
            answer(client, &forward(shared, request).await?, true).await
        }
        Fault::DelayResponse(wait) => {
            let response = forward(shared, request).await?;
            tokio::time::sleep(wait).await;
            answer(client, &response, true).await
        }
        Fault::Duplicate => {
            forward(shared, request).await?;
            answer(client, &forward(shared, request).await?, true).await
        }
        Fault::CutRequest => forward_cut(shared, request).await,
        Fault::CutResponse => answer(client, &forward(shared, request).await?, false).await,
    }
}
