/**
 * Type checking for `npm start`'s watch: esbuild strips types without checking them, so a save
 * that builds may still not type-check, and then it must not roll out. TypeScript checks in a
 * process of its own (its work never stalls the gateway's event loop), keeping its program
 * between saves: the first check reads everything (about 10 s and 350-450 MB on 2 cores), each
 * later one only what a change affects (a handler: 0.1-0.5 s; a core/ file whose exports change:
 * every file importing it, seconds). It is told the same file events as the build, so its
 * verdict is about the files the bundles were built from; it checks what ships (each function's
 * handler and the storefront, and what they import), not the tests: `npm test` does.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join, relative } from 'node:path';
import type * as TS from 'typescript';
import type { Problem } from './build';

export type FileEvent = { path: string; kind: 'add' | 'change' | 'unlink' };
type Request = { type: 'check'; id: number; events: FileEvent[]; roots: string[] };
type Reply = { type: 'checked'; id: number; problems: Problem[] } | { type: 'unavailable'; reason: string };

/** The runtime's side: a checker process, asked one check at a time. */
export class TypeChecker {
  private nextId = 0;
  private readonly pending = new Map<number, (problems: Problem[] | undefined) => void>();
  private unavailable?: string;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: Reply) => {
      if (reply.type === 'unavailable') return this.giveUp(reply.reason);
      this.pending.get(reply.id)?.(reply.problems);
      this.pending.delete(reply.id);
    });
    child.once('exit', () => this.giveUp('the type checker stopped'));
  }

  private giveUp(reason: string): void {
    this.unavailable ??= reason;
    for (const resolve of this.pending.values()) resolve(undefined);
    this.pending.clear();
  }

  /** Starts checking `roots` (paths relative to `root`) at once, in the background. */
  static start(root: string, roots: string[]): TypeChecker {
    const child = fork(__filename, [root], { cwd: root, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const checker = new TypeChecker(child);
    void checker.check([], roots);
    return checker;
  }

  /** Why checks are skipped (TypeScript missing: a production install), if they are. */
  get skipped(): string | undefined {
    return this.unavailable;
  }

  /** The type errors once these events are seen, or undefined when no check could run. */
  check(events: FileEvent[], roots: string[]): Promise<Problem[] | undefined> {
    if (this.unavailable || !this.child.connected) return Promise.resolve(undefined);
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ type: 'check', id, events, roots } satisfies Request);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill();
    await exited;
  }
}

// ---- the checker process ----------------------------------------------------------------------

/**
 * TypeScript's watch program with its file system events replaced by ours: its watchers are
 * recorded and called for the events the runtime sends, and its timers (the debounce before a
 * new program) run when a check asks for the program, so each answer is about those events.
 */
function runChecker(root: string): void {
  let ts: typeof TS;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional: a production install has no typescript
    ts = require('typescript') as typeof TS;
  } catch {
    process.send?.({ type: 'unavailable', reason: 'typescript is not installed (npm ci without --omit=dev installs it)' } satisfies Reply);
    return;
  }
  const fileWatchers = new Map<string, Set<TS.FileWatcherCallback>>();
  const dirWatchers = new Map<string, Set<{ callback: TS.DirectoryWatcherCallback; recursive: boolean }>>();
  const timers = new Map<number, () => void>();
  let timerIds = 0;
  const add = <K, V>(map: Map<K, Set<V>>, key: K, value: V) => {
    const set = map.get(key) ?? map.set(key, new Set()).get(key);
    set?.add(value);
    return { close: () => void set?.delete(value) };
  };
  const system: TS.System = {
    ...ts.sys,
    watchFile: (path, callback) => add(fileWatchers, path, callback),
    watchDirectory: (path, callback, recursive) => add(dirWatchers, path, { callback, recursive: !!recursive }),
    setTimeout: (callback: (...args: unknown[]) => void, _ms: number, ...args: unknown[]) => {
      const id = ++timerIds;
      timers.set(id, () => callback(...args));
      return id;
    },
    clearTimeout: (id: unknown) => void timers.delete(id as number),
  };
  const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  // The test runner's types are for tests, which ship nowhere.
  const options: TS.CompilerOptions = { ...config?.options, types: ['node'], noEmit: true };
  let roots: string[] = [];
  let program: TS.WatchOfFilesAndCompilerOptions<TS.SemanticDiagnosticsBuilderProgram> | undefined;

  const fire = (event: FileEvent) => {
    const path = join(root, event.path);
    const kind = { add: ts.FileWatcherEventKind.Created, change: ts.FileWatcherEventKind.Changed, unlink: ts.FileWatcherEventKind.Deleted }[event.kind];
    for (const callback of fileWatchers.get(path) ?? []) callback(path, kind);
    for (let dir = dirname(path), parent = true; dir !== dirname(dir); dir = dirname(dir), parent = false) {
      for (const watcher of dirWatchers.get(dir) ?? []) if (parent || watcher.recursive) watcher.callback(path);
    }
  };
  const where = (d: TS.Diagnostic) => {
    if (!d.file || d.start === undefined) return '';
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${relative(root, d.file.fileName)}:${line + 1}:${character + 1}`;
  };

  process.on('message', (request: Request) => {
    const wanted = request.roots.map((r) => join(root, r)).sort();
    if (!program) {
      roots = wanted;
      program = ts.createWatchProgram(ts.createWatchCompilerHost(roots, options, system, ts.createSemanticDiagnosticsBuilderProgram, () => {}, () => {}));
    } else if (wanted.join('\n') !== roots.join('\n')) {
      roots = wanted;
      program.updateRootFileNames(roots);
    }
    for (const event of request.events) fire(event);
    for (const [id, run] of timers) {
      timers.delete(id);
      run();
    }
    const builder = program.getProgram();
    const diagnostics = [...builder.getOptionsDiagnostics(), ...builder.getGlobalDiagnostics(), ...builder.getSyntacticDiagnostics(), ...builder.getSemanticDiagnostics()];
    const problems = diagnostics
      .filter((d) => d.category === ts.DiagnosticCategory.Error)
      .map((d) => ({ where: where(d), text: `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n    ')}` }));
    process.send?.({ type: 'checked', id: request.id, problems } satisfies Reply);
  });
  process.once('disconnect', () => process.exit(0));
}

if (require.main === module) runChecker(process.argv[2] as string);
