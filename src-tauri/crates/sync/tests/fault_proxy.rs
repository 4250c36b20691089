//! The fault proxy of the sync fault tests, checked fault by fault against a
//! tiny HTTP/1 upstream that records every byte it receives and numbers its
//! answers.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::fault_proxy::{Fault, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const PATIENCE: Duration = Duration::from_secs(10);

/// What the upstream received on one connection.
#[derive(Debug, Clone)]
struct Received {
    bytes: Vec<u8>,
    /// A whole request (head and its Content-Length body) arrived.
    whole: bool,
}

impl Received {
    fn head(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        text.split("\r\n\r\n").next().unwrap_or("").to_lowercase()
    }

    fn body(&self) -> &[u8] {
        let start = find(&self.bytes, b"\r\n\r\n").map_or(self.bytes.len(), |at| at + 4);
        &self.bytes[start..]
    }
}

/// Answers each whole request with `200`, the body `answer N: <request
/// body>` (N counts whole requests) and `Connection: close`; records every
/// connection's bytes, whole or not.
struct Upstream {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let task = tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(upstream_connection(stream, Arc::clone(&log)));
            }
        });
        Upstream {
            addr,
            received,
            task,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn whole_requests(&self) -> usize {
        self.received().iter().filter(|r| r.whole).count()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn declared_length(head: &str) -> usize {
    head.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap())
}

async fn upstream_connection(mut stream: TcpStream, log: Arc<Mutex<Vec<Received>>>) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    let whole = loop {
        if let Some(end) = find(&bytes, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
            if bytes.len() >= end + 4 + declared_length(&head) {
                break true;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break false,
            Ok(read) => bytes.extend_from_slice(&chunk[..read]),
        }
    };
    let received = Received { bytes, whole };
    let number = {
        let mut log = log.lock().unwrap();
        log.push(received.clone());
        whole.then(|| log.iter().filter(|r| r.whole).count())
    };
    if let Some(number) = number {
        let mut body = format!("answer {number}: ").into_bytes();
        body.extend_from_slice(received.body());
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&body).await;
    }
    let _ = stream.shutdown().await;
}

fn post(body: &[u8], connection: &str) -> Vec<u8> {
    let mut request = format!(
        "POST /v1/sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Connection: {connection}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Sends `request` and reads until the proxy closes: what the client heard.
async fn send(proxy: &FaultProxy, request: &[u8]) -> Vec<u8> {
    let exchange = async {
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut reply = Vec::new();
        // A reset after a dropped answer counts as hearing nothing more.
        let _ = stream.read_to_end(&mut reply).await;
        reply
    };
    tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the proxy neither answered nor closed the connection")
}

struct Reply {
    head: String,
    body: Vec<u8>,
}

fn parse(reply: &[u8]) -> Reply {
    let end = find(reply, b"\r\n\r\n").unwrap_or_else(|| {
        panic!(
            "no whole response head in {:?}",
            String::from_utf8_lossy(reply)
        )
    });
    Reply {
        head: String::from_utf8_lossy(&reply[..end]).to_lowercase(),
        body: reply[end + 4..].to_vec(),
    }
}

async fn setup() -> (Upstream, FaultProxy) {
    let upstream = Upstream::start().await;
    let proxy = FaultProxy::start(upstream.addr).await;
    (upstream, proxy)
}

const BODY: &[u8] = br#"{"changes":[{"idempotency_id":"0191"}]}"#;

fn answer(number: usize, body: &[u8]) -> Vec<u8> {
    let mut expected = format!("answer {number}: ").into_bytes();
    expected.extend_from_slice(body);
    expected
}

#[tokio::test]
async fn a_request_passes_whole_with_connection_close_both_ways() {
    let (upstream, proxy) = setup().await;
    assert!(proxy.url().starts_with("http://127.0.0.1:"));
    let reply = parse(&send(&proxy, &post(BODY, "keep-alive")).await);

    assert!(reply.head.starts_with("http/1.1 200"), "{}", reply.head);
    assert_eq!(reply.body, answer(1, BODY));
    assert!(reply.head.contains("connection: close"), "{}", reply.head);
    assert_eq!(declared_length(&reply.head), reply.body.len());
    let received = upstream.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].whole);
    assert_eq!(received[0].body(), BODY);
    let head = received[0].head();
    assert!(
        head.starts_with("post /v1/sync/push http/1.1"),
        "the request line is kept: {head}"
    );
    assert!(head.contains("connection: close"), "{head}");
    assert!(!head.contains("keep-alive"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!((proxy.requests_seen(), proxy.forwarded()), (1, 1));
}

#[tokio::test]
async fn a_large_body_crosses_whole_in_both_directions() {
    let (upstream, proxy) = setup().await;
    let body: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let reply = parse(&send(&proxy, &post(&body, "close")).await);

    assert_eq!(upstream.received()[0].body(), &body[..]);
    assert_eq!(reply.body.len(), answer(1, &body).len());
    assert!(reply.body == answer(1, &body), "the response body changed");
}

#[tokio::test]
async fn drop_request_closes_the_client_and_forwards_nothing() {
    let (upstream, proxy) = setup().await;
    proxy.push_fault(Fault::DropRequest);
    let reply = send(&proxy, &post(BODY, "keep-alive")).await;

    assert!(reply.is_empty(), "{}", String::from_utf8_lossy(&reply));
    assert!(upstream.received().is_empty());
    assert_eq!((proxy.requests_seen(), proxy.forwarded()), (1, 0));
    let next = parse(&send(&proxy, &post(BODY, "close")).await);
    assert_eq!(
        next.body,
        answer(1, BODY),
        "the next request passes: the queue is spent"
    );
}

#[tokio::test]
async fn a_fault_aimed_at_a_path_waits_for_a_request_on_that_path() {
    let (upstream, proxy) = setup().await;
    proxy.push_fault_on("/v1/sync/pull", Fault::Pass);
    proxy.push_fault_on("/v1/sync/pull", Fault::DropRequest);
    // Pushes pass while the faults wait for pulls.
    for number in 1..=2 {
        let reply = parse(&send(&proxy, &post(BODY, "close")).await);
        assert_eq!(reply.body, answer(number, BODY));
    }
    assert_eq!(proxy.faults_pending(), 2);
    let first_pull = parse(&send(&proxy, &get("/v1/sync/pull?since=0")).await);
    assert_eq!(first_pull.body, answer(3, b""), "the first pull passes");
    assert_eq!(proxy.faults_pending(), 1);
    let second_pull = send(&proxy, &get("/v1/sync/pull?since=2")).await;
    assert!(second_pull.is_empty(), "the second pull is dropped");
    assert_eq!(proxy.faults_pending(), 0);
    assert_eq!(upstream.whole_requests(), 3);
    assert_eq!(
        (proxy.requests_seen(), proxy.forwarded(), proxy.answered()),
        (4, 3, 3)
    );
}

#[tokio::test]
async fn drop_response_lets_the_upstream_apply_it_and_the_client_hear_nothing() {
    let (upstream, proxy) = setup().await;
    proxy.push_fault(Fault::DropResponse);
    let reply = send(&proxy, &post(BODY, "close")).await;

    assert!(reply.is_empty(), "{}", String::from_utf8_lossy(&reply));
    assert_eq!(upstream.whole_requests(), 1, "the upstream got it whole");
    let next = parse(&send(&proxy, &post(BODY, "close")).await);
    assert_eq!(next.body, answer(2, BODY));
}

#[tokio::test]
async fn delay_holds_the_request_before_forwarding() {
    let (upstream, proxy) = setup().await;
    let proxy = Arc::new(proxy);
    proxy.push_fault(Fault::Delay(Duration::from_millis(600)));
    let started = Instant::now();
    let client = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move { send(&proxy, &post(BODY, "close")).await }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        upstream.received().is_empty(),
        "forwarded before the delay ran out"
    );
    let reply = parse(&client.await.unwrap());

    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(reply.body, answer(1, BODY));
}

#[tokio::test]
async fn delay_response_holds_the_answer_after_the_upstream_gave_it() {
    let (upstream, proxy) = setup().await;
    let proxy = Arc::new(proxy);
    proxy.push_fault(Fault::DelayResponse(Duration::from_millis(1000)));
    let started = Instant::now();
    let client = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move { send(&proxy, &post(BODY, "close")).await }
    });
    while upstream.whole_requests() == 0 {
        assert!(started.elapsed() < PATIENCE, "never forwarded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !client.is_finished(),
        "answered before the delay ran out, or not forwarded at once"
    );
    let reply = parse(&client.await.unwrap());

    assert!(started.elapsed() >= Duration::from_millis(1000));
    assert_eq!(reply.body, answer(1, BODY));
}

#[tokio::test]
async fn duplicate_forwards_the_same_bytes_twice_and_returns_the_second_answer() {
    let (upstream, proxy) = setup().await;
    proxy.push_fault(Fault::Duplicate);
    let reply = parse(&send(&proxy, &post(BODY, "close")).await);

    let received = upstream.received();
    assert_eq!(received.len(), 2, "two upstream connections");
    assert!(received.iter().all(|r| r.whole));
    assert_eq!(received[0].bytes, received[1].bytes);
    assert_eq!(reply.body, answer(2, BODY));
    assert_eq!((proxy.requests_seen(), proxy.forwarded()), (1, 2));
}

#[tokio::test]
async fn cut_request_forwards_part_of_the_body_and_answers_nothing() {
    let (upstream, proxy) = setup().await;
    proxy.push_fault(Fault::CutRequest);
    let reply = send(&proxy, &post(BODY, "close")).await;

    assert!(reply.is_empty(), "{}", String::from_utf8_lossy(&reply));
    let received = upstream.received();
    assert_eq!(
        received.len(),
        1,
        "the upstream had the cut request by then"
    );
    assert!(!received[0].whole);
    let got = received[0].body().len();
    assert!(
        got > 0 && got < BODY.len(),
        "{got} of {} body bytes",
        BODY.len()
    );
    assert_eq!(proxy.forwarded(), 0);
}

#[tokio::test]
async fn cut_request_without_a_body_cuts_the_head() {
    let (upstream, proxy) = setup().await;
    proxy.push_fault(Fault::CutRequest);
    let get = b"GET /v1/sync/pull?since=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    assert!(send(&proxy, get).await.is_empty());

    let received = upstream.received();
    assert_eq!(received.len(), 1);
    assert!(!received[0].whole);
    assert!(find(&received[0].bytes, b"\r\n\r\n").is_none());
    assert!(received[0].bytes.starts_with(b"GET /v1/sync/pull"));
}

#[tokio::test]
async fn cut_response_gives_the_client_part_of_an_answer_the_upstream_gave_whole() {
    let (upstream, proxy) = setup().await;
    proxy.push_fault(Fault::CutResponse);
    let reply = parse(&send(&proxy, &post(BODY, "close")).await);

    assert!(reply.head.starts_with("http/1.1 200"), "{}", reply.head);
    let declared = declared_length(&reply.head);
    assert_eq!(declared, answer(1, BODY).len());
    assert!(
        !reply.body.is_empty() && reply.body.len() < declared,
        "{} of {declared} body bytes",
        reply.body.len()
    );
    assert!(answer(1, BODY).starts_with(&reply.body));
    assert_eq!(upstream.whole_requests(), 1);
}

#[tokio::test]
async fn queued_faults_apply_in_arrival_order_then_requests_pass() {
    let (upstream, proxy) = setup().await;
    proxy.push_fault(Fault::Pass);
    proxy.push_fault(Fault::DropResponse);
    proxy.push_fault(Fault::DropRequest);
    assert_eq!(proxy.faults_pending(), 3);

    assert_eq!(
        parse(&send(&proxy, &post(b"1", "close")).await).body,
        answer(1, b"1")
    );
    assert!(send(&proxy, &post(b"2", "close")).await.is_empty());
    assert!(send(&proxy, &post(b"3", "close")).await.is_empty());
    assert_eq!(
        parse(&send(&proxy, &post(b"4", "close")).await).body,
        answer(3, b"4")
    );

    let bodies: Vec<Vec<u8>> = upstream
        .received()
        .iter()
        .map(|r| r.body().to_vec())
        .collect();
    assert_eq!(bodies, [b"1".to_vec(), b"2".to_vec(), b"4".to_vec()]);
    assert_eq!(proxy.faults_pending(), 0);
    assert_eq!((proxy.requests_seen(), proxy.forwarded()), (4, 3));
}

#[tokio::test]
async fn set_applies_a_fault_to_every_request_until_cleared() {
    let (upstream, proxy) = setup().await;
    proxy.set(Fault::DropRequest);
    for _ in 0..3 {
        assert!(send(&proxy, &post(BODY, "close")).await.is_empty());
    }
    assert!(upstream.received().is_empty());

    proxy.push_fault(Fault::Duplicate);
    proxy.clear();
    assert_eq!(proxy.faults_pending(), 0, "clear forgets the queue");
    let reply = parse(&send(&proxy, &post(BODY, "close")).await);
    assert_eq!(reply.body, answer(1, BODY));
    assert_eq!(upstream.received().len(), 1);
}

#[tokio::test]
async fn a_chunked_request_is_refused_and_not_forwarded() {
    let (upstream, proxy) = setup().await;
    let chunked = b"POST /v1/sync/push HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    let reply = parse(&send(&proxy, chunked).await);

    assert!(reply.head.starts_with("http/1.1 501"), "{}", reply.head);
    assert!(upstream.received().is_empty());
    assert_eq!(proxy.requests_seen(), 0);
}

#[tokio::test]
async fn an_upstream_that_is_down_looks_like_a_closed_connection() {
    let gone = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = FaultProxy::start(gone).await;
    assert!(send(&proxy, &post(BODY, "close")).await.is_empty());
    assert_eq!((proxy.requests_seen(), proxy.forwarded()), (1, 0));
}
