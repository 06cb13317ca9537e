/**
 * Preloaded into `hearth serve` by `npm run bench -- acme --profile DIR` (NODE_OPTIONS=--import),
 * because Node 20 refuses --cpu-prof in NODE_OPTIONS: profiles the main thread with the inspector
 * from start to exit and writes DIR/hearth-serve-<pid>.cpuprofile, which Chrome DevTools opens.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.HEARTH_BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // 1 ms is V8's default for --cpu-prof; finer sampling would distort what it measures.
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  // An in-thread inspector session answers synchronously, so this completes inside the exit handler.
  process.once('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `hearth-serve-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
