/**
 * Waits for something seen from outside to become true (a process gone, a line logged, a status),
 * checking every 20 ms. Bounded by a count of checks, never by a time: a wait that never ends
 * fails with what it waited for, instead of outliving the test's timeout (the default stays
 * below jest's 180 s, since each check takes at least 20 ms).
 */
export async function until(condition: () => boolean | Promise<boolean>, what: string | (() => string) = 'the condition', checks = 6_000): Promise<void> {
  for (let checked = 0; !(await condition()); checked++) {
    if (checked === checks) throw new Error(`never happened: ${typeof what === 'string' ? what : what()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
