/**
 * Picks up edits to the rules file without a gateway restart. Polls the file's stat rather than
 * using fs.watch: editors replace files by rename, and inotify watches on a replaced file go
 * quiet, while a stat poll every few seconds costs nothing. A file that no longer parses keeps
 * the rules that were running: automations should not stop because of a typo being fixed.
 */
import { stat } from 'node:fs/promises';
import { loadRulesFile, type RuleSet } from './rules-file.js';

export interface RulesReloaderOptions {
  /** How often to look at the file; default 2 s. */
  intervalMs?: number;
  /** A change that was refused; the old rules stay. */
  onError?: (error: Error) => void;
  /** A change that was applied. */
  onReload?: (ruleSet: RuleSet) => void;
}

export class RulesReloader {
  private timer: NodeJS.Timeout | undefined;
  /** What the file looked like when last read; undefined: not read yet. */
  private seen: string | undefined;
  private running: Promise<boolean> | undefined;

  constructor(
    private readonly path: string,
    private readonly engine: { replace(ruleSet: RuleSet): void },
    private readonly options: RulesReloaderOptions = {},
  ) {}

  /**
   * Starts polling. The file as it is now counts as seen: the caller loaded it to build the
   * engine, so only later changes are applied.
   */
  async start(): Promise<void> {
    if (this.timer !== undefined) return;
    this.seen = await this.signature();
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 2000);
    // Polling alone must not keep the process alive.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Looks at the file now and applies it if it changed; true if new rules were applied. */
  check(): Promise<boolean> {
    // One look at a time: a slow disk must not interleave two reloads.
    this.running ??= this.checkOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkOnce(): Promise<boolean> {
    const signature = await this.signature();
    if (signature === this.seen) return false;
    let ruleSet: RuleSet | undefined;
    let failure: Error | undefined;
    try {
      // A deleted file is an empty rule set, as at start-up.
      ruleSet = await loadRulesFile(this.path);
    } catch (error) {
      failure = error as Error;
    }
    // Changed while we read it: an editor saving in place, caught half-written (or truncated to
    // nothing). Leave it for the next look rather than apply or report a passing state.
    if ((await this.signature()) !== signature) return false;
    // Remembered whether or not it parses: a bad file is reported once, not at every poll.
    this.seen = signature;
    if (ruleSet === undefined) {
      this.options.onError?.(failure ?? new Error(`${this.path}: could not be read`));
      return false;
    }
    this.engine.replace(ruleSet);
    this.options.onReload?.(ruleSet);
    return true;
  }

  /** Changes when the file is written, replaced or removed. */
  private async signature(): Promise<string> {
    try {
      const info = await stat(this.path, { bigint: true });
      return `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      return `unreadable:${(error as Error).message}`;
    }
  }
}
