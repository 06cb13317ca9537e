/** One line of progress on stderr, redrawn in place on a terminal and every few seconds otherwise. */
export class ProgressBar {
  private lastDraw = 0;
  private readonly started = performance.now();

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, detail: string): void {
    const now = performance.now();
    const interval = this.stream.isTTY ? 100 : 5000;
    if (done < this.total && now - this.lastDraw < interval) return;
    this.lastDraw = now;
    const width = 30;
    const filled = Math.round((done / Math.max(1, this.total)) * width);
    const rate = done / Math.max(0.001, (now - this.started) / 1000);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${detail} ${rate.toFixed(1)}/s`;
    if (this.stream.isTTY) this.stream.write(`\r${line.padEnd(this.stream.columns ? Math.min(this.stream.columns - 1, 100) : 100)}`);
    else this.stream.write(`${line}\n`);
  }

  finish(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
