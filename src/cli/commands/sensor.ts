/**
 * `hearth sensor pair | unpair | list`: the sensors paired with a gateway, kept in its directory.
 * A running gateway picks changes up within seconds; an unpaired sensor is disconnected then.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { SensorRegistry } from '../../gateway/sensors/sensor-registry.js';

const DEFAULT_DIR = './.hearth-gateway';
const registryIn = (dir: string) => SensorRegistry.open(join(resolve(dir), 'sensors', 'registry.json'));

export function registerSensorCommands(program: Command): void {
  const sensor = program
    .command('sensor')
    .description("pair constrained sensors with a gateway (they connect with short-lived tokens on the gateway's sensor listener)");

  sensor
    .command('pair <sensor-id>')
    .description('pair a sensor and hand out its pairing key, once: the sensor proves it to get tokens')
    .option('--dir <dir>', 'gateway directory', DEFAULT_DIR)
    .option('--replace', 'give an already paired sensor a new key (the old one stops working)')
    .option('--key-file <file>', 'write the key to this file (mode 0600) instead of printing it')
    .action(async (sensorId: string, opts) => {
      const registry = await registryIn(opts.dir);
      const key = (await registry.pair(sensorId, { replace: opts.replace === true })).toString('base64url');
      if (opts.keyFile) {
        writeFileSync(opts.keyFile, key + '\n', { mode: 0o600, flag: 'wx' });
        console.log(`paired ${sensorId}; its pairing key is in ${opts.keyFile}`);
      } else {
        console.log(`paired ${sensorId}`);
        console.log(`pairing key: ${key}`);
        console.log('Load it into the sensor now: it is not shown again.');
      }
    });

  sensor
    .command('unpair <sensor-id>')
    .description('forget a sensor: it gets no more tokens and its connections are closed')
    .option('--dir <dir>', 'gateway directory', DEFAULT_DIR)
    .action(async (sensorId: string, opts) => {
      const registry = await registryIn(opts.dir);
      if (!(await registry.unpair(sensorId))) throw new Error(`sensor ${sensorId} is not paired with the gateway in ${resolve(opts.dir)}`);
      console.log(`unpaired ${sensorId}`);
    });

  sensor
    .command('list')
    .description('the paired sensors')
    .option('--dir <dir>', 'gateway directory', DEFAULT_DIR)
    .action(async (opts) => {
      const sensors = (await registryIn(opts.dir)).list();
      if (sensors.length === 0) console.log('no sensors paired');
      for (const s of sensors) console.log(`${s.sensorId}\tpaired ${s.pairedAt.toISOString()}`);
    });
}
