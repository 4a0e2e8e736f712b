/**
 * A store that cannot write answers 503 STORE_UNAVAILABLE with Retry-After, never 500: the errors
 * SQLite, MongoDB and the file system raise for a full disk, a read-only database, a file that
 * cannot be opened or an I/O failure, each produced for real where this machine can.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveHandler } from '../test/support/fixtures';
import { STORE_RETRY_AFTER_SECONDS, storeFault, toShopError } from './errors';
import { defineFunction } from './fn';
import { z } from './zod';

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('nothing was thrown');
}

const dir = mkdtempSync(join(tmpdir(), 'store-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** SQLite's own answers: a database grown to its page limit is full, exactly as a full disk. */
const sqliteFull = () => {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (v BLOB)');
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true })}`);
  return thrown(() => db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(64 * 1024)));
};
const sqliteReadOnly = () => {
  const file = join(dir, 'read-only.sqlite');
  new Database(file).exec('CREATE TABLE IF NOT EXISTS t (v TEXT)');
  return thrown(() => new Database(file, { readonly: true }).prepare("INSERT INTO t VALUES ('x')").run());
};
/** A database file that is gone, opened as a replica opens one: it must exist. */
const sqliteCantOpen = () => thrown(() => new Database(join(dir, 'gone.sqlite'), { fileMustExist: true }));

describe('store faults', () => {
  it('recognises SQLite’s full, read-only and cannot-open errors, and I/O errors', () => {
    expect(storeFault(sqliteFull())).toEqual({ code: 'SQLITE_FULL', reason: 'The database’s disk is full' });
    expect(storeFault(sqliteReadOnly())).toEqual({ code: 'SQLITE_READONLY', reason: 'The database is read-only' });
    expect(storeFault(sqliteCantOpen())).toEqual({ code: 'SQLITE_CANTOPEN', reason: 'The database file cannot be opened' });
    // An I/O error cannot be caused on demand here: recognised by its shape, as every driver error is.
    expect(storeFault({ name: 'SqliteError', code: 'SQLITE_IOERR_WRITE' })).toEqual({ code: 'SQLITE_IOERR_WRITE', reason: 'The database’s disk failed to read or write' });
  });

  it('recognises the file system’s and MongoDB’s equivalents, and nothing else', () => {
    // /dev/full answers every write with ENOSPC, as a full disk does.
    expect(storeFault(thrown(() => writeFileSync('/dev/full', 'x')))).toEqual({ code: 'ENOSPC', reason: 'The database’s disk is full' });
    expect(storeFault({ name: 'MongoServerError', code: 14031, codeName: 'OutOfDiskSpace' })).toEqual({ code: 'OutOfDiskSpace', reason: 'The database’s disk is full' });
    expect(storeFault({ name: 'MongoServerError', code: 10107, codeName: 'NotWritablePrimary' })).toMatchObject({ code: 'NotWritablePrimary' });
    for (const other of [new Error('bug'), { name: 'SqliteError', code: 'SQLITE_BUSY' }, { name: 'SqliteError', code: 'SQLITE_CONSTRAINT_UNIQUE' }, { name: 'MongoServerError', codeName: 'DuplicateKey' }, { code: 'ENOSPC' }, null, 'ENOSPC']) {
      expect(storeFault(other)).toBeUndefined();
    }
  });

  it('turns them into 503 STORE_UNAVAILABLE with Retry-After, never a 500', () => {
    expect(toShopError(sqliteFull())).toEqual({
      name: 'ShopError',
      status: 503,
      code: 'STORE_UNAVAILABLE',
      message: 'The database’s disk is full; nothing was saved. Try again later',
      details: { cause: 'SQLITE_FULL' },
      retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
    });
    expect(toShopError(new Error('bug'))).toMatchObject({ status: 500, code: 'INTERNAL' });
  });

  it('answers a function’s caller 503 with the code, the message and Retry-After', async () => {
    const handler = defineFunction({ name: 'store-fault', method: 'POST', schema: z.object({}), run: async () => { throw sqliteReadOnly(); } });
    const fn = await serveHandler(handler);
    try {
      const res = await fn.call({ body: {} });
      expect([res.status, res.headers.get('retry-after'), res.headers.get('content-type')]).toEqual([503, String(STORE_RETRY_AFTER_SECONDS), 'application/json; charset=utf-8']);
      expect(res.json).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'The database is read-only; nothing was saved. Try again later', details: { cause: 'SQLITE_READONLY' } } });
    } finally {
      await fn.close();
    }
  });
});
