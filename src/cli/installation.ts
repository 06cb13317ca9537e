/** Finds and reads an installation's data directory for the commands that need one. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, type HearthConfig } from '../core/config.js';
import { DataDirLayout } from '../core/data-dir-layout.js';

export const DEFAULT_DATA_DIR = '.hearth';

export function dataDirFrom(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(option ?? env.HEARTH_DIR ?? DEFAULT_DATA_DIR);
}

export function readInstallation(dir: string): { layout: DataDirLayout; config: HearthConfig } {
  const layout = new DataDirLayout(dir);
  if (!existsSync(layout.config)) {
    throw new Error(`${dir} is not a Hearth data directory (no hearth.yaml); run \`hearth init --dir ${dir}\` first`);
  }
  const config = loadConfig(readFileSync(layout.config, 'utf8'), process.env, layout.config);
  return { layout, config };
}
