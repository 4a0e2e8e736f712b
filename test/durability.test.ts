/**
 * What "an acknowledged write is on disk" rests on, tested where it can be: a power cut cannot be
 * staged here, and a SIGKILL test passes with synchronous=NORMAL too (the kernel keeps the written
 * pages of a killed process). So these tests check the setting itself on the store's own
 * connections, and its effect: with synchronous=FULL SQLite syncs the write-ahead log to the disk
 * (fsync) before each commit returns, which it does not do with NORMAL. strace counts the syncs
 * of a process that acknowledges a known number of writes.
 */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DATABASE_FILE, openEmbeddedStore } from '../core/store/embedded';
import { ROOT } from '../runtime/build';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'shop-durability-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('opens every connection of the embedded store with journal_mode=WAL and synchronous=FULL', async () => {
  // The settings are per connection (nothing in the file keeps synchronous): read them on the
  // connections the store itself opened.
  const connections = new Set<Database.Database>();
  const pragma = Database.prototype.pragma;
  const spy = jest.spyOn(Database.prototype, 'pragma').mockImplementation(function (this: Database.Database, ...args: Parameters<typeof pragma>) {
    connections.add(this);
    return pragma.apply(this, args);
  });
  const store = await openEmbeddedStore(join(dir, 'data'));
  spy.mockRestore();
  try {
    const settings = [...connections].map((db) => ({ file: db.name.endsWith(DATABASE_FILE), journal: db.pragma('journal_mode', { simple: true }), synchronous: db.pragma('synchronous', { simple: true }) }));
    // synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
    expect(settings).toEqual([{ file: true, journal: 'wal', synchronous: 2 }]);
  } finally {
    await store.close();
  }
});

it('syncs the write-ahead log to the disk before each acknowledged write (fsync per commit; NORMAL would not)', async () => {
  const writes = 25;
  const trace = join(dir, 'strace.txt');
  const { stdout } = await promisify(execFile)(
    'strace',
    ['-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, '--import', 'tsx', join('test', 'support', 'durable-writes.ts'), join(dir, 'data'), String(writes)],
    { cwd: ROOT },
  );
  expect(stdout.trim()).toBe(`acknowledged ${writes}`);
  const walSyncs = readFileSync(trace, 'utf8')
    .split('\n')
    .filter((line) => /f(data)?sync\(\d+<[^>]*-wal>\)\s+=\s+0/.test(line)).length;
  // At least one sync of the log per acknowledged write (opening the store adds its own).
  expect(walSyncs).toBeGreaterThanOrEqual(writes);
  process.stdout.write(`durability: ${writes} acknowledged writes, ${walSyncs} syncs of the write-ahead log\n`);
});
