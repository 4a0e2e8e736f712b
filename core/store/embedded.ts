/**
 * The embedded store: @seald-io/nedb, one append-only file per collection in DATA_DIR.
 * nedb runs its operations one at a time, so each conditional update is atomic. Its query
 * dialect differs from MongoDB's in places (`$ne` on arrays, `$regex` strings,
 * unique-violation errors); document-store.ts sticks to the part both agree on.
 *
 * Only one process may open a data directory: two writers on one file corrupt it, so a
 * lock file holds the owner's pid.
 */
import Datastore from '@seald-io/nedb';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Collection } from './collection';
import { DocumentStore, type CartDoc, type MovementDoc, type OrderDoc, type ProductDoc, type ReservationDoc } from './document-store';
import type { ShopStore } from './store';

const COMPACT_EVERY_MS = 10 * 60_000;

function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes DATA_DIR/LOCK for this process; a lock left by a dead process is taken over. */
function lockDataDir(dir: string): () => void {
  const lockPath = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(lockPath, 'utf8'));
      if (owner === process.pid || (Number.isInteger(owner) && owner > 0 && pidIsAlive(owner))) {
        throw new Error(`The data directory ${dir} is in use by process ${owner}; stop it or set another DATA_DIR`, { cause: error });
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`Could not lock the data directory ${dir}`);
}

function collection<T extends { _id: string }>(db: Datastore<T>): Collection<T> {
  return {
    findOne: async (filter, projection) => ((await db.findOneAsync(filter, projection ?? {})) as unknown as T | null) ?? null,
    find: async (filter, options = {}) => {
      let cursor = db.findAsync(filter, options.projection ?? {});
      if (options.sort) cursor = cursor.sort(options.sort);
      if (options.limit !== undefined) cursor = cursor.limit(options.limit);
      return (await cursor) as unknown as T[];
    },
    count: async (filter) => (await db.countAsync(filter)) as unknown as number,
    insertOnce: async (doc) => {
      try {
        await db.insertAsync(doc);
        return true;
      } catch (error) {
        if ((error as { errorType?: string }).errorType === 'uniqueViolated') return false;
        throw error;
      }
    },
    updateOne: async (filter, update, options = {}) => {
      const result = await db.updateAsync(filter, update, { upsert: options.upsert ?? false, returnUpdatedDocs: true });
      return { doc: (result.affectedDocuments as T | null) ?? null, upserted: result.upsert === true };
    },
    deleteMany: (filter) => db.removeAsync(filter, { multi: true }),
  };
}

export async function openEmbeddedStore(dataDir: string): Promise<ShopStore> {
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  const files: Datastore[] = [];
  try {
    const open = async <T extends { _id: string }>(name: string, indexes: string[] = []) => {
      const db = new Datastore<T>({ filename: join(dataDir, `${name}.db`) });
      await db.loadDatabaseAsync();
      for (const fieldName of indexes) await db.ensureIndexAsync({ fieldName });
      db.setAutocompactionInterval(COMPACT_EVERY_MS);
      files.push(db as unknown as Datastore);
      return collection(db);
    };
    const collections = {
      products: await open<ProductDoc>('products', ['name']),
      movements: await open<MovementDoc>('movements', ['productId', 'orderId']),
      carts: await open<CartDoc>('carts'),
      orders: await open<OrderDoc>('orders', ['shopperId', 'status', 'createdAt']),
      reservations: await open<ReservationDoc>('reservations', ['status']),
    };
    return new DocumentStore(collections, async () => {
      for (const db of files) {
        db.stopAutocompaction();
        await db.compactDatafileAsync();
      }
      unlock();
    });
  } catch (error) {
    for (const db of files) db.stopAutocompaction();
    unlock();
    throw error;
  }
}
