//! Crash test: a child shell creates keys in a loop with the real `keyward`
//! and is killed with SIGKILL (its whole process group, so the `keyward`
//! running at that moment dies too) at random moments, many times. Every key
//! whose creation was reported — its complete JSON printed on stdout — must
//! still be there afterwards, the vault must open, and the audit log must
//! verify.
//!
//! The delays come from a PRNG seeded from the clock; the seed is printed and
//! `KEYWARD_CRASH_SEED=<seed>` replays a run.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const ROUNDS: usize = 30;
const LOOP: &str =
    r#"i=0; while :; do "$KW_BIN" key create "k${ROUND}_$i" --json || exit 1; i=$((i+1)); done"#;

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

/// Runs the key-creating loop and kills it after `delay`; what it printed.
fn run_and_kill(kw: &Kw, round: usize, delay: Duration) -> String {
    let round_text = round.to_string();
    let killed = kill_after(kw, LOOP, &[("ROUND", &round_text)], delay);
    assert!(
        !killed.ended_before,
        "round {round}: the loop stopped by itself before the kill: a key creation failed:\n{}",
        killed.stderr
    );
    killed.stdout
}

/// The keys whose complete JSON was printed, by id; a record cut short by the kill is not a report.
fn reported_keys(printed: &str) -> Vec<Value> {
    let mut keys = Vec::new();
    for value in serde_json::Deserializer::from_str(printed).into_iter::<Value>() {
        match value {
            Ok(key) => keys.push(key),
            Err(err) if err.is_eof() => break,
            Err(err) => panic!("the loop printed something that is not JSON ({err}):\n{printed}"),
        }
    }
    keys
}

#[test]
fn keys_reported_before_a_sigkill_survive_it() {
    let kw = Kw::with_account("fleet", &["--key-limit", "1000000"]);
    let mut rng = Rng::from_env_or_time("KEYWARD_CRASH_SEED");
    let started = Instant::now();
    let mut reported: BTreeMap<String, (String, String)> = BTreeMap::new();
    for round in 0..ROUNDS {
        // From "before the first keyward finished" to several keys in.
        let delay = Duration::from_millis(rng.range(5, 400));
        let printed = run_and_kill(&kw, round, delay);
        let this_round = reported_keys(&printed);
        for key in &this_round {
            let secret = s(key, "secret").to_string();
            reported.insert(
                s(key, "id").to_string(),
                (s(key, "name").to_string(), secret),
            );
        }

        // The vault opens and holds every reported key, under its name.
        let listed = kw.json(&["key", "list"]);
        let listed: BTreeMap<String, String> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (s(k, "id").to_string(), s(k, "name").to_string()))
            .collect();
        let lost: Vec<String> = reported
            .iter()
            .filter(|(id, (name, _))| listed.get(*id) != Some(name))
            .map(|(id, (name, _))| format!("{name} ({id})"))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round} (killed after {delay:?}): reported keys are gone: {lost:?}"
        );

        // Each key has its audit entry, and the chain is intact.
        let report = kw.json(&["audit", "verify"]);
        assert_eq!(
            report["ok"], true,
            "round {round}: audit verify after a SIGKILL: {report}"
        );
        let creations = kw.json(&["audit", "list", "--action", "key.create"]);
        assert_eq!(
            creations.as_array().unwrap().len(),
            listed.len(),
            "round {round}: every key that exists has exactly one key.create entry"
        );

        // The last reported key of the round works: its verifier was stored whole.
        if let Some(key) = this_round.last() {
            let out = kw.verify(s(key, "secret"), &[]);
            assert_eq!(
                (out.code, out.stdout.trim()),
                (0, "VALID"),
                "round {round}: {} does not verify",
                s(key, "name")
            );
        }
        eprintln!(
            "round {round}: killed after {delay:?}, {} key(s) reported, {} in the vault",
            this_round.len(),
            listed.len()
        );
    }
    assert!(
        reported.len() >= ROUNDS / 3,
        "only {} keys were reported in {ROUNDS} rounds: the loop hardly ran, so the test proved little",
        reported.len()
    );
    eprintln!(
        "{ROUNDS} rounds, {} keys reported, in {:?}",
        reported.len(),
        started.elapsed()
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
    }
    eprintln!("{ROUNDS} rounds: {changed} changes went through, {kept} were undone, {cut_mid_change} kills left a change half done");
    assert!(
        changed > 0 && kept > 0,
        "the kills must land both before and after the change: {changed} / {kept}"
    );
}
