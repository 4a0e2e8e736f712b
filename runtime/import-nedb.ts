/**
 * A data directory written by the version before this one (@seald-io/nedb, one file per
 * collection) is imported into the SQLite store on the first start, once: read with nedb itself
 * (its own reading of its format), written all at once, and the old files kept aside in
 * DATA_DIR/nedb-imported/. The documents keep their shapes; what the data model changed since
 * (holds of confirmed orders, carts without a change date) the sweep moves on (core/sweep.ts).
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE_FILE, LEGACY_FILES, createDatabaseFrom } from '../core/store/embedded';

const IMPORTED_DIR = 'nedb-imported';
const WAIT_FOR_OTHER_IMPORT_MS = 60_000;

export async function importNedbData(dataDir: string, log: (line: string) => void = () => {}): Promise<boolean> {
  const present = LEGACY_FILES.filter((f) => existsSync(join(dataDir, f)));
  if (existsSync(join(dataDir, DATABASE_FILE)) || present.length === 0) return false;
  const lock = join(dataDir, 'import.lock');
  try {
    closeSync(openSync(lock, 'wx'));
  } catch {
    // Another runtime on this directory is importing it: wait for its database.
    const until = Date.now() + WAIT_FOR_OTHER_IMPORT_MS;
    while (!existsSync(join(dataDir, DATABASE_FILE))) {
      if (Date.now() > until) throw new Error(`${lock} has been there for a minute; if no other npm start is importing ${dataDir}, delete it`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }
  try {
    const { default: Datastore } = await import('@seald-io/nedb');
    const docs: Record<string, { _id: string }[]> = {};
    for (const file of present) {
      const datastore = new Datastore<{ _id: string }>({ filename: join(dataDir, file) });
      await datastore.loadDatabaseAsync();
      docs[file.replace(/\.db$/, '')] = datastore.getAllData();
    }
    createDatabaseFrom(dataDir, docs);
    mkdirSync(join(dataDir, IMPORTED_DIR), { recursive: true });
    for (const file of [...present, 'LOCK']) if (existsSync(join(dataDir, file))) renameSync(join(dataDir, file), join(dataDir, IMPORTED_DIR, file));
    const counts = Object.entries(docs).map(([name, list]) => `${list.length} ${name}`);
    log(`imported the nedb data of an earlier version into ${DATABASE_FILE} (${counts.join(', ')}); the old files are in ${join(dataDir, IMPORTED_DIR)}`);
    return true;
  } finally {
    rmSync(lock, { force: true });
  }
}
