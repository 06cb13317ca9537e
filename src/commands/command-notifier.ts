/**
 * Tells the open downlinks of this process that a gateway has a new command, so it goes down at
 * once instead of at the downlink's next look at the store. Only a nudge: the store is what a
 * downlink sends from, so a missed or repeated notice costs a query, never a command.
 */
export type CommandListener = () => void;

export class CommandNotifier {
  private readonly listeners = new Map<string, Set<CommandListener>>();

  /** Calls `listener` whenever a command is queued for `gateway`; returns the unsubscribe. */
  subscribe(gateway: string, listener: CommandListener): () => void {
    let set = this.listeners.get(gateway);
    if (!set) this.listeners.set(gateway, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(gateway) === set) this.listeners.delete(gateway);
    };
  }

  notify(gateway: string): void {
    for (const listener of this.listeners.get(gateway) ?? []) listener();
  }
}
