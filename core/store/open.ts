/**
 * Picks and opens the store: MongoDB when the `mongo-url` secret (or MONGO_URL) is set,
 * else the embedded store in DATA_DIR (default ./data).
 *
 * One store per process and target, reused by every call (one MongoClient per replica). The
 * registry lives on globalThis because every function bundle carries its own copy of this
 * module, and a process that loads several (tests, the benches) must still share one.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { shopError } from '../errors';
import { SECRET_NAMES, readSecret } from '../secrets';
import type { Collection, IndexSpec } from './collection';
import type { ShopStore } from './store';

const REGISTRY = Symbol.for('openfaas-shop.stores');
type Registry = Map<string, Promise<ShopStore>>;
const registry = ((globalThis as Record<symbol, unknown>)[REGISTRY] ??= new Map()) as Registry;
/** Set by the local runtime's replicas when fault injection is on (runtime/replica.ts). */
const WRAPPER = Symbol.for('openfaas-shop.store-wrapper');

export interface StoreTarget {
  kind: 'mongo' | 'embedded';
  /** The connection string or the absolute data directory. */
  location: string;
}

export function storeTarget(): StoreTarget {
  const url = readSecret(SECRET_NAMES.mongoUrl) ?? process.env.MONGO_URL;
  if (url) return { kind: 'mongo', location: url };
  return { kind: 'embedded', location: resolve(process.env.DATA_DIR || './data') };
}

const keyOf = (target: StoreTarget) => `${target.kind}:${target.location}`;

export function openStore(target: StoreTarget = storeTarget()): Promise<ShopStore> {
  const key = keyOf(target);
  let store = registry.get(key);
  if (!store) {
    const wrap = (globalThis as Record<symbol, unknown>)[WRAPPER] as ((s: ShopStore) => ShopStore) | undefined;
    store = wrap ? connect(target).then(wrap) : connect(target);
    registry.set(key, store);
    // A failed open is not cached: the next call tries again (the database may be back).
    store.catch(() => registry.delete(key));
  }
  return store;
}

async function connect(target: StoreTarget): Promise<ShopStore> {
  if (target.kind === 'mongo') {
    const { openMongoStore } = await import('./mongo');
    return openMongoStore(target.location, process.env.MONGO_DB || undefined);
  }
  let embedded: typeof import('./embedded');
  try {
    embedded = await import('./embedded');
  } catch (error) {
    // In a function's image there is no embedded store (its engine is not bundled): MongoDB is required.
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') throw shopError(503, 'NOT_CONFIGURED', 'The mongo-url secret is not mounted, and the embedded store runs only in the local runtime');
    throw error;
  }
  // A replica of the local runtime opens the database npm start created: if it is gone (deleted while
  // the shop ran), a new empty one would split the shop's data, so the replica says so instead.
  const file = join(target.location, embedded.DATABASE_FILE);
  if (process.env.SHOP_DATABASE_MUST_EXIST === '1' && !existsSync(file)) {
    throw Object.assign(new Error(`${file} does not exist: it was deleted while the shop ran`), { code: 'ENOENT', syscall: 'open', path: file });
  }
  return embedded.openEmbeddedStore(target.location);
}

/**
 * Collections of the store's database for the local runtime's own records (its queue of async
 * calls), beside the shop's, with the same semantics and durability.
 */
export async function openCollections<K extends string>(target: StoreTarget, specs: Record<K, readonly IndexSpec[]>): Promise<{ collections: Record<K, Collection<{ _id: string }>>; close(): Promise<void> }> {
  if (target.kind === 'mongo') {
    const { openMongoCollections } = await import('./mongo');
    return openMongoCollections(target.location, process.env.MONGO_DB || undefined, specs);
  }
  const { openEmbeddedCollections } = await import('./embedded');
  const opened = openEmbeddedCollections(target.location, specs);
  return { collections: opened.collections, close: async () => opened.close() };
}

/** Closes every store this process opened (clean shutdown, tests). */
export async function closeStores(): Promise<void> {
  const open = [...registry.values()];
  registry.clear();
  await Promise.all(open.map(async (s) => (await s.catch(() => undefined))?.close()));
}
