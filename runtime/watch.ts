/**
 * What `npm start` watches, and what a save means for the bundles.
 *
 * functions/, core/, frontend/ and stack.yml are watched folder by folder, so every save is seen,
 * including an editor's save by rename (write a temporary file, rename it over the old one):
 * Node 20's recursive fs.watch watches each file and loses a file replaced that way after its
 * first save, and chokidar 4 reports ready before its watches of nested folders are in place (a
 * save right after is missed). Events are gathered until the files have been quiet for `quietMs` (a save is several
 * events), then become a plan: the bundles whose inputs, as esbuild last told them, include a
 * changed file; a function's bundle when its handler.ts appears or goes; every bundle whose last
 * build failed (the save may be its fix); the storefront when its views or stylesheet change;
 * and whether stack.yml changed.
 */
import { existsSync, readdirSync, statSync, watch, type Dirent, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { STOREFRONT_ASSETS, STOREFRONT_BUNDLE, functionBundle, type Bundle, type BundleResult } from './build';
import type { FileEvent } from './typecheck';

export const WATCHED = ['functions', 'core', 'frontend', 'stack.yml'];

/** Editors' side files (vim's swap and probe files, emacs' locks, backups) and tests (no bundle's input). */
const IGNORED = /(^|\/)(node_modules|\.git)(\/|$)|(^|\/)\.#|~$|\.sw[a-p]x?$|(^|\/)4913$|\.test\.ts$/;
const HANDLER = /^functions\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/handler\.ts$/;

export interface Watcher {
  close(): Promise<void>;
}

/**
 * Calls `onBatch` with the files that changed, once they have been quiet for `quietMs`, and when
 * the first of them changed. Every folder is watched on its own (inotify reports its files'
 * writes, creations, removals and renames by name), set up before this resolves.
 */
export function watchFiles(root: string, onBatch: (events: FileEvent[], since: number) => void, quietMs = 100): Watcher {
  const folders = new Map<string, FSWatcher>();
  const files = new Set<string>();
  const pending = new Map<string, FileEvent['kind']>();
  let timer: NodeJS.Timeout | undefined;
  let since = 0;

  const record = (file: string, kind: FileEvent['kind']) => {
    if (pending.size === 0) since = Date.now();
    const before = pending.get(file);
    // Created then written is a creation; deleted then created again (a save by rename) a change.
    pending.set(file, before === 'add' && kind === 'change' ? 'add' : before === 'unlink' && kind === 'add' ? 'change' : kind);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const events = [...pending].map(([path, k]) => ({ path, kind: k }));
      pending.clear();
      onBatch(events, since);
    }, quietMs);
  };

  /** What a name in a watched folder is now: a file written, created or gone, or a folder to watch. */
  const look = (path: string) => {
    if (IGNORED.test(path)) return;
    let isFolder: boolean;
    try {
      isFolder = statSync(join(root, path)).isDirectory();
    } catch {
      if (files.delete(path)) return record(path, 'unlink');
      // A folder gone: its watches end, its files are gone.
      for (const [folder, watcher] of folders) {
        if (folder !== path && !folder.startsWith(`${path}/`)) continue;
        watcher.close();
        folders.delete(folder);
      }
      for (const file of [...files].filter((f) => f.startsWith(`${path}/`))) {
        files.delete(file);
        record(file, 'unlink');
      }
      return;
    }
    if (isFolder) return watchFolder(path, false);
    record(path, files.has(path) ? 'change' : 'add');
    files.add(path);
  };

  const watchFolder = (path: string, initial: boolean) => {
    if (folders.has(path)) return;
    let entries: Dirent[];
    try {
      entries = readdirSync(join(root, path), { withFileTypes: true });
    } catch {
      return;
    }
    const watcher = watch(join(root, path), (_event, name) => name && look(`${path}/${name}`));
    watcher.on('error', () => (watcher.close(), folders.delete(path)));
    folders.set(path, watcher);
    for (const entry of entries) {
      const child = `${path}/${entry.name}`;
      if (IGNORED.test(child)) continue;
      if (entry.isDirectory()) watchFolder(child, initial);
      else if (initial) files.add(child);
      else look(child);
    }
  };

  // The root itself only for the names watched (stack.yml is saved by rename too, and folders may come later).
  const top = watch(root, (_event, name) => name && WATCHED.includes(name) && look(name));
  for (const name of WATCHED) {
    if (!existsSync(join(root, name))) continue;
    if (statSync(join(root, name)).isDirectory()) watchFolder(name, true);
    else files.add(name);
  }
  return {
    async close() {
      clearTimeout(timer);
      top.close();
      for (const watcher of folders.values()) watcher.close();
      folders.clear();
    },
  };
}

export interface Plan {
  bundles: Bundle[];
  /** The storefront's views or stylesheet changed: it restarts even if its bundle did not. */
  assets: boolean;
  stack: boolean;
}

/** Each bundle's inputs as its last build told them, and which bundles last failed to build. */
export class BundleInputs {
  private readonly inputs = new Map<string, { bundle: Bundle; files: Set<string> }>();
  private readonly failed = new Map<string, Bundle>();

  /** From the inputs the last builds recorded (runtime/build.ts); returns the bundles it knows nothing of. */
  constructor(bundles: Bundle[], recorded: Record<string, string[]>) {
    this.unknown = bundles.filter((bundle) => {
      const files = recorded[bundle.id];
      if (files) this.inputs.set(bundle.id, { bundle, files: new Set(files) });
      return !files;
    });
  }

  /** The bundles whose inputs no build recorded: to build once to learn them. */
  readonly unknown: Bundle[];

  record(result: BundleResult): void {
    const { bundle } = result;
    if (result.inputs) this.inputs.set(bundle.id, { bundle, files: new Set(result.inputs) });
    if (result.ok) this.failed.delete(bundle.id);
    else this.failed.set(bundle.id, bundle);
  }

  inputsOf(id: string): ReadonlySet<string> {
    return this.inputs.get(id)?.files ?? new Set();
  }

  plan(events: FileEvent[]): Plan {
    const bundles = new Map<string, Bundle>([...this.failed]);
    let assets = false;
    let stack = false;
    for (const { path } of events) {
      if (path === 'stack.yml') stack = true;
      if (STOREFRONT_ASSETS.some((dir) => path.startsWith(`${dir}/`))) {
        assets = true;
        bundles.set(STOREFRONT_BUNDLE.id, STOREFRONT_BUNDLE);
      }
      const handler = HANDLER.exec(path);
      if (handler) bundles.set(`functions/${handler[1]}`, functionBundle(handler[1] as string));
      for (const [id, { bundle, files }] of this.inputs) if (files.has(path)) bundles.set(id, bundle);
    }
    return { bundles: [...bundles.values()], assets, stack };
  }
}
