// The shared scenarios (scenarios.json) against the fake backend. A Rust test runs the same
// file through the real commands (src-tauri/src/scenarios.rs): a rule the fake gets wrong
// fails here, one the scenarios get wrong fails there.
import { describe, expect, it } from 'vitest';
import { invoke } from '@tauri-apps/api/core';
import { FakeBackend, staleArgumentCalls } from './fake-backend';
import file from './scenarios.json';

interface Step {
  command: string;
  args: Record<string, unknown>;
  expect?: unknown;
  error?: { kind: string; message: string };
}

interface Scenario {
  name: string;
  start: string;
  steps: Step[];
}

const starts = file.starts as Record<string, Step[]>;
const scenarios = file.scenarios as Scenario[];

/** Where `actual` differs from `expected` read as a subset (as the Rust runner reads it). */
function difference(expected: unknown, actual: unknown, at = 'answer'): string | null {
  if (Array.isArray(expected) && Array.isArray(actual) && expected.length === actual.length) {
    for (const [i, value] of expected.entries()) {
      const why = difference(value, actual[i], `${at}[${i}]`);
      if (why !== null) return why;
    }
    return null;
  }
  const isObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);
  if (isObject(expected) && isObject(actual)) {
    const got = actual as Record<string, unknown>;
    for (const [key, value] of Object.entries(expected as Record<string, unknown>)) {
      if (!(key in got)) return `${at}.${key} is missing`;
      const why = difference(value, got[key], `${at}.${key}`);
      if (why !== null) return why;
    }
    return null;
  }
  return JSON.stringify(expected) === JSON.stringify(actual)
    ? null
    : `${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

async function runStep(step: Step, check: boolean): Promise<void> {
  let answer: unknown;
  let error: unknown = null;
  try {
    answer = await invoke(step.command, step.args);
  } catch (caught) {
    // The fake's refusal of an unknown argument is a plain Error: the scenario is wrong.
    if (caught instanceof Error) throw caught;
    error = caught;
  }
  if (!check) {
    if (error !== null) throw new Error(`${step.command} failed: ${JSON.stringify(error)}`);
    return;
  }
  if (step.error) {
    expect(error, `${step.command}: expected an error, got ${JSON.stringify(answer)}`).not.toBeNull();
    const { kind, message } = error as { kind: string; message: string };
    expect(kind, `${step.command}: ${message}`).toBe(step.error.kind);
    expect(message, step.command).toContain(step.error.message);
    return;
  }
  expect(error, `${step.command} failed`).toBeNull();
  if ('expect' in step) {
    expect(difference(step.expect, answer), `${step.command}: ${JSON.stringify(answer)}`).toBeNull();
  }
}

async function runScenario(scenario: Scenario): Promise<void> {
  const setup = starts[scenario.start];
  if (!setup) throw new Error(`no start named ${scenario.start}`);
  new FakeBackend().install();
  for (const step of setup) await runStep(step, false);
  for (const step of scenario.steps) await runStep(step, true);
}

describe('the shared scenarios, against the fake backend', () => {
  it('are there', () => {
    expect(scenarios.length).toBeGreaterThan(0);
  });

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      await runScenario(scenario);
    });
  }

  it('refuse an argument the command does not take', async () => {
    const stale: Scenario = {
      name: 'stale',
      start: 'unlocked',
      steps: [{ command: 'create_account', args: { name: 'acme', options: {} } }],
    };
    await expect(runScenario(stale)).rejects.toThrow('create_account takes no argument options');
    staleArgumentCalls.splice(0);
  });
});
