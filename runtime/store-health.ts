/**
 * Whether the store can take writes, as the runtime sees it: every `everyMs` it writes one small
 * document of its own beside the shop's data, and (embedded store) checks that the database file
 * it opened is still the one at DATA_DIR. A write that fails for a reason of the store itself
 * (disk full, read-only, file gone, I/O error: core/errors.ts storeFault) marks the store
 * unwritable until a write succeeds again; each change is logged once, and /healthz and the
 * metrics (runtime/health.ts) say why.
 */
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { storeFault } from '../core/errors';
import type { Collection } from '../core/store/collection';
import { DATABASE_FILE } from '../core/store/embedded';
import { openCollections, type StoreTarget } from '../core/store/open';

export interface StoreCondition {
  writable: boolean;
  /** SQLITE_FULL, SQLITE_READONLY, ENOENT, OutOfDiskSpace...: what the store answered. */
  code?: string;
  reason?: string;
  /** Since when it has been in this condition. */
  since: string;
}

/** The runtime's own table beside the shop's: one document per runtime, rewritten at each check. */
export const STORE_CHECKS = 'storeChecks';

interface CheckDoc {
  _id: string;
  at: string;
}

export class StoreWriteCheck {
  private current: StoreCondition = { writable: true, since: new Date().toISOString() };
  private timer?: NodeJS.Timeout;
  private checking = false;
  private readonly id = `${hostname()}:${process.pid}`;
  /** Checks that failed, by code (a counter for the metrics). */
  readonly failures = new Map<string, number>();

  private constructor(
    private readonly target: StoreTarget,
    private readonly checks: Collection<CheckDoc>,
    private readonly close: () => Promise<void>,
    private readonly fileIdentity: number | undefined,
    private readonly everyMs: number,
    private readonly log: (line: string, fields?: Record<string, unknown>) => void,
  ) {}

  static async open(target: StoreTarget, options: { everyMs: number; log: (line: string, fields?: Record<string, unknown>) => void }): Promise<StoreWriteCheck> {
    const { collections, close } = await openCollections(target, { [STORE_CHECKS]: [] });
    const check = new StoreWriteCheck(target, collections[STORE_CHECKS] as unknown as Collection<CheckDoc>, close, databaseFile(target), options.everyMs, options.log);
    await check.check();
    return check;
  }

  condition(): StoreCondition {
    return this.current;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.check(), this.everyMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.close();
  }

  /** One check: the database file is still there, and a write goes through. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const gone = this.fileGone();
      if (gone) return this.set({ writable: false, code: 'ENOENT', reason: gone });
      const at = new Date().toISOString();
      if (!(await this.checks.updateOne({ _id: this.id }, { $set: { at } })).doc) await this.checks.insertOnce({ _id: this.id, at });
      this.set({ writable: true });
    } catch (error) {
      const fault = storeFault(error);
      // Anything else (a busy lock, MongoDB unreachable) is not the store refusing writes: it is reported elsewhere.
      if (fault) this.set({ writable: false, code: fault.code, reason: fault.reason });
    } finally {
      this.checking = false;
    }
  }

  /** Why the database file this runtime opened is no longer at DATA_DIR, if it is not. */
  private fileGone(): string | undefined {
    if (this.fileIdentity === undefined) return undefined;
    const file = join(this.target.location, DATABASE_FILE);
    const now = databaseFile(this.target);
    if (now === undefined) return `${file} is gone: it was deleted or its folder was unmounted while the shop ran`;
    if (now !== this.fileIdentity) return `${file} was replaced while the shop ran: the processes that had it open still write to the old one`;
    return undefined;
  }

  private set(next: Omit<StoreCondition, 'since'>): void {
    const before = this.current;
    if (!next.writable) this.failures.set(next.code as string, (this.failures.get(next.code as string) ?? 0) + 1);
    if (before.writable === next.writable && before.code === next.code) return;
    this.current = { ...next, since: new Date().toISOString() };
    if (next.writable) this.log('the store takes writes again', { unwritableSince: before.since });
    else this.log('the store cannot write: writes answer 503 STORE_UNAVAILABLE', { code: next.code, reason: next.reason });
  }
}

/** The inode of the embedded database file, or undefined (MongoDB, or no file). */
function databaseFile(target: StoreTarget): number | undefined {
  if (target.kind !== 'embedded') return undefined;
  try {
    return statSync(join(target.location, DATABASE_FILE)).ino;
  } catch {
    return undefined;
  }
}
