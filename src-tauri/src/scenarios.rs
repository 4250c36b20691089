//! The shared scenarios of ui/src/testing/scenarios.json through the real commands. Vitest
//! runs the same file against the UI's fake backend, so a rule the fake gets wrong fails there.

use serde_json::{Map, Value};

use crate::testing::TestApp;

const SCENARIOS: &str = include_str!("../../ui/src/testing/scenarios.json");

/// Where `actual` differs from `expected`, read as a subset: an object needs the keys given,
/// an array every element in order and no more; `None` when it matches.
fn difference(expected: &Value, actual: &Value, at: &str) -> Option<String> {
    match (expected, actual) {
        (Value::Object(wanted), Value::Object(got)) => wanted.iter().find_map(|(key, value)| {
            let path = format!("{at}.{key}");
            match got.get(key) {
                Some(actual) => difference(value, actual, &path),
                None => Some(format!("{path} is missing")),
            }
        }),
        (Value::Array(wanted), Value::Array(got)) if wanted.len() == got.len() => wanted
            .iter()
            .zip(got)
            .enumerate()
            .find_map(|(i, (value, actual))| difference(value, actual, &format!("{at}[{i}]"))),
        _ if expected == actual => None,
        _ => Some(format!("{at}: expected {expected}, got {actual}")),
    }
}

/// The arguments each command takes, as the window names them (src-tauri/commands.rs).
fn arguments_of(command: &str) -> Result<Vec<String>, String> {
    crate::command_signatures(&ts_rs::Config::new().with_large_int("number"))
        .into_iter()
        .find(|signature| signature.name == command)
        .map(|signature| signature.args.into_iter().map(|arg| arg.js_name).collect())
        .ok_or_else(|| format!("there is no command {command}"))
}

/// Runs one step; `Err` says how it failed.
fn run_step(app: &TestApp, step: &Value, check: bool) -> Result<(), String> {
    let command = step["command"].as_str().ok_or("a step without a command")?;
    let args = step["args"].as_object().cloned().unwrap_or_else(Map::new);
    let known = arguments_of(command)?;
    if let Some(stale) = args.keys().find(|name| !known.contains(name)) {
        return Err(format!(
            "{command} takes no argument {stale} (it takes {known:?})"
        ));
    }
    let answer = app.call(command, Value::Object(args));
    if !check {
        return answer
            .map(drop)
            .map_err(|error| format!("{command} failed: {error}"));
    }
    match (step.get("error"), answer) {
        (Some(wanted), Err(error)) => {
            if error["kind"] != wanted["kind"] {
                return Err(format!(
                    "{command}: expected an error of kind {}, got {error}",
                    wanted["kind"]
                ));
            }
            let part = wanted["message"].as_str().unwrap_or_default();
            let message = error["message"].as_str().unwrap_or_default();
            if !message.contains(part) {
                return Err(format!(
                    "{command}: expected a message with {part:?}, got {message:?}"
                ));
            }
            Ok(())
        }
        (Some(wanted), Ok(answer)) => Err(format!(
            "{command}: expected the error {wanted}, got the answer {answer}"
        )),
        (None, Err(error)) => Err(format!("{command} failed: {error}")),
        (None, Ok(answer)) => match step.get("expect") {
            Some(expected) => difference(expected, &answer, "answer")
                .map_or(Ok(()), |why| Err(format!("{command}: {why} in {answer}"))),
            None => Ok(()),
        },
    }
}

/// Runs a scenario on a new vault: its start's steps, then its own.
fn run_scenario(starts: &Value, scenario: &Value) -> Result<(), String> {
    let start = scenario["start"].as_str().unwrap_or_default();
    let setup = starts[start]
        .as_array()
        .ok_or_else(|| format!("no start named {start:?}"))?;
    let app = TestApp::new();
    for step in setup {
        run_step(&app, step, false).map_err(|why| format!("start {start:?}: {why}"))?;
    }
    let steps = scenario["steps"]
        .as_array()
        .ok_or("a scenario without steps")?;
    for (i, step) in steps.iter().enumerate() {
        run_step(&app, step, true).map_err(|why| format!("step {}: {why}", i + 1))?;
    }
    Ok(())
}

#[test]
fn every_shared_scenario_holds_for_the_real_commands() {
    let file: Value = serde_json::from_str(SCENARIOS).unwrap();
    let scenarios = file["scenarios"].as_array().unwrap();
    assert!(!scenarios.is_empty());
    let failures: Vec<String> = scenarios
        .iter()
        .filter_map(|scenario| {
            run_scenario(&file["starts"], scenario)
                .err()
                .map(|why| format!("{}: {why}", scenario["name"]))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_scenario_naming_an_argument_the_command_lacks_is_refused() {
    let starts = serde_json::json!({ "unlocked": [] });
    let stale = serde_json::json!({
        "name": "stale", "start": "unlocked",
        "steps": [{ "command": "create_account", "args": { "name": "acme", "options": {} } }]
    });
    let why = run_scenario(&starts, &stale).unwrap_err();
    assert!(
        why.contains("create_account takes no argument options"),
        "{why}"
    );
    let unknown = serde_json::json!({
        "name": "unknown", "start": "unlocked",
        "steps": [{ "command": "no_such_command", "args": {} }]
    });
    assert!(run_scenario(&starts, &unknown)
        .unwrap_err()
        .contains("there is no command no_such_command"));
}
