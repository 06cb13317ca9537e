// `npm run bench -- <name>`: runs dist/bench/<name>.js (built by `npm run bench`'s build step).
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const available = readdirSync('dist/bench')
  .filter((f) => f.endsWith('.js') && !f.includes('-'))
  .map((f) => f.replace(/\.js$/, ''));
const [name, ...rest] = process.argv.slice(2);
if (!name || !existsSync(`dist/bench/${name}.js`)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [options]`);
  process.exit(name ? 1 : 0);
}
const result = spawnSync(process.execPath, [`dist/bench/${name}.js`, ...rest], { stdio: 'inherit' });
process.exit(result.status ?? 1);
