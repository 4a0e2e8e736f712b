/**
 * The embedded store: one SQLite database (better-sqlite3, WAL) in DATA_DIR that any number of
 * processes open at once: function replicas, two runtimes, `npm run seed` while the shop runs.
 * Documents are JSON, kept in SQLite's binary JSONB form, one table per collection; MongoDB's
 * query and update operators are evaluated by mingo, so the shop's store code means the same
 * thing here as on MongoDB. Tables keep SQLite's rowid: new documents are appended, so pages
 * stay full, where a table clustered on the (random) ids would leave them about 70% full.
 *
 * - Every write is atomic across processes: it runs in a transaction that begins IMMEDIATE
 *   (taking the write lock before it reads), in a savepoint of its own. A process's writes are
 *   queued and committed in groups (WriteQueue below): one sync for every write that arrived
 *   while the previous group was being written.
 * - Waiting for another process's write lock never blocks the event loop (SQLite's own busy
 *   handler sleeps inside the call, in steps growing to 100 ms): the queue tries again every
 *   millisecond, so it gets the lock soon after it is free. The wait is bounded
 *   (SQLITE_BUSY_TIMEOUT_MS); when it runs out the write fails with SQLITE_BUSY, which the
 *   functions answer as 503 DEPENDENCY_UNAVAILABLE, with nothing written.
 * - Indexed fields are read through expression indexes: a query's conditions on them become SQL
 *   (a superset of the matches), mingo decides on each row found, and a sort on indexed fields
 *   is done by SQLite, so a query with a limit stops early instead of scanning the collection.
 * - synchronous=FULL: a commit is on disk before it is acknowledged, so an acknowledged write
 *   survives SIGKILL and power loss alike.
 */
import Database, { type Database as SqliteDatabase } from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Query } from 'mingo';
import { update as applyUpdate } from 'mingo/updater';
import type { Collection, Filter, FindOptions, IndexSpec, Projection, Update } from './collection';
import { DocumentStore, SHOP_INDEXES, type ShopCollections } from './document-store';
import type { ShopStore } from './store';

export const DATABASE_FILE = 'shop.sqlite';
/** The files the version before this one (nedb) wrote; runtime/import-nedb.ts imports them. */
export const LEGACY_FILES = ['products.db', 'movements.db', 'carts.db', 'orders.db', 'reservations.db'];
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** How many queued writes one transaction takes at most: a group holds the lock for a few milliseconds at most. */
const MAX_GROUP = 64;
const LOCK_RETRY_MS = 1;

type Doc = { _id: string } & Record<string, unknown>;
type Sql = { where: string[]; params: unknown[] };

const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;
const column = (field: string) => (field === '_id' ? 'id' : `json_extract(doc, '$.${field}')`);
const isScalar = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
const sqlValue = (v: string | number | boolean) => (typeof v === 'boolean' ? Number(v) : v);
const RANGE: Record<string, string> = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=', $eq: '=' };

/**
 * The part of a MongoDB filter SQLite can answer from an index: conditions on indexed fields,
 * each a superset of what the operator matches. The rest is left to mingo.
 */
function indexedConditions(filter: Filter, indexed: ReadonlySet<string>, sql: Sql = { where: [], params: [] }): Sql {
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' && Array.isArray(value)) {
      for (const part of value) if (part && typeof part === 'object') indexedConditions(part as Filter, indexed, sql);
      continue;
    }
    if (!indexed.has(key)) continue;
    const col = column(key);
    if (value === null) {
      sql.where.push(`${col} IS NULL`);
    } else if (isScalar(value)) {
      sql.where.push(`${col} = ?`);
      sql.params.push(sqlValue(value));
    } else if (value && typeof value === 'object' && !(value instanceof RegExp) && !Array.isArray(value)) {
      for (const [op, operand] of Object.entries(value)) {
        if (op === '$in' && Array.isArray(operand) && operand.length > 0 && operand.every(isScalar)) {
          sql.where.push(`${col} IN (${operand.map(() => '?').join(', ')})`);
          sql.params.push(...operand.map(sqlValue));
        } else if (RANGE[op] && (typeof operand === 'string' || typeof operand === 'number')) {
          sql.where.push(`${col} ${RANGE[op]} ?`);
          sql.params.push(operand);
        }
      }
    }
  }
  return sql;
}

/**
 * The SQL a find runs: the indexed part of the filter, and the sort when it is on indexed fields
 * (`sorted`); mingo checks every row it returns against the whole filter.
 */
export function selectStatement(table: string, indexed: ReadonlySet<string>, filter: Filter, sort: FindOptions['sort'] = {}): { sql: string; params: unknown[]; sorted: boolean } {
  const { where, params } = indexedConditions(filter, indexed);
  const sortKeys = Object.entries(sort);
  const sorted = sortKeys.every(([field]) => indexed.has(field));
  const order = sorted && sortKeys.length ? ` ORDER BY ${sortKeys.map(([f, d]) => `${column(f)} ${d === 1 ? 'ASC' : 'DESC'}`).join(', ')}` : '';
  return { sql: `SELECT json(doc) AS doc FROM ${table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}${order}`, params, sorted };
}

/** The fields a collection's indexes cover (plus _id): the ones SQLite can filter and sort on. */
export function indexedFields(indexes: readonly IndexSpec[]): Set<string> {
  return new Set(indexes.flatMap((spec) => Object.keys(spec)).concat('_id'));
}

function assertScalarIndexedFields(doc: Doc, indexed: ReadonlySet<string>, collection: string): void {
  for (const field of indexed) {
    const value = doc[field];
    if (value !== undefined && value !== null && !isScalar(value)) throw new Error(`${collection}.${field} is indexed and must hold a scalar`);
  }
}

const byIdOnly = (filter: Filter) => {
  const keys = Object.keys(filter);
  return keys.length === 1 && keys[0] === '_id' && typeof filter._id === 'string';
};

/** MongoDB's projection of the documents (one mingo cursor for all of them). */
function project<T>(docs: Doc[], projection: Projection | undefined): T[] {
  if (!projection || Object.keys(projection).length === 0) return docs as unknown as T[];
  return new Query<Doc>({}, {}).find<Doc>(docs, projection).all() as unknown as T[];
}

/** A collection over one table (id, doc JSON) of `db`; its writes go through the database's queue. */
export function sqliteCollection<T extends { _id: string }>(db: SqliteDatabase, writes: WriteQueue, name: string, indexes: readonly IndexSpec[]): Collection<T> {
  const indexed = indexedFields(indexes);
  const statements = new Map<string, Database.Statement>();
  const prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };

  /** The matching documents, in `sort` order when SQLite can sort them, stopping at `limit`. */
  function* matches(filter: Filter, options: FindOptions = {}): Generator<Doc> {
    const select = selectStatement(name, indexed, filter, options.sort);
    const rows = prepare(select.sql).iterate(...select.params) as IterableIterator<{ doc: string }>;
    // A document asked for by its id alone is exactly what SQLite found: nothing for mingo to decide.
    const query = byIdOnly(filter) ? { test: () => true } : new Query<Doc>(filter, {});
    if (!select.sorted) {
      // A sort SQLite cannot do from an index: every match, sorted by mingo.
      const all = [...rows].map((r) => JSON.parse(r.doc) as Doc).filter((d) => query.test(d));
      let cursor = new Query<Doc>({}, {}).find<Doc>(all).sort(options.sort ?? {});
      if (options.limit !== undefined) cursor = cursor.limit(options.limit);
      yield* cursor.all();
      return;
    }
    let found = 0;
    for (const row of rows) {
      if (options.limit !== undefined && found >= options.limit) return;
      const doc = JSON.parse(row.doc) as Doc;
      if (query.test(doc)) {
        found++;
        yield doc;
      }
    }
  }

  const insert = (doc: T) => {
    assertScalarIndexedFields(doc as unknown as Doc, indexed, name);
    return prepare(`INSERT INTO ${name} (id, doc) VALUES (?, jsonb(?)) ON CONFLICT (id) DO NOTHING`).run(doc._id, JSON.stringify(doc)).changes;
  };

  return {
    findOne: (filter, projection) => writes.read(() => project<T>([...matches(filter, { limit: 1 })], projection)[0] ?? null),
    find: (filter, options = {}) => writes.read(() => project<T>([...matches(filter, options)], options.projection)),
    count: (filter) =>
      writes.read(() => {
        let n = 0;
        for (const _ of matches(filter)) n++;
        return n;
      }),
    insertOnce: (doc) => writes.run(() => insert(doc) === 1),
    insertMany: (docs) => writes.run(() => docs.reduce((n, doc) => n + insert(doc), 0)),
    updateOne: (filter, update, options = {}) =>
      writes.run(() => {
        // Read to the end first: the connection runs one statement at a time.
        const [doc] = [...matches(filter, { limit: 1 })];
        if (!doc) return { doc: null };
        applyUpdate(doc, update as Update);
        if (doc._id === undefined) throw new Error(`${name}: an update removed _id`);
        assertScalarIndexedFields(doc, indexed, name);
        prepare(`UPDATE ${name} SET doc = jsonb(?) WHERE id = ?`).run(JSON.stringify(doc), doc._id);
        return { doc: project<T>([doc], options.projection ?? { _id: 1 })[0] ?? null };
      }),
    deleteMany: (filter) =>
      writes.run(() => {
        let deleted = 0;
        for (const doc of [...matches(filter)]) deleted += prepare(`DELETE FROM ${name} WHERE id = ?`).run(doc._id).changes;
        return deleted;
      }),
  };
}

/**
 * What this process asked of the database, for the benchmarks and the tests that count a
 * checkout's cost: reads, writes, commits, and how long writes waited for the lock.
 */
export interface StoreStats {
  /** Reads (on MongoDB, each one a round trip). */
  reads: number;
  /** Writes committed (on MongoDB, each one a round trip; here several share a commit when they arrive together). */
  writes: number;
  /** Transactions committed, each one sync of the WAL. */
  commits: number;
  /** Writes refused because the lock was not free within the busy timeout. */
  busy: number;
  /** Milliseconds each write waited, from its call to its group taking the lock: upper bounds of LOCK_WAIT_BUCKETS_MS. */
  lockWaitMs: number[];
}

/** Upper bounds (ms) of the lock-wait histogram; fixed, so the stats never grow. */
export const LOCK_WAIT_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, Infinity];

const STATS = Symbol.for('openfaas-shop.embedded-store-stats');
/** One per process, shared by every bundle's copy of this module (tests and benches load several). */
export const storeStats: StoreStats = ((globalThis as Record<symbol, unknown>)[STATS] ??= { reads: 0, writes: 0, commits: 0, busy: 0, lockWaitMs: LOCK_WAIT_BUCKETS_MS.map(() => 0) }) as StoreStats;

function recordWait(ms: number): void {
  const bucket = LOCK_WAIT_BUCKETS_MS.findIndex((bound) => ms <= bound);
  storeStats.lockWaitMs[bucket] = (storeStats.lockWaitMs[bucket] ?? 0) + 1;
}

const isBusy = (error: unknown) => error instanceof Database.SqliteError && /^SQLITE_(BUSY|LOCKED)/.test(error.code);
const pause = () => new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));

interface QueuedWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  queuedAt: number;
}

/**
 * A process's writes to one database, in arrival order. SQLite lets one writer in at a time,
 * across every process; this queue takes the write lock for the oldest write (BEGIN IMMEDIATE),
 * trying again every millisecond while another process holds it, and then runs every write
 * queued by that moment in the one transaction, each in a savepoint of its own (a write that
 * fails undoes only itself), and commits them together. Each caller hears of its write once the
 * commit is on disk, so an acknowledged write is as durable as with a commit of its own.
 */
export class WriteQueue {
  private readonly queue: QueuedWrite[] = [];
  private draining = false;
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly rollback: Database.Statement;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly busyTimeoutMs: number,
  ) {
    this.begin = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
  }

  run<R>(write: () => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ run: write, resolve: resolve as (value: unknown) => void, reject, queuedAt: performance.now() });
      if (!this.draining) void this.drain();
    });
  }

  /** A read: never waits for the write lock (WAL), but may meet a busy database while it recovers from a crash. */
  async read<R>(query: () => R): Promise<R> {
    const deadline = performance.now() + this.busyTimeoutMs;
    storeStats.reads++;
    for (;;) {
      try {
        return query();
      } catch (error) {
        if (!isBusy(error) || performance.now() >= deadline) throw error;
      }
      await pause();
    }
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        if (await this.lock()) this.runGroup();
        // Writes queued meanwhile wait one retry interval, as other processes' writers do: a busy
        // process does not take the lock back the moment it let go of it. They form the next group.
        if (this.queue.length > 0) await pause();
      }
    } finally {
      this.draining = false;
    }
  }

  /** Takes the write lock; false when the writes waiting gave up first (each after the busy timeout). */
  private async lock(): Promise<boolean> {
    for (;;) {
      try {
        this.begin.run();
        return true;
      } catch (error) {
        if (!isBusy(error)) {
          for (const write of this.queue.splice(0)) write.reject(error);
          return false;
        }
      }
      const expired = performance.now() - this.busyTimeoutMs;
      while (this.queue.length > 0 && (this.queue[0] as QueuedWrite).queuedAt <= expired) {
        storeStats.busy++;
        (this.queue.shift() as QueuedWrite).reject(new Database.SqliteError(`the database's write lock was not free within ${this.busyTimeoutMs} ms`, 'SQLITE_BUSY'));
      }
      if (this.queue.length === 0) return false;
      await pause();
    }
  }

  private runGroup(): void {
    const locked = performance.now();
    const group = this.queue.splice(0, MAX_GROUP);
    const outcomes = group.map((write) => {
      try {
        // Inside the open transaction, better-sqlite3 runs a transaction function as a savepoint.
        return { ok: true, value: this.db.transaction(write.run)() };
      } catch (error) {
        return { ok: false, value: error };
      }
    });
    try {
      this.commit.run();
    } catch (error) {
      if (this.db.inTransaction) this.rollback.run();
      for (const write of group) write.reject(error);
      return;
    }
    storeStats.commits++;
    group.forEach((write, i) => {
      const outcome = outcomes[i] as { ok: boolean; value: unknown };
      recordWait(locked - write.queuedAt);
      if (outcome.ok) {
        storeStats.writes++;
        write.resolve(outcome.value);
      } else {
        write.reject(outcome.value);
      }
    });
  }
}

function indexSql(table: string, spec: IndexSpec): string {
  const fields = Object.entries(spec);
  for (const [field] of fields) if (field !== '_id' && !FIELD.test(field)) throw new Error(`index field ${field} is not a plain name`);
  const name = `${table}_${fields.map(([f]) => f.replace(/^_/, '')).join('_')}`;
  return `CREATE INDEX IF NOT EXISTS ${name} ON ${table} (${fields.map(([f, d]) => `${column(f)}${d === -1 ? ' DESC' : ''}`).join(', ')})`;
}

export type IndexSpecs = Record<string, readonly IndexSpec[]>;

/** Opens (and creates, the first time) the database file with the tables and indexes of `specs`. */
function openDatabase(file: string, busyTimeoutMs: number, specs: IndexSpecs): SqliteDatabase {
  // Customers' names and addresses, queued calls' headers: the owner's only. SQLite gives the WAL
  // and shared-memory files the database file's mode; files of older versions are narrowed too.
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // The WAL is cut back to this size after checkpoints instead of keeping its largest size.
    db.pragma('journal_size_limit = 67108864');
    db.transaction(() => {
      for (const [table, indexes] of Object.entries(specs)) {
        db.exec(`CREATE TABLE IF NOT EXISTS ${table} (id TEXT NOT NULL UNIQUE, doc BLOB NOT NULL)`);
        for (const spec of indexes) db.exec(indexSql(table, spec));
      }
    }).immediate();
    // From here on a busy database is waited for by WriteQueue, off the event loop.
    db.pragma('busy_timeout = 0');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

export class LegacyDataError extends Error {
  override name = 'LegacyDataError';
}

export interface EmbeddedOptions {
  /** How long an operation waits for another process's write lock (SQLITE_BUSY_TIMEOUT_MS, 5000). */
  busyTimeoutMs?: number;
}

export function busyTimeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env.SQLITE_BUSY_TIMEOUT_MS);
  return env.SQLITE_BUSY_TIMEOUT_MS && Number.isInteger(ms) && ms >= 0 ? ms : DEFAULT_BUSY_TIMEOUT_MS;
}

/** Collections in the database of DATA_DIR, one per name of `specs`, with its indexes. */
export function openEmbeddedCollections<K extends string>(
  dataDir: string,
  specs: Record<K, readonly IndexSpec[]>,
  options: EmbeddedOptions = {},
): { collections: Record<K, Collection<{ _id: string }>>; close(): void } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const file = join(dataDir, DATABASE_FILE);
  if (!existsSync(file) && LEGACY_FILES.some((f) => existsSync(join(dataDir, f)))) {
    throw new LegacyDataError(
      `${dataDir} holds data written by an earlier version of the shop (nedb files such as products.db). ` +
        `Start the shop once with \`npm start\` (DATA_DIR=${dataDir}): it imports them into ${DATABASE_FILE}.`,
    );
  }
  const busyTimeoutMs = options.busyTimeoutMs ?? busyTimeoutFromEnv();
  const db = openDatabase(file, busyTimeoutMs, specs);
  const writes = new WriteQueue(db, busyTimeoutMs);
  const collections = Object.fromEntries(Object.entries<readonly IndexSpec[]>(specs).map(([table, indexes]) => [table, sqliteCollection(db, writes, table, indexes)]));
  return { collections: collections as Record<K, Collection<{ _id: string }>>, close: () => db.close() };
}

export async function openEmbeddedStore(dataDir: string, options: EmbeddedOptions = {}): Promise<ShopStore> {
  const { collections, close } = openEmbeddedCollections(dataDir, SHOP_INDEXES, options);
  return new DocumentStore(collections as unknown as ShopCollections, async () => close());
}

/**
 * Writes documents straight into a new database file in `dataDir`, all or nothing (an import
 * that dies half-way leaves nothing behind, and runs again on the next start).
 */
export function createDatabaseFrom(dataDir: string, docs: Partial<Record<keyof ShopCollections, Doc[]>>): void {
  const file = join(dataDir, DATABASE_FILE);
  const building = `${file}.importing`;
  for (const leftover of [building, `${building}-wal`, `${building}-shm`]) rmSync(leftover, { force: true });
  const db = openDatabase(building, DEFAULT_BUSY_TIMEOUT_MS, SHOP_INDEXES);
  try {
    db.transaction(() => {
      for (const table of Object.keys(SHOP_INDEXES) as (keyof ShopCollections)[]) {
        const insert = db.prepare(`INSERT INTO ${table} (id, doc) VALUES (?, jsonb(?)) ON CONFLICT (id) DO NOTHING`);
        for (const doc of docs[table] ?? []) insert.run(doc._id, JSON.stringify(doc));
      }
    }).immediate();
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  renameSync(building, file);
}
