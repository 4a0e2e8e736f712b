/**
 * The deployment files, checked with the real tools Debian has (.ci/run installs them):
 * shellcheck on every script, `netplan generate` on every netplan file, and every YAML file
 * parses. What cannot run here (k3s, faas-cli, Docker, MongoDB) is checked by shape.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from '../runtime/build';
import { readStack } from '../runtime/stack';

const SKIP = new Set(['node_modules', 'dist', 'build', 'data', '.git', '.secrets', 'template']);
function files(dir: string, match: RegExp): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = join(dir, entry);
    if (SKIP.has(entry)) return [];
    if (statSync(full).isDirectory()) return files(full, match);
    return match.test(entry) ? [full] : [];
  });
}

describe('shell scripts', () => {
  const scripts = files(ROOT, /\.sh$/);

  it('exist for VM 2 and VM 3', () => {
    expect(scripts.map((f) => relative(ROOT, f)).sort()).toEqual(expect.arrayContaining(['k3s/install-k3s.sh', 'k3s/install-openfaas.sh', 'k3s/scale.sh', 'mongodb/backup.sh']));
  });

  it.each(scripts.map((f) => [relative(ROOT, f), f]))('%s passes shellcheck -S warning and is executable', (_name, file) => {
    const result = spawnSync('shellcheck', ['-S', 'warning', '-x', file], { encoding: 'utf8', cwd: ROOT });
    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(statSync(file).mode & 0o111).not.toBe(0);
  });
});

describe('netplan', () => {
  const vms = [
    ['vm1-frontend.yaml', '192.168.122.10'],
    ['vm2-backend.yaml', '192.168.122.11'],
    ['vm3-database.yaml', '192.168.122.12'],
  ];

  it.each(vms)('%s generates a static %s with the NAT gateway, without errors or warnings', (file, address) => {
    const root = mkdtempSync(join(tmpdir(), 'netplan-'));
    try {
      mkdirSync(join(root, 'etc', 'netplan'), { recursive: true });
      // Installed with mode 0600 as the README says; 0644 only warns, and warnings fail this test.
      writeFileSync(join(root, 'etc', 'netplan', '01-shop.yaml'), readFileSync(join(ROOT, 'netplan', file)), { mode: 0o600 });
      const result = spawnSync('netplan', ['generate', '--root-dir', root], { encoding: 'utf8' });
      expect(result.error).toBeUndefined();
      expect(`${result.stdout}${result.stderr}`).not.toMatch(/WARNING|ERROR/i);
      expect(result.status).toBe(0);
      const networkDir = join(root, 'run', 'systemd', 'network');
      const unit = readFileSync(join(networkDir, readdirSync(networkDir).find((f) => f.endsWith('.network')) as string), 'utf8');
      expect(unit).toContain(`Address=${address}/24`);
      expect(unit).toMatch(/\[Route\]\nDestination=0\.0\.0\.0\/0\nGateway=192\.168\.122\.1/);
      expect(unit).toContain('DNS=192.168.122.1');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('fails on a broken file, so the check above can fail', () => {
    const root = mkdtempSync(join(tmpdir(), 'netplan-'));
    mkdirSync(join(root, 'etc', 'netplan'), { recursive: true });
    const broken = readFileSync(join(ROOT, 'netplan', 'vm1-frontend.yaml'), 'utf8').replace('192.168.122.10/24', '192.168.122.300/24');
    writeFileSync(join(root, 'etc', 'netplan', '01-shop.yaml'), broken, { mode: 0o600 });
    const result = spawnSync('netplan', ['generate', '--root-dir', root], { encoding: 'utf8' });
    rmSync(root, { recursive: true, force: true });
    expect(result.status).not.toBe(0);
  });
});

describe('YAML files', () => {
  it.each(files(ROOT, /\.ya?ml$/).map((f) => [relative(ROOT, f), f]))('%s parses', (_name, file) => {
    const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
    for (const doc of docs) expect(doc.errors).toEqual([]);
  });

  it('MongoDB runs with authentication, a persistent volume and the container name the README uses', () => {
    const compose = parse(readFileSync(join(ROOT, 'mongodb', 'docker-compose.yml'), 'utf8'));
    const mongo = compose.services.mongo;
    expect(mongo.container_name).toBe('mongo-db');
    expect(mongo.command).toContain('--auth');
    expect(mongo.volumes).toContain('mongo-data:/data/db');
    expect(mongo.environment.MONGO_INITDB_ROOT_PASSWORD).toMatch(/:\?/);
    expect(readFileSync(join(ROOT, 'mongodb', 'init', '01-shop-user.js'), 'utf8')).toMatch(/role: 'readWrite', db: 'shopdb'/);
  });

  it('the OpenFaaS values give CE a NodePort gateway on 31112 with basic auth', () => {
    const values = parse(readFileSync(join(ROOT, 'k3s', 'openfaas-values.yaml'), 'utf8'));
    expect(values).toMatchObject({ functionNamespace: 'openfaas-fn', generateBasicAuth: true, serviceType: 'NodePort', gateway: { nodePort: 31112 } });
  });
});

describe('README', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

  it('documents every secret stack.yml mounts', () => {
    const secrets = new Set(Object.values(readStack(join(ROOT, 'stack.yml'), {}).functions).flatMap((f) => f.secrets ?? []));
    for (const secret of secrets) expect(readme).toContain(`\`${secret}\``);
  });

  it('names only scripts and files that exist', () => {
    const named = [...readme.matchAll(/(?<![\w/.])((?:k3s|mongodb|netplan|seed|frontend|runtime|core|bench|test|docs\/screenshots)\/[\w./-]+\.(?:sh|yaml|yml|js|json|ts|conf|png))\b/g)].map((m) => m[1] as string);
    expect(named.length).toBeGreaterThan(5);
    for (const path of new Set(named)) expect(() => statSync(join(ROOT, path))).not.toThrow();
  });

  it('gives npm run deploy as build then faas-cli up', () => {
    const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts;
    expect(scripts.deploy).toBe('npm run build && faas-cli up -f stack.yml');
    expect(execFileSync('git', ['ls-files', 'mongodb/.env'], { cwd: ROOT, encoding: 'utf8' })).toBe('');
  });
});
