//! `/v1/authorize` behind a real nginx (`auth_request`), in front of a small
//! upstream API: the configuration of docs/gateways.md, run as that page
//! says. nginx must be installed (scripts/install-deps.sh): without it this
//! test fails, it never skips.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyward_core::key_format::GeneratedKey;
use serde_json::{json, Value};
use support::*;
use uuid::Uuid;

/// What the upstream API saw of each request that reached it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    key_id: Option<String>,
    /// Whether the request still carried `Authorization` or `X-API-Key`.
    key_header: bool,
}

/// A tiny HTTP/1 API: answers 200 with what it saw, and remembers it.
fn start_upstream() -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = serve_one(stream, &log);
        }
    });
    (addr, seen)
}

fn serve_one(stream: TcpStream, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (mut key_id, mut length, mut key_header) = (None, 0usize, false);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((&header, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "x-keyward-key-id" => key_id = Some(value.trim().to_string()),
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" | "x-api-key" => key_header = true,
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let seen = Seen {
        method,
        path,
        key_id,
        key_header,
    };
    let answer =
        json!({"method": seen.method, "path": seen.path, "key_id": seen.key_id}).to_string();
    log.lock().unwrap().push(seen);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )
}

fn nginx_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("nginx"));
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "nginx is not installed, and the gateway test needs a real one: \
         run scripts/install-deps.sh (Debian: apt-get install nginx-light)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The nginx of docs/gateways.md, on a loopback port, with everything it
/// writes under `dir`.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path, keyward: SocketAddr, upstream: SocketAddr) -> Nginx {
        let binary = nginx_binary();
        // As root (CI), nginx runs its workers as an unprivileged user: they must be
        // able to reach the temporary directories under `dir`.
        let root = std::fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
            .unwrap_or(false);
        let user = if root {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            "user nobody nogroup;"
        } else {
            ""
        };
        let port = free_port();
        let d = dir.display();
        let config = format!(
            r#"{user}
worker_processes 1;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};

        location = /_keyward {{
            internal;
            proxy_pass http://{keyward}/v1/authorize;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Forwarded-Method "";
            proxy_set_header X-Forwarded-Uri "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}

        location / {{
            auth_request /_keyward;
            auth_request_set $keyward_key_id $upstream_http_x_keyward_key_id;
            proxy_set_header X-Keyward-Key-Id $keyward_key_id;
            proxy_set_header Authorization "";
            proxy_set_header X-API-Key "";
            proxy_pass http://{upstream};
        }}
    }}
}}
"#
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .arg("-g")
            .arg(format!("daemon off; pid {d}/nginx.pid;"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        let mut nginx = Nginx {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}): {}", nginx.error_log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen: {}",
                nginx.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Stops nginx gracefully (SIGQUIT) and waits for it.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    async fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let body = matches!(method, "POST" | "PUT" | "PATCH").then(|| b"{}".to_vec());
        exchange(
            hyper_util::rt::TokioIo::new(stream),
            method,
            path,
            headers,
            body,
        )
        .await
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

#[tokio::test]
async fn nginx_auth_request_lets_valid_keys_through_and_refuses_the_rest() {
    let mut server = Server::start(&["--log-level", "debug", "--trusted-proxy", "127.0.0.1"]);
    let token = server.token("Acme");
    let scoped = Uuid::now_v7();
    let (reader, writer, passings, retired) = (new_key(), new_key(), new_key(), new_key());
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let past = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::minutes(1));
    server
        .push_ok(
            &token,
            &[
                change(
                    "group",
                    "upsert",
                    scoped,
                    Some(json!({"name": "passings", "scopes": ["passings:read"]})),
                ),
                create_key(ids[0], "reader", &reader, json!({"access": "READ"})),
                create_key(ids[1], "writer", &writer, json!({"access": "READ_WRITE"})),
                create_key(
                    ids[2],
                    "passings only",
                    &passings,
                    json!({"access": "READ", "groups": [scoped]}),
                ),
                create_key(ids[3], "retired", &retired, json!({"expires_at": past})),
            ],
        )
        .await;
    let (upstream, seen) = start_upstream();
    let dir = tempfile::tempdir().unwrap();
    let mut nginx = Nginx::start(dir.path(), server.addr, upstream);
    let bearer = |key: &GeneratedKey| format!("Bearer {}", key.secret.expose());

    // A valid key gets through, and the API learns which key it was.
    let through = nginx
        .request(
            "GET",
            "/devices/7?page=2",
            &[("authorization", &bearer(&reader))],
        )
        .await;
    assert_eq!(through.status, 200, "{}", nginx.error_log());
    let answer: Value = through.json();
    assert_eq!(answer["path"], "/devices/7?page=2");
    assert_eq!(answer["key_id"], json!(ids[0].to_string()));
    let written = nginx
        .request(
            "POST",
            "/sessions",
            &[("x-api-key", writer.secret.expose())],
        )
        .await;
    assert_eq!(written.status, 200);
    assert_eq!(written.json()["method"], "POST");
    assert_eq!(written.json()["key_id"], json!(ids[1].to_string()));

    // A READ key's POST is forbidden; no key, an unknown and an expired key are unauthorized.
    let refused = [
        ("POST", "/devices", Some(&reader)),
        ("DELETE", "/devices/7", Some(&reader)),
        ("GET", "/devices", Some(&passings)),
        ("GET", "/passings/../devices", Some(&passings)),
        ("GET", "/", Some(&writer)),
    ];
    for (method, path, key) in refused {
        let reply = nginx
            .request(method, path, &[("authorization", &bearer(key.unwrap()))])
            .await;
        assert_eq!(reply.status, 403, "{method} {path}");
    }
    assert_eq!(nginx.request("GET", "/devices", &[]).await.status, 401);
    let unknown = new_key();
    for key in [&unknown, &retired] {
        let reply = nginx
            .request("GET", "/devices", &[("x-api-key", key.secret.expose())])
            .await;
        assert_eq!(reply.status, 401);
    }
    let scoped_read = nginx
        .request(
            "GET",
            "/passings/4",
            &[("authorization", &bearer(&passings))],
        )
        .await;
    assert_eq!(scoped_read.status, 200);

    // A client cannot pass its POST off as a GET, nor name the key the API sees.
    let disguised = nginx
        .request(
            "POST",
            "/devices",
            &[
                ("authorization", &bearer(&reader)),
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/devices"),
            ],
        )
        .await;
    assert_eq!(disguised.status, 403);
    let named = nginx
        .request(
            "GET",
            "/devices",
            &[
                ("authorization", &bearer(&reader)),
                ("x-keyward-key-id", "someone-else"),
            ],
        )
        .await;
    assert_eq!(named.json()["key_id"], json!(ids[0].to_string()));

    let reached: Vec<Seen> = seen.lock().unwrap().clone();
    assert_eq!(
        reached.len(),
        4,
        "only the allowed requests reached the API: {reached:?}"
    );
    assert!(reached.iter().all(|s| s.key_id.is_some() && !s.key_header));

    nginx.stop();
    assert_eq!(server.stop().code(), Some(0));
    let mut logs = String::new();
    for name in ["access.log", "error.log"] {
        logs += &std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    }
    let server_log = server.log();
    assert!(
        server_log.contains("GET /v1/authorize 204"),
        "the server logs its answers: {server_log}"
    );
    assert!(
        logs.contains("GET /devices/7?page=2"),
        "nginx logged: {logs}"
    );
    for key in [&reader, &writer, &passings, &retired, &unknown] {
        let body = &key.secret.expose()[3..];
        assert!(!logs.contains(body), "a key in nginx's logs");
        assert!(!server_log.contains(body), "a key in the server's log");
    }
}
