//! What `deploy/` ships, run as it says: the systemd unit's command and
//! environment, and the container image's environment, start the real
//! binary; the unit passes `systemd-analyze verify`; every setting the
//! deployment files and docs/server.md name is one the binary reads.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo_file(path: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path:?}: {err}"));
    (path, text)
}

/// The `KEY=VALUE` pairs of the unit's `Environment=` lines.
fn unit_environment(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .filter_map(|line| line.strip_prefix("Environment="))
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("KEY=VALUE");
            (key.to_string(), value.to_string())
        })
        .collect()
}

/// The pairs of the Dockerfile's `ENV` instruction (continued lines joined).
fn image_environment(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|line| line.strip_prefix("ENV "))
        .expect("an ENV instruction");
    line.split_whitespace()
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("KEY=VALUE");
            (key.to_string(), value.to_string())
        })
        .collect()
}

/// The binary with only the given settings: nothing of this machine's own
/// KEYWARD_SERVER_*, DATABASE_URL or RUST_LOG leaks in.
fn command(env: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(support::BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("KEYWARD_SERVER_") || key == "DATABASE_URL" || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args)
        .stdin(Stdio::null());
    command
}

/// Starts it and reads the address from its first line.
fn start(mut command: Command) -> (Child, SocketAddr) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("keyward-server listening on http://")
        .unwrap_or_else(|| {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("did not start: {line:?} {err}")
        });
    let mut addr: SocketAddr = url.parse().unwrap();
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    (child, addr)
}

fn status(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: keyward\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {reply:?}"))
}

fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn the_systemd_unit_verifies_and_its_command_serves_and_reloads() {
    let (path, unit) = repo_file("deploy/keyward-server.service");
    let state = tempfile::tempdir().unwrap();
    let local = |text: &str| {
        text.replace("/usr/bin/keyward-server", support::BIN)
            .replace("/var/lib/keyward-server", state.path().to_str().unwrap())
    };

    // systemd's own checker, on the unit with this build's binary in it.
    let checked = tempfile::tempdir().unwrap();
    let copy = checked.path().join(path.file_name().unwrap());
    std::fs::write(&copy, local(&unit)).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze (the systemd package; scripts/install-deps.sh installs it)");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !complaints.contains(copy.to_str().unwrap()),
        "{complaints}"
    );

    // Its ExecStart with its Environment, on a free loopback port (what
    // /etc/keyward-server/env would set).
    let exec = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .unwrap();
    let exec = local(exec);
    let mut words = exec.split_whitespace();
    let mut env: Vec<(String, String)> = unit_environment(&local(&unit));
    env.push(("KEYWARD_SERVER_LISTEN".into(), "127.0.0.1:0".into()));
    let mut serve = command(&env, &words.by_ref().skip(1).collect::<Vec<_>>());
    serve.current_dir(state.path());
    let (mut child, addr) = start(serve);
    assert_eq!(status(addr, "/readyz"), 200);
    assert!(
        state.path().join("server.db").exists(),
        "the database is in the state directory"
    );

    // ExecReload: SIGHUP re-reads the certificate, it does not stop the server.
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running after SIGHUP"
    );
    assert_eq!(status(addr, "/healthz"), 200);
    signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_container_environment_refuses_plain_http_then_serves_json_logs_and_drains() {
    let (_, dockerfile) = repo_file("deploy/Dockerfile");
    let state = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = image_environment(&dockerfile)
        .into_iter()
        .map(|(key, value)| {
            let value = value
                .replace("/var/lib/keyward-server", state.path().to_str().unwrap())
                .replace(":8420", ":0");
            (key, value)
        })
        .collect();
    let cmd: Vec<String> = ["ENTRYPOINT", "CMD"]
        .iter()
        .flat_map(|instruction| {
            let line = dockerfile
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{instruction} ")))
                .unwrap();
            serde_json::from_str::<Vec<String>>(line).unwrap()
        })
        .collect();
    assert_eq!(cmd[0], "/usr/local/bin/keyward-server");
    let args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();

    // As the image is, on every address without TLS: a clear refusal.
    let refused = command(&env, &args).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("refusing plain HTTP"), "{message}");

    // Behind a proxy that terminates TLS, as docs/server.md says to run it.
    let mut env = env;
    env.push(("KEYWARD_SERVER_INSECURE_LISTEN".into(), "true".into()));
    let (mut child, addr) = start(command(&env, &args));
    assert_eq!(status(addr, "/readyz"), 200);

    // SIGTERM: /readyz answers 503 for the drain while requests are still
    // served, then the server stops cleanly.
    signal(&child, "TERM");
    let started = Instant::now();
    let mut drained = false;
    while started.elapsed() < Duration::from_secs(3) && !drained {
        drained = status(addr, "/readyz") == 503;
    }
    assert!(drained, "/readyz answered 503 while draining");
    assert_eq!(status(addr, "/healthz"), 200, "still alive while draining");
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(!log.trim().is_empty());
    for line in log.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not a JSON log line ({err}): {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
}

#[test]
fn every_setting_the_deployment_names_is_one_the_server_reads() {
    let help = command(&[], &["--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let known: BTreeSet<&str> = names(&help);
    for file in [
        "deploy/Dockerfile",
        "deploy/keyward-server.service",
        "docs/server.md",
    ] {
        let (_, text) = repo_file(file);
        let named = names(&text);
        assert!(!named.is_empty() || file.ends_with(".md"), "{file}");
        let unknown: Vec<_> = named.difference(&known).collect();
        assert!(
            unknown.is_empty(),
            "{file} names {unknown:?}, which keyward-server does not read"
        );
    }
}

fn names(text: &str) -> BTreeSet<&str> {
    text.match_indices("KEYWARD_SERVER_")
        .map(|(at, _)| {
            let end = text[at..]
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()))
                .map_or(text.len(), |n| at + n);
            &text[at..end]
        })
        .filter(|name| name.len() > "KEYWARD_SERVER_".len())
        .collect()
}
