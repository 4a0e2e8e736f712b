/** stack.yml as faas-cli reads it, against what faas-cli and OpenFaaS CE accept. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, functionNames } from '../runtime/build';
import { parseStack, readStack, substituteEnv } from '../runtime/stack';

const STACK = join(ROOT, 'stack.yml');

describe('stack.yml', () => {
  const stack = readStack(STACK, {});

  it('substitutes ${VAR} and ${VAR:-default} like faas-cli', () => {
    expect(substituteEnv('${A}|${B:-two}|${C:-three}|${D}', { A: 'one', C: 'x' })).toBe('one|two|x|');
    expect(readStack(STACK, { REGISTRY: 'reg.local:5000', TAG: '9.9.9' }).functions['cart-add']?.image).toBe('reg.local:5000/shop-cart-add:9.9.9');
  });

  // Not a loopback name: OpenFaaS CE HEADs each image from inside the faas-netes pod.
  it('defaults to the VM 2 gateway and the registry at VM 2’s LAN address', () => {
    expect(stack.provider.gateway).toBe('http://192.168.122.11:31112');
    for (const [name, fn] of Object.entries(stack.functions)) expect(fn.image).toMatch(new RegExp(`^192\\.168\\.122\\.11:5000/shop-${name}:\\d+\\.\\d+\\.\\d+$`));
  });

  it('declares every function of functions/, with lang node20 and its bundle as handler', () => {
    expect(Object.keys(stack.functions).sort()).toEqual(functionNames());
    for (const [name, fn] of Object.entries(stack.functions)) {
      expect(fn.lang).toBe('node20');
      expect(fn.handler).toBe(`./dist/functions/${name}`);
      expect(existsSync(join(ROOT, fn.handler, 'handler.js'))).toBe(true);
      expect(existsSync(join(ROOT, fn.handler, 'package.json'))).toBe(true);
    }
  });

  it('runs every function with RAW_BODY so that bad JSON gets a JSON error', () => {
    for (const fn of Object.values(stack.functions)) expect(fn.environment?.RAW_BODY).toBe('true');
  });

  it('mounts the token secrets exactly where the functions check them, and no secret in environment', () => {
    const secrets = (name: string) => stack.functions[name]?.secrets ?? [];
    for (const name of ['inventory-reserve', 'inventory-release', 'order-create', 'order-cancel']) expect(secrets(name)).toContain('shop-internal-token');
    expect(secrets('inventory-restock')).toContain('shop-admin-token');
    for (const fn of Object.values(stack.functions)) {
      expect(fn.secrets).toContain('mongo-url');
      expect(Object.keys(fn.environment ?? {}).filter((k) => /token|password|secret|mongo/i.test(k))).toEqual([]);
    }
  });

  it('takes the node22 template as the local runtime runs it (node20’s contract), and refuses a template it cannot run', () => {
    const base = readFileSync(STACK, 'utf8');
    expect(parseStack(base.replace(/lang: node20/g, 'lang: node22'), {}).functions['cart-add']?.lang).toBe('node22');
    expect(() => parseStack(base.replace('lang: node20', 'lang: python3'), {})).toThrow(/runs the node20 and node22 templates, not python3/);
  });

  it('rejects what OpenFaaS CE refuses', () => {
    const base = readFileSync(STACK, 'utf8');
    expect(() => parseStack(base.replace('com.openfaas.scale.max: "5"', 'com.openfaas.scale.max: "10"'), {})).toThrow(/1\.\.5/);
    expect(() => parseStack(base.replace('com.openfaas.scale.min: "1"', 'com.openfaas.scale.zero: "true"'), {})).toThrow(/rejects/);
    expect(() => parseStack(base.replace('${REGISTRY:-192.168.122.11:5000}/shop-cart-add', 'shop-cart-add'), {})).toThrow(/must contain a \//);
    expect(() => parseStack(base.replace('  cart-add:', '  Cart_Add:'), {})).toThrow(/function name/);
    const sixteen = Array.from({ length: 3 }, (_, i) => `  extra-${i}:\n    lang: node20\n    handler: ./x\n    image: r/x:1\n`).join('');
    expect(() => parseStack(`${base}${sixteen}`, {})).toThrow(/at most 15/);
  });
});
