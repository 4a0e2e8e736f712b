/** The watch's type checker, a process of its own, told of saves: each answer is about the files as saved. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './build';
import { TypeChecker, type FileEvent } from './typecheck';

let root: string;
let checker: TypeChecker;
const write = (path: string, text: string): FileEvent => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  return { path, kind: 'change' };
};
const ROOTS = ['functions/hello/handler.ts'];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'shop-typecheck-'));
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  write('tsconfig.json', JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'preserve', moduleResolution: 'bundler', target: 'ES2022', skipLibCheck: true } }));
  write('core/greet.ts', `export const greet = (who: string): string => 'hello ' + who;\n`);
  write('functions/hello/handler.ts', `import { greet } from '../../core/greet';\nexport const answer: string = greet('you');\n`);
  write('functions/hello/handler.test.ts', `const broken: number = 'tests are not checked here';\n`);
  checker = TypeChecker.start(root, ROOTS);
});
afterAll(async () => {
  await checker.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('the type checker', () => {
  it('finds no error in what ships (tests are npm test’s to check)', async () => {
    expect(await checker.check([], ROOTS)).toEqual([]);
  });

  it('answers with each error’s file, line and column once a save makes one, and with none once fixed', async () => {
    const broken = write('core/greet.ts', `export const greet = (who: string): number => who.length;\n`);
    expect(await checker.check([broken], ROOTS)).toEqual([{ where: 'functions/hello/handler.ts:2:14', text: expect.stringMatching(/^TS2322: Type 'number' is not assignable to type 'string'/) }]);
    const fixed = write('core/greet.ts', `export const greet = (who: string): string => 'hi ' + who;\n`);
    expect(await checker.check([fixed], ROOTS)).toEqual([]);
  });

  it('follows a new file and a new root', async () => {
    const created = write('functions/bye/handler.ts', `import { missing } from './helper';\nexport const bye: string = missing;\n`);
    const roots = [...ROOTS, 'functions/bye/handler.ts'];
    expect((await checker.check([{ ...created, kind: 'add' }], roots))?.map((p) => p.where)).toEqual(['functions/bye/handler.ts:1:25']);
    const helper = write('functions/bye/helper.ts', `export const missing = 'found';\n`);
    expect(await checker.check([{ ...helper, kind: 'add' }], roots)).toEqual([]);
  });
});
