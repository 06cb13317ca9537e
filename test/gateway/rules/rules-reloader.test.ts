/** Reloading the rules file: good edits are applied, bad ones keep the running rules. */
import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, rename, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../src/core/clock.js';
import type { BrokerMessage } from '../../../src/gateway/mqtt/mqtt-session.js';
import { RuleEngine } from '../../../src/gateway/rules/rule-engine.js';
import { loadRulesFile, RulesFileError, type RuleSet } from '../../../src/gateway/rules/rules-file.js';
import { RulesReloader } from '../../../src/gateway/rules/rules-reloader.js';

const trigger: BrokerMessage = { topic: 'in', payload: Buffer.alloc(0), qos: 0, retain: false, from: 'urn:dev:ops:acme-pir-0001' };
const answer = (out: string) => `rules:\n  - { name: r, when: { topic: in }, then: [{ publish: { topic: ${out} } }] }\n`;
const outputsOf = (engine: RuleEngine) => engine.evaluate(trigger).map((o) => o.message.topic);

describe('the rules reloader', () => {
  let dir: string;
  let path: string;
  let engine: RuleEngine;
  let errors: Error[];
  let reloads: RuleSet[];
  let reloader: RulesReloader;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hearth-rules-reload-'));
    path = join(dir, 'rules.yaml');
    await writeFile(path, answer('out/1'));
    engine = new RuleEngine(await loadRulesFile(path), new ManualClock(new Date('2030-01-01T00:00:00Z')));
    errors = [];
    reloads = [];
    // Polls too rarely to race the explicit checks below; the polling test makes its own.
    reloader = new RulesReloader(path, engine, { intervalMs: 3_600_000, onError: (e) => errors.push(e), onReload: (s) => reloads.push(s) });
  });
  afterEach(async () => {
    reloader.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the file as it was at start is not applied again', async () => {
    await reloader.start();
    assert.equal(await reloader.check(), false);
    assert.equal(reloads.length, 0);
  });

  test('applies a valid change, including one made by renaming a new file into place', async () => {
    await reloader.start();
    await writeFile(path, answer('out/2'));
    assert.equal(await reloader.check(), true);
    assert.deepEqual(outputsOf(engine), ['out/2']);
    const next = join(dir, 'rules.yaml.tmp');
    await writeFile(next, answer('out/3'));
    await rename(next, path);
    assert.equal(await reloader.check(), true);
    assert.deepEqual(outputsOf(engine), ['out/3']);
    assert.equal(await reloader.check(), false, 'nothing changed since');
    assert.deepEqual(
      reloads.map((s) => s.rules[0]?.then[0]?.topic.source),
      ['out/2', 'out/3'],
    );
    assert.deepEqual(errors, []);
  });

  test('keeps the old rules on a bad file, reports it once, and recovers when it is fixed', async () => {
    await reloader.start();
    await writeFile(path, 'rules:\n  - { name: r, when: { topic: in }, then: [{ publish: { topic: "out/#" } }] }\n');
    assert.equal(await reloader.check(), false);
    assert.deepEqual(outputsOf(engine), ['out/1'], 'the running rules stay');
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof RulesFileError);
    assert.deepEqual(errors[0].problems, [`${path}: rules[0].then[0].publish.topic: wildcards are not allowed in a publish topic (rule "r")`]);
    assert.equal(await reloader.check(), false);
    assert.equal(errors.length, 1, 'an unchanged bad file is not reported again');

    await writeFile(path, 'rules: [\n');
    assert.equal(await reloader.check(), false);
    assert.equal(errors.length, 2);
    assert.deepEqual(outputsOf(engine), ['out/1']);

    await writeFile(path, answer('out/fixed'));
    assert.equal(await reloader.check(), true);
    assert.deepEqual(outputsOf(engine), ['out/fixed']);
  });

  test('a deleted file is no rules, as at start-up', async () => {
    await reloader.start();
    await unlink(path);
    assert.equal(await reloader.check(), true);
    assert.deepEqual(outputsOf(engine), []);
    await writeFile(path, answer('out/back'));
    assert.equal(await reloader.check(), true);
    assert.deepEqual(outputsOf(engine), ['out/back']);
  });

  test('polls on its own once started, and stops when told', async () => {
    reloader = new RulesReloader(path, engine, { intervalMs: 10, onError: (e) => errors.push(e), onReload: (s) => reloads.push(s) });
    await reloader.start();
    await writeFile(path, answer('out/polled'));
    const deadline = Date.now() + 5000;
    while (reloads.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(outputsOf(engine), ['out/polled']);
    reloader.stop();
    await new Promise((resolve) => setTimeout(resolve, 30)); // let a poll already under way finish
    const applied = reloads.length;
    await writeFile(path, answer('out/after-stop'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(reloads.length, applied);
    assert.deepEqual(outputsOf(engine), ['out/polled']);
  });

  test('concurrent checks share one look at the file', async () => {
    await reloader.start();
    await writeFile(path, answer('out/once'));
    const results = await Promise.all([reloader.check(), reloader.check(), reloader.check()]);
    assert.deepEqual(results, [true, true, true]);
    assert.equal(reloads.length, 1);
  });
});
