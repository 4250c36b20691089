//! The real `keyward-server` binary on a loopback port with a database file
//! in a temporary directory, and a small HTTP/1 client (hyper) to drive it.

#![allow(dead_code)]

pub mod postgres;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use keyward_core::key_format::{self, GeneratedKey};
use serde_json::{json, Value};
use tempfile::TempDir;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

pub const BIN: &str = env!("CARGO_BIN_EXE_keyward-server");

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub url: String,
    pub dir: TempDir,
    /// `--db FILE` in `dir`, or `--database-url URL`.
    database: [String; 2],
    /// Every response body this test received, to search for secrets.
    pub seen: std::sync::Mutex<Vec<u8>>,
    /// The account of each token `token` made, and one token per desktop a
    /// test names by the origin its changes claim: the server tells desktops
    /// apart by their tokens, not by what a change says.
    tokens: std::sync::Mutex<HashMap<String, String>>,
    desks: std::sync::Mutex<HashMap<(String, Uuid), String>>,
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("server.db")
}

/// Runs a `keyward-server` command (not the server) against `dir`'s database.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db_path(dir))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run keyward-server")
}

pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!("not JSON ({err}): {}", String::from_utf8_lossy(&self.body))
        })
    }

    pub fn kind(&self) -> String {
        self.json()["kind"].as_str().unwrap_or("").to_string()
    }
}

impl Server {
    /// Starts a server on 127.0.0.1:0 with a fresh database; `args` add options.
    pub fn start(args: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), args)
    }

    pub fn start_in(dir: TempDir, args: &[&str]) -> Server {
        let database = ["--db".into(), db_path(dir.path()).display().to_string()];
        Server::spawn(dir, database, args)
    }

    /// Starts a server on a PostgreSQL database; its log in a temporary directory.
    pub fn start_postgres(url: &str, args: &[&str]) -> Server {
        let database = ["--database-url".into(), url.to_string()];
        Server::spawn(tempfile::tempdir().unwrap(), database, args)
    }

    fn spawn(dir: TempDir, database: [String; 2], args: &[&str]) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("server.log"))
            .unwrap();
        let mut child = Command::new(BIN)
            .args(&database)
            .args(["--listen", "127.0.0.1:0"])
            // Many tests fail verifications on purpose; only the rate-limit test wants the limit.
            .args(if args.contains(&"--verify-failure-burst") {
                &[][..]
            } else {
                &["--verify-failure-burst", "100000"][..]
            })
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start keyward-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("keyward-server listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; log: {}",
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                )
            })
            .to_string();
        let addr: SocketAddr = url.split("://").nth(1).unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback());
        Server {
            child: Some(child),
            addr,
            url,
            dir,
            database,
            seen: Default::default(),
            tokens: Default::default(),
            desks: Default::default(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `token create --account NAME`: the token printed once.
    pub fn token(&self, account: &str) -> String {
        self.token_labelled(account, "")
    }

    /// `token create --account NAME --label LABEL`.
    pub fn token_labelled(&self, account: &str, label: &str) -> String {
        let output = Command::new(BIN)
            .args(&self.database)
            .args(["token", "create", "--account", account, "--label", label])
            .stdin(Stdio::null())
            .output()
            .expect("run keyward-server");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
        self.tokens
            .lock()
            .unwrap()
            .insert(token.clone(), account.to_string());
        token
    }

    /// The token of desktop `origin` of `token`'s account (made the first time).
    pub fn desk_token(&self, token: &str, origin: Uuid) -> String {
        if origin.is_nil() {
            return token.to_string();
        }
        let Some(account) = self.tokens.lock().unwrap().get(token).cloned() else {
            return token.to_string();
        };
        if let Some(known) = self.desks.lock().unwrap().get(&(account.clone(), origin)) {
            return known.clone();
        }
        let desk = self.token_labelled(&account, &format!("desk {origin}"));
        self.desks
            .lock()
            .unwrap()
            .insert((account, origin), desk.clone());
        desk
    }

    /// Stops the server with SIGTERM (a graceful stop) and waits for it.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        child.wait().unwrap()
    }

    /// Kills the server (SIGKILL) and waits: no drain, no last flush; its
    /// files stay as a crash leaves them (the last commits in the WAL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every file in the server's directory, read: `(name, bytes)`. Each of
    /// `expected` must be there (a missing file is a failure, not an empty one).
    pub fn files(&self, expected: &[&str]) -> Vec<(String, Vec<u8>)> {
        let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).unwrap())
            })
            .collect();
        for name in expected {
            assert!(
                files.iter().any(|(file, _)| file == name),
                "the server's {name} is missing; it has {:?}",
                files.iter().map(|(file, _)| file).collect::<Vec<_>>()
            );
        }
        files
    }

    /// Starts the server again on the same database (on a new port).
    pub fn restart(mut self, args: &[&str]) -> Server {
        if self.child.is_some() {
            self.stop();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Server::spawn(dir, self.database.clone(), args)
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let reply = exchange(TokioIo::new(stream), method, path, headers, body).await;
        self.seen.lock().unwrap().extend_from_slice(&reply.body);
        reply
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        self.send(
            "POST",
            path,
            &headers,
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    pub async fn verify(&self, key: &str, method: &str, resource: &str) -> Value {
        let reply = self
            .post_json(
                "/v1/verify",
                None,
                &json!({"key": key, "method": method, "resource": resource, "unbind": false}),
            )
            .await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }

    /// A push with the token of the desktop its changes name as their origin
    /// (`token` itself for a nil origin or changes of several).
    pub async fn push(&self, token: &str, changes: &[Value]) -> Reply {
        let origins: std::collections::BTreeSet<Uuid> = changes
            .iter()
            .filter_map(|change| change["origin"].as_str()?.parse().ok())
            .collect();
        let token = match origins.len() {
            1 => self.desk_token(token, *origins.first().unwrap()),
            _ => token.to_string(),
        };
        self.post_json(
            "/v1/sync/push",
            Some(&token),
            &json!({ "changes": changes }),
        )
        .await
    }

    /// A push that must succeed; its results.
    pub async fn push_ok(&self, token: &str, changes: &[Value]) -> Value {
        let reply = self.push(token, changes).await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }

    pub async fn pull(&self, token: &str, since: u64) -> Value {
        self.pull_with(token, &format!("since={since}")).await
    }

    /// `GET /v1/sync/pull?QUERY`, insisting on 200; with `origin=` in the
    /// query, as that desktop (with its token).
    pub async fn pull_with(&self, token: &str, query: &str) -> Value {
        let origin = query
            .split('&')
            .find_map(|pair| pair.strip_prefix("origin="))
            .and_then(|origin| origin.parse().ok());
        let token = origin.map_or(token.to_string(), |origin| self.desk_token(token, origin));
        let bearer = format!("Bearer {token}");
        let reply = self
            .send(
                "GET",
                &format!("/v1/sync/pull?{query}"),
                &[("authorization", &bearer)],
                None,
            )
            .await;
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1 request over `io`, reading the whole response.
pub async fn exchange<I>(
    io: I,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Reply
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

pub fn now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

pub fn new_key() -> GeneratedKey {
    key_format::generate("kw").unwrap()
}

fn with_fields(mut base: Value, fields: Value) -> Value {
    if let (Some(base), Some(fields)) = (base.as_object_mut(), fields.as_object()) {
        base.extend(fields.clone());
    }
    base
}

/// A key upsert creating `key` under `id`: READ_WRITE unless `fields` say otherwise.
pub fn create_key(id: Uuid, name: &str, key: &GeneratedKey, fields: Value) -> Value {
    let record = json!({
        "name": name,
        "access": "READ_WRITE",
        "allow_unbind": false,
        "groups": [],
        "verifier": hex::encode(key.verifier),
        "hint": key.hint,
        "created_by": "test",
    });
    change("key", "upsert", id, Some(with_fields(record, fields)))
}

pub fn change(entity: &str, op: &str, id: Uuid, fields: Option<Value>) -> Value {
    let mut value = json!({"idempotency_id": Uuid::now_v7(), "at": now(), "origin": Uuid::nil(), "entity": entity, "op": op, "id": id});
    if let Some(fields) = fields {
        value[entity] = fields;
    }
    value
}

/// `change` as desktop `origin` made it at `at`, having last pulled the
/// record at revision `base`.
pub fn made_on(mut change: Value, origin: Uuid, base: u64, at: OffsetDateTime) -> Value {
    change["origin"] = json!(origin);
    change["base_revision"] = json!(base);
    change["at"] = json!(rfc3339(at));
    change
}

pub fn tls_connector(cert_pem: &str) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A desktop's vault in `dir` (argon2 at its cheapest) with one account of
/// `key_limit` keys: what the sync tests and benchmarks sync from.
pub fn desktop_vault(dir: &Path, account: &str, key_limit: u32) -> keyward_core::Vault {
    let params = keyward_core::KdfParams::WEAKEST;
    let passphrase = keyward_core::SecretString::from("correct horse battery");
    let mut vault = keyward_core::Vault::create(&dir.join("vault.db"), &passphrase, params)
        .expect("create a desktop vault");
    vault
        .create_account(
            account,
            keyward_core::NewAccount {
                key_limit: Some(key_limit),
                ..Default::default()
            },
        )
        .expect("create the account");
    vault
}

/// A self-signed certificate for `localhost` written to `dir`: (cert file,
/// key file, the certificate's PEM).
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key, certified.cert.pem())
}
