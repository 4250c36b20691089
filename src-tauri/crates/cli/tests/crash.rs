//! Crash tests: a child shell runs the real `keyward` and is killed with
//! SIGKILL (its whole process group, so the `keyward` running at that moment
//! dies too) at random moments, many times.
//!
//! The mixed test runs creations, renames, deletions, group changes,
//! passphrase changes, secret rotations and syncs that pull a peer desktop's
//! keys (through a real `keyward-server`). Every change whose report — its
//! complete JSON on stdout — was printed must be in the vault afterwards, and
//! nothing else but the next change: the vault is compared with a model after
//! the reported changes and after one more. Some rounds hold the report back
//! (stdout is a pipe the test has filled), so the kill provably falls between
//! a change's commit and its report.
//!
//! The delays come from a PRNG seeded from the clock; the seed is printed and
//! `KEYWARD_CRASH_SEED=<seed>` replays a run.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const ROUNDS: usize = 30;

/// What a killed command left: its stdout, its stderr, and whether it had
/// already ended by itself when the kill came.
struct Killed {
    stdout: String,
    stderr: String,
    ended_before: bool,
}

/// Runs `script` with the vault's environment (and `env`) in its own process
/// group, kills the group with SIGKILL after `delay`, and returns what it left.
fn kill_after(kw: &Kw, script: &str, env: &[(&str, &str)], delay: Duration) -> Killed {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KW_BIN", BIN)
        .env("KEYWARD_VAULT", &kw.vault)
        .env("KEYWARD_PASSPHRASE", &kw.passphrase)
        .env("KEYWARD_ACTOR", &kw.actor)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start the command");
    let pgid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    std::thread::sleep(delay);
    let ended_before = child.try_wait().unwrap().is_some();
    // SAFETY: plain syscall; a negative pid names the process group we created.
    let killed = unsafe { libc::kill(-pgid, libc::SIGKILL) };
    assert!(
        killed == 0 || ended_before,
        "kill -KILL -{pgid} failed: {}",
        std::io::Error::last_os_error()
    );
    child.wait().unwrap();
    // The pipes close when every process of the group is gone.
    let killed = Killed {
        stdout: reader.join().unwrap(),
        stderr: errors.join().unwrap(),
        ended_before,
    };
    assert!(
        !killed.stderr.contains("panicked"),
        "keyward panicked:\n{}",
        killed.stderr
    );
    killed
}

/// The complete JSON values printed, in order; a value cut short by the kill is not a report.
fn reports(printed: &str) -> Vec<Value> {
    let mut values = Vec::new();
    for value in serde_json::Deserializer::from_str(printed).into_iter::<Value>() {
        match value {
            Ok(value) => values.push(value),
            Err(err) if err.is_eof() => break,
            Err(err) => panic!("the loop printed something that is not JSON ({err}):\n{printed}"),
        }
    }
    values
}

const GROUPS: [&str; 3] = ["g1", "g2", "g3"];
const KINDS: usize = 7;

/// One change the loop makes; each prints one JSON value once it is done.
#[derive(Debug, Clone)]
enum Op {
    Create(String),
    Rename(String, String),
    Delete(String),
    SetGroups(String, BTreeSet<String>),
    Passphrase(String),
    RotateSecret,
    /// A sync whose pull brings the peer desktop's new keys.
    Sync,
}

impl Op {
    /// The shell line that makes this change and stops the loop if it fails.
    fn line(&self) -> String {
        let kw = r#""$KW_BIN""#;
        match self {
            Op::Create(name) => format!("{kw} key create '{name}' --json || exit 1"),
            Op::Rename(from, to) => format!("{kw} key rename '{from}' '{to}' --json || exit 1"),
            Op::Delete(name) => format!("{kw} key delete '{name}' --yes --json || exit 1"),
            Op::SetGroups(name, groups) => {
                let flags: Vec<String> = groups.iter().map(|g| format!("--group '{g}'")).collect();
                format!(
                    "{kw} key set-groups '{name}' {} --json || exit 1",
                    flags.join(" ")
                )
            }
            // Every later command of the loop opens the vault with the new passphrase.
            Op::Passphrase(next) => format!(
                "KEYWARD_NEW_PASSPHRASE='{next}' {kw} passphrase change --kdf-memory-mib 19 --kdf-passes 2 --json || exit 1\nKEYWARD_PASSPHRASE='{next}'"
            ),
            Op::RotateSecret => format!("{kw} secret rotate --json || exit 1"),
            Op::Sync => format!("{kw} sync --json || exit 1"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Op::Create(_) => "create",
            Op::Rename(..) => "rename",
            Op::Delete(_) => "delete",
            Op::SetGroups(..) => "set-groups",
            Op::Passphrase(_) => "passphrase change",
            Op::RotateSecret => "secret rotation",
            Op::Sync => "applied pull",
        }
    }
}

/// What the vault should hold: the model the loop's changes are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    /// Keys by name: their id once known, and their groups.
    keys: BTreeMap<String, (Option<String>, BTreeSet<String>)>,
    passphrase: String,
    rotations: usize,
    passphrase_changes: usize,
    /// The peer's keys on the server that this vault has not pulled yet.
    unpulled: BTreeSet<String>,
}

impl State {
    fn apply(&self, op: &Op) -> State {
        let mut next = self.clone();
        match op {
            Op::Create(name) => {
                next.keys.insert(name.clone(), (None, BTreeSet::new()));
            }
            Op::Rename(from, to) => {
                let key = next.keys.remove(from).expect("renames an existing key");
                next.keys.insert(to.clone(), key);
            }
            Op::Delete(name) => {
                next.keys.remove(name).expect("deletes an existing key");
            }
            Op::SetGroups(name, groups) => {
                next.keys.get_mut(name).expect("an existing key").1 = groups.clone();
            }
            Op::Passphrase(new) => {
                next.passphrase = new.clone();
                next.passphrase_changes += 1;
            }
            Op::RotateSecret => next.rotations += 1,
            Op::Sync => {
                for name in std::mem::take(&mut next.unpulled) {
                    next.keys.insert(name, (None, BTreeSet::new()));
                }
            }
        }
        next
    }

    /// Whether the vault holds this state (ids compared where this state knows them).
    fn matches(&self, seen: &Seen) -> bool {
        self.rotations == seen.rotations
            && self.passphrase_changes == seen.passphrase_changes
            && self.keys.len() == seen.keys.len()
            && self.keys.iter().all(|(name, (id, groups))| {
                seen.keys.get(name).is_some_and(|(seen_id, seen_groups)| {
                    seen_groups == groups && id.as_ref().is_none_or(|id| id == seen_id)
                })
            })
    }

    /// A random change of `kind` that is not a no-op, its new names made unique by `tag`.
    fn random_op(&self, rng: &mut Rng, kind: usize, tag: &str) -> Op {
        let names: Vec<&String> = self.keys.keys().collect();
        if names.is_empty() && (1..=3).contains(&kind) {
            return Op::Create(format!("k{tag}"));
        }
        let pick = |rng: &mut Rng| names[rng.range(0, names.len() as u64) as usize].clone();
        match kind {
            0 => Op::Create(format!("k{tag}")),
            1 => Op::Rename(pick(rng), format!("n{tag}")),
            2 => Op::Delete(pick(rng)),
            3 => {
                let name = pick(rng);
                let current = &self.keys[&name].1;
                loop {
                    let groups: BTreeSet<String> = GROUPS
                        .iter()
                        .filter(|_| rng.range(0, 2) == 1)
                        .map(|g| g.to_string())
                        .collect();
                    if &groups != current {
                        return Op::SetGroups(name, groups);
                    }
                }
            }
            4 => Op::Passphrase(format!("passphrase {tag}")),
            5 => Op::RotateSecret,
            _ => Op::Sync,
        }
    }
}

/// What the vault holds, as the CLI reports it.
#[derive(Debug)]
struct Seen {
    /// Keys by name: id and groups.
    keys: BTreeMap<String, (String, BTreeSet<String>)>,
    rotations: usize,
    passphrase_changes: usize,
    /// The account's shared secret.
    secret: String,
}

/// A `--json` command on the vault opened with `passphrase`.
fn json_with(kw: &Kw, passphrase: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    kw.cmd(&all)
        .env("KEYWARD_PASSPHRASE", passphrase)
        .run()
        .expect_code(0)
        .json()
}

fn seen(kw: &Kw, passphrase: &str) -> Seen {
    let count = |action: &str| {
        json_with(kw, passphrase, &["audit", "list", "--action", action])
            .as_array()
            .unwrap()
            .len()
    };
    let keys = json_with(kw, passphrase, &["key", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            let groups = key["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap().to_string())
                .collect();
            (
                s(key, "name").to_string(),
                (s(key, "id").to_string(), groups),
            )
        })
        .collect();
    let secret = s(&json_with(kw, passphrase, &["secret", "show"]), "secret").to_string();
    Seen {
        keys,
        secret,
        rotations: count("secret.rotate"),
        passphrase_changes: count("passphrase.change"),
    }
}

/// Runs `script` with its standard output a pipe the test has filled: the
/// first thing a command prints blocks, so a change it made is committed
/// but cannot be reported. Waits until `committed` sees the change, kills
/// the group, and returns what reached the pipe past the filling.
fn kill_with_report_held(
    kw: &Kw,
    script: &str,
    passphrase: &str,
    committed: impl Fn() -> bool,
) -> String {
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into `fds`.
    let piped = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(piped, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are open and owned by nothing else.
    let (mut reader, mut writer) = unsafe {
        (
            std::fs::File::from(OwnedFd::from_raw_fd(fds[0])),
            std::fs::File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    };
    // SAFETY: plain fcntl on a descriptor we own.
    let capacity = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert!(
        capacity > 0,
        "F_GETPIPE_SZ: {}",
        std::io::Error::last_os_error()
    );
    // Whitespace between JSON values is no report.
    writer
        .write_all(&vec![b' '; capacity as usize])
        .expect("fill the pipe");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KW_BIN", BIN)
        .env("KEYWARD_VAULT", &kw.vault)
        .env("KEYWARD_PASSPHRASE", passphrase)
        .env("KEYWARD_ACTOR", &kw.actor)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start the command");
    let pgid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut still_running = || child.try_wait().unwrap().is_none();
    while !committed() {
        assert!(
            still_running(),
            "the command ended although its report could not be written"
        );
        assert!(Instant::now() < deadline, "the change was never committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        still_running(),
        "the command ended although its report could not be written"
    );
    // SAFETY: plain syscall; a negative pid names the process group we created.
    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGKILL) }, 0);
    child.wait().unwrap();
    let mut printed = Vec::new();
    reader.read_to_end(&mut printed).unwrap();
    let stderr = errors.join().unwrap();
    assert!(!stderr.contains("panicked"), "keyward panicked:\n{stderr}");
    String::from_utf8_lossy(&printed[capacity as usize..]).into_owned()
}

/// The peer desktop: its own vault on the same account of the same server,
/// whose new keys the crashing vault's syncs pull.
struct Peer {
    kw: Kw,
}

impl Peer {
    fn new(server: &RemoteServer) -> Peer {
        let kw = Kw::with_account("fleet", &["--key-limit", "1000000"]);
        kw.cmd(&["remote", "set", &server.url])
            .env(
                "KEYWARD_REMOTE_TOKEN",
                server.token("fleet", "the peer desktop"),
            )
            .run()
            .expect_code(0);
        kw.ok(&["sync"]);
        Peer { kw }
    }

    /// Creates `name` and pushes it.
    fn create(&self, name: &str) {
        self.kw.ok(&["key", "create", name]);
        let report = self.kw.json(&["sync"]);
        assert_eq!(report["pushed"], 1, "the peer pushed its key: {report}");
    }
}

#[test]
fn every_change_reported_before_a_sigkill_survives_it() {
    const MIXED_ROUNDS: usize = 24;
    // Every third round holds the report of one change, of each kind in turn.
    const HELD_EVERY: usize = 3;
    let server = RemoteServer::start();
    let kw = Kw::with_account("fleet", &["--key-limit", "1000000"]);
    for group in GROUPS {
        kw.ok(&["group", "create", group, "--scope", "devices:read"]);
    }
    kw.cmd(&["remote", "set", &server.url])
        .env(
            "KEYWARD_REMOTE_TOKEN",
            server.token("fleet", "the crashing desktop"),
        )
        .run()
        .expect_code(0);
    kw.ok(&["sync"]);
    let peer = Peer::new(&server);
    let mut rng = Rng::from_env_or_time("KEYWARD_CRASH_SEED");
    let started = Instant::now();
    let mut state = State {
        keys: BTreeMap::new(),
        passphrase: kw.passphrase.clone(),
        rotations: 0,
        passphrase_changes: 0,
        unpulled: BTreeSet::new(),
    };
    // Secrets of the keys whose creation was reported, by id.
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    let mut reported_by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut held, mut cut_before_report) = (0, 0);
    let mut secret = seen(&kw, &state.passphrase).secret;
    for round in 0..MIXED_ROUNDS {
        let peer_key = format!("peer_{round}");
        peer.create(&peer_key);
        state.unpulled.insert(peer_key);

        let holding = round % HELD_EVERY == HELD_EVERY - 1;
        let plan: Vec<Op> = if holding {
            let kind = (round / HELD_EVERY) % KINDS;
            vec![state.random_op(&mut rng, kind, &format!("{round}_0"))]
        } else {
            // Every kind once in a random order, then a few more at random.
            let mut kinds: Vec<usize> = (0..KINDS).collect();
            for i in (1..kinds.len()).rev() {
                kinds.swap(i, rng.range(0, i as u64 + 1) as usize);
            }
            kinds.extend((0..5).map(|_| rng.range(0, KINDS as u64) as usize));
            let mut planned = state.clone();
            kinds
                .iter()
                .enumerate()
                .map(|(i, &kind)| {
                    let op = planned.random_op(&mut rng, kind, &format!("{round}_{i}"));
                    planned = planned.apply(&op);
                    op
                })
                .collect()
        };
        let script: String = plan.iter().map(|op| op.line() + "\n").collect();
        // The states the vault may be in: after each prefix of the plan.
        let mut after = vec![state.clone()];
        for op in &plan {
            after.push(after.last().unwrap().apply(op));
        }

        let (printed, delay) = if holding {
            held += 1;
            let header = kw.header();
            let header_before = std::fs::read(&header).unwrap();
            let printed = kill_with_report_held(&kw, &script, &state.passphrase, || {
                match &plan[0] {
                    // Opening the vault now could settle the change under way:
                    // watch the files instead. The new header renamed over the
                    // old one is the change's commit.
                    Op::Passphrase(_) => {
                        let mut next = header.clone().into_os_string();
                        next.push(".next");
                        !std::path::Path::new(&next).exists()
                            && std::fs::read(&header).unwrap() != header_before
                    }
                    _ => after[1].matches(&seen(&kw, &state.passphrase)),
                }
            });
            (printed, None)
        } else {
            let delay = Duration::from_millis(rng.range(5, 1500));
            let killed = kill_after(
                &kw,
                &script,
                &[("KEYWARD_PASSPHRASE", state.passphrase.as_str())],
                delay,
            );
            let done = reports(&killed.stdout).len();
            assert!(
                !killed.ended_before || done == plan.len(),
                "round {round}: the loop stopped by itself after {done} of {} changes: {} failed:\n{}",
                plan.len(),
                plan[done.min(plan.len() - 1)].kind(),
                killed.stderr
            );
            (killed.stdout, Some(delay))
        };
        let reported = reports(&printed);
        let done = reported.len();
        assert!(
            !holding || done == 0,
            "round {round}: a held report got through: {printed}"
        );
        for (op, report) in plan.iter().zip(&reported) {
            *reported_by_kind.entry(op.kind()).or_default() += 1;
            if let Op::Create(_) = op {
                secrets.insert(s(report, "id").to_string(), s(report, "secret").to_string());
            }
        }

        // Which passphrase opens the vault comes first: opening with the old
        // one settles a cut passphrase change, as the app's start-up does.
        let candidates: Vec<&State> = after[done..].iter().take(2).collect();
        let opens = |passphrase: &str| {
            kw.cmd(&["key", "list", "--json"])
                .env("KEYWARD_PASSPHRASE", passphrase)
                .run()
                .code
                == 0
        };
        let passphrase = if opens(&candidates[0].passphrase) {
            candidates[0].passphrase.clone()
        } else {
            let next = &candidates.get(1).expect("a next state").passphrase;
            assert!(
                opens(next),
                "round {round}: neither the passphrase before the cut change nor the one after opens the vault"
            );
            next.clone()
        };
        let seen = seen(&kw, &passphrase);
        let matching = candidates
            .iter()
            .position(|c| c.passphrase == passphrase && c.matches(&seen));
        // A passphrase change cut between its re-key and its audit entry is
        // audited by the open that finishes it: no state in between.
        assert!(
            matching.is_some(),
            "round {round} (killed after {delay:?}, {done} of {} changes reported, the next one {:?}): the vault holds neither the reported changes nor those and the next one\nexpected {:#?}\nor {:#?}\nfound {seen:#?}",
            plan.len(),
            plan.get(done),
            candidates[0],
            candidates.get(1)
        );
        let at = if matching == Some(0) {
            done
        } else {
            // A change committed, then killed before it could say so.
            cut_before_report += 1;
            done + 1
        };
        if holding {
            assert_eq!(at, 1, "round {round}: the held change was committed");
        }
        // A rotation that counts replaced the secret; no other change touched it.
        assert_eq!(
            seen.secret != secret,
            after[at].rotations > state.rotations,
            "round {round}: the shared secret changed exactly when a rotation was applied"
        );
        secret = seen.secret.clone();
        state = after[at].clone();
        // The vault's own ids from now on, also for changes never reported.
        for (name, (id, _)) in state.keys.iter_mut() {
            *id = Some(seen.keys[name].0.clone());
        }

        let report = json_with(&kw, &state.passphrase, &["audit", "verify"]);
        assert_eq!(report["ok"], true, "round {round}: audit verify: {report}");
        eprintln!(
            "round {round}: {} after {delay:?}, {done} of {} changes reported, the vault at change {at}",
            if holding { "report held, killed" } else { "killed" },
            plan.len()
        );
    }

    // Every reported key that still exists verifies; a deleted one no longer does.
    let ids: BTreeSet<String> = state
        .keys
        .values()
        .filter_map(|(id, _)| id.clone())
        .collect();
    for (id, secret) in &secrets {
        let out = kw
            .cmd(&["key", "verify"])
            .env("KEYWARD_PASSPHRASE", &state.passphrase)
            .stdin(secret.as_bytes())
            .run();
        let valid = out.code == 0 && out.stdout.trim() == "VALID";
        assert_eq!(valid, ids.contains(id), "key {id}: {}", out.stdout.trim());
    }
    eprintln!(
        "{MIXED_ROUNDS} rounds in {:?}: reported {reported_by_kind:?}; {cut_before_report} kills fell between a commit and its report ({held} with the report held)",
        started.elapsed()
    );
    for kind in [
        "create",
        "rename",
        "delete",
        "set-groups",
        "passphrase change",
        "secret rotation",
        "applied pull",
    ] {
        assert!(
            reported_by_kind.get(kind).is_some_and(|&n| n > 0),
            "no {kind} was reported before a kill: the test proved nothing about it ({reported_by_kind:?})"
        );
    }
    assert!(
        held >= KINDS && cut_before_report >= held,
        "{cut_before_report} kills fell between a commit and its report, {held} reports held"
    );
}

/// Whether `keyward key list` opens the vault with `passphrase`.
fn opens_with(kw: &Kw, passphrase: &str) -> bool {
    kw.cmd(&["key", "list", "--json"])
        .env("KEYWARD_PASSPHRASE", passphrase)
        .run()
        .code
        == 0
}

#[test]
fn a_passphrase_change_killed_at_any_moment_leaves_a_vault_one_passphrase_opens() {
    let kw = Kw::with_account("fleet", &[]);
    for name in ["gate 1", "gate 2", "kiosk"] {
        kw.create_key(name, &[]);
    }
    let keys_before = kw.json(&["key", "list"]);
    let mut rng = Rng::from_env_or_time("KEYWARD_CRASH_SEED");
    let mut current = kw.passphrase.clone();
    let (mut changed, mut kept, mut cut_mid_change) = (0, 0, 0);
    let header_next = {
        let mut name = kw.header().into_os_string();
        name.push(".next");
        std::path::PathBuf::from(name)
    };
    for round in 0..ROUNDS {
        let next = format!("passphrase of round {round}");
        // From before the old passphrase is even checked to after the change.
        let delay = Duration::from_millis(rng.range(0, 250));
        let killed = kill_after(
            &kw,
            r#""$KW_BIN" passphrase change --kdf-memory-mib 19 --kdf-passes 2"#,
            &[
                ("KEYWARD_PASSPHRASE", &current),
                ("KEYWARD_NEW_PASSPHRASE", &next),
            ],
            delay,
        );
        cut_mid_change += usize::from(header_next.exists());
        // Exactly one passphrase opens it (opening also finishes or undoes a cut change).
        let (old_opens, new_opens) = (opens_with(&kw, &current), opens_with(&kw, &next));
        assert!(
            old_opens != new_opens,
            "round {round} (killed after {delay:?}, ended before: {}): old opens {old_opens}, new opens {new_opens}\n{}",
            killed.ended_before,
            killed.stderr
        );
        if new_opens {
            changed += 1;
            current = next;
        } else {
            kept += 1;
        }
        assert!(
            !header_next.exists(),
            "round {round}: the cut change was settled at open"
        );
        let keys = kw
            .cmd(&["key", "list", "--json"])
            .env("KEYWARD_PASSPHRASE", &current)
            .run()
            .expect_code(0)
            .json();
        assert_eq!(keys, keys_before, "round {round}: the keys are all there");
        let audit = kw
            .cmd(&["audit", "verify", "--json"])
            .env("KEYWARD_PASSPHRASE", &current)
            .run()
            .expect_code(0)
            .json();
        assert_eq!(audit["ok"], true, "round {round}: {audit}");
        // Each change that went through is audited once, also one cut after its re-key.
        let audited = json_with(
            &kw,
            &current,
            &["audit", "list", "--action", "passphrase.change"],
        );
        assert_eq!(
            audited.as_array().map(Vec::len),
            Some(changed),
            "round {round} (killed after {delay:?}): one passphrase.change entry per change that went through"
        );
    }
    eprintln!("{ROUNDS} rounds: {changed} changes went through, {kept} were undone, {cut_mid_change} kills left a change half done");
    assert!(
        changed > 0 && kept > 0,
        "the kills must land both before and after the change: {changed} / {kept}"
    );
}
