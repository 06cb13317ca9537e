/**
 * What a composition root opened, undone last-opened-first: stores, buses, servers, subscriptions
 * and the timers of its background jobs. A start that fails halfway closes what it had opened, and
 * one part failing to close never keeps the others open.
 */
export type CloseStep = () => Promise<void> | void;

export class Closer {
  private readonly steps: CloseStep[] = [];

  /** `onError` hears each step that failed to close; closing goes on regardless. */
  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  add(step: CloseStep): void {
    this.steps.push(step);
  }

  /**
   * Runs `task` every `ms` until close, without keeping the process alive for it. A tick that comes
   * while the task's previous run is still under way is skipped, so a slow run (a CRL signature on a
   * PKCS#11 token, a fetch over a bad network) never piles up behind itself. A run that fails is
   * handed to `onError`; the next tick runs as usual.
   */
  every(ms: number, task: () => Promise<unknown> | void, onError: (err: unknown) => void): void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      let outcome: Promise<unknown> | void;
      try {
        outcome = task();
      } catch (err) {
        onError(err);
        return;
      }
      if (!outcome) return;
      running = true;
      outcome.catch(onError).finally(() => {
        running = false;
      });
    }, ms);
    timer.unref();
    this.add(() => clearInterval(timer));
  }

  async closeAll(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
