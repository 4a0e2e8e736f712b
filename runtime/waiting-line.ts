/**
 * The gateway's line of calls waiting for a replica with room (runtime/supervisor.ts admits
 * them): first come, first served, each wait bounded. A freed slot goes to the call that waited
 * longest, handed over directly, so a thousand waiting calls cost one wake-up per freed slot
 * rather than a thousand.
 */
export class WaitingLine<T> {
  private readonly waiting: { take(value: T | undefined): void }[] = [];

  get length(): number {
    return this.waiting.length;
  }

  /** Resolves with what `give` hands over, or undefined after `timeoutMs`. */
  wait(timeoutMs: number): Promise<T | undefined> {
    if (timeoutMs <= 0) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = {
        take: (value: T | undefined) => {
          clearTimeout(timer);
          resolve(value);
        },
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.push(waiter);
    });
  }

  /** Hands `value` to the call that waited longest; false when none waits. */
  give(value: T): boolean {
    const waiter = this.waiting.shift();
    waiter?.take(value);
    return waiter !== undefined;
  }
}
