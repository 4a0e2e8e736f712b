/**
 * The security of the deployment files, read where they cannot run here (k3s, Docker, ufw,
 * iptables and Helm are not on this machine; shellcheck runs on every script in deploy.test.ts):
 * what each script installs is pinned and checked, no secret is put on a command line, the
 * registry and MongoDB listen only where they must, the firewalls survive a reboot and cover
 * IPv6, and the storefront's image never sees secrets or data.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../runtime/build';
import { readGuard, type Packet } from './support/raw-guard';

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
/** The script without its comment lines: what it runs. */
const code = (path: string) =>
  read(path)
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
const scripts = ['k3s/common.sh', 'k3s/install-k3s.sh', 'k3s/install-registry.sh', 'k3s/install-openfaas.sh', 'k3s/install-scaler.sh', 'k3s/create-secrets.sh', 'k3s/scale.sh', 'k3s/firewall.sh', 'mongodb/backup.sh', 'mongodb/firewall.sh', 'frontend/create-secrets.sh', 'frontend/make-tls-cert.sh'];

describe('what the install scripts download', () => {
  it('is never piped into a shell, and comes from pinned versions', () => {
    for (const script of scripts) expect([script, /\|\s*(sudo\s+)?(ba)?sh\b/.test(code(script))]).toEqual([script, false]);
    const common = code('k3s/common.sh');
    for (const name of ['K3S_VERSION', 'HELM_VERSION', 'FAAS_CLI_VERSION', 'OPENFAAS_CHART_VERSION', 'CRON_CONNECTOR_CHART_VERSION']) {
      expect(common).toMatch(new RegExp(`${name}="\\$\\{${name}:-v?\\d+\\.\\d+\\.\\d+[^}]*\\}"`));
    }
    expect(code('k3s/install-k3s.sh')).toContain('https://raw.githubusercontent.com/k3s-io/k3s/${K3S_VERSION}/install.sh');
    expect(code('k3s/install-k3s.sh')).toContain('INSTALL_K3S_VERSION="$K3S_VERSION"');
    expect(code('k3s/install-k3s.sh')).not.toContain('get.k3s.io');
    expect(code('k3s/install-openfaas.sh')).not.toMatch(/raw\.githubusercontent\.com\/[^ ]*\/(master|main)\//);
  });

  it('is checked against its SHA-256 before it is installed', () => {
    const openfaas = code('k3s/install-openfaas.sh');
    expect(openfaas).toMatch(/verify_sha256 "\$work\/\$\{tarball\}"/);
    expect(openfaas).toMatch(/verify_sha256 "\$work\/faas-cli"/);
    expect(openfaas.indexOf('verify_sha256 "$work/faas-cli"')).toBeLessThan(openfaas.indexOf('install -m 755 "$work/faas-cli"'));
    expect(openfaas.indexOf('verify_sha256 "$work/${tarball}"')).toBeLessThan(openfaas.indexOf('tar -xzf'));
    expect(code('k3s/common.sh')).toMatch(/verify_sha256\(\) \{[\s\S]*sha256sum[\s\S]*die "checksum mismatch/);
    expect(code('k3s/common.sh')).toContain("curl --proto '=https'");
  });

  it('installs every Helm chart at a pinned --version', () => {
    const installs = [...code('k3s/install-openfaas.sh').replace(/\\\n\s*/g, ' ').matchAll(/helm upgrade --install[^\n]*/g)].map((m) => m[0]);
    expect(installs).toHaveLength(2);
    for (const line of installs) expect(line).toMatch(/--version "\$(OPENFAAS|CRON_CONNECTOR)_CHART_VERSION"/);
  });
});

describe('VM 2', () => {
  // OpenFaaS CE deploys only an image it can HEAD anonymously, from inside the faas-netes pod
  // (faas-netes pkg/handlers/validate.go, isAnonymous): no loopback name, no password on pulls.
  it('names images by VM 2’s LAN address, which faas-netes reaches from its pod, and publishes the registry there only', () => {
    expect(code('k3s/common.sh')).toContain('REGISTRY="${REGISTRY:-${VM2_IP}:5000}"');
    expect(code('k3s/common.sh')).toContain('VM2_IP="${VM2_IP:-192.168.122.11}"');
    const images = [...read('stack.yml').matchAll(/image: (.*)/g)].map((m) => m[1]);
    expect(images.length).toBe(15);
    for (const image of images) expect(image).toMatch(/^\$\{REGISTRY:-192\.168\.122\.11:5000\}\/shop-[a-z-]+:\$\{TAG:-[^}]+\}$/);
    const registry = code('k3s/install-registry.sh');
    expect(registry).toContain('-p "${VM2_IP}:5000:5000"');
    expect(registry).not.toMatch(/-p (127\.0\.0\.1:)?5000:5000|REGISTRY_AUTH|htpasswd/);
    expect(registry).toContain('[ "$published" != "${VM2_IP}:5000" ]');
    // containerd on the node pulls it over plain HTTP.
    expect(code('k3s/install-k3s.sh')).toMatch(/mirrors:\n {2}"\$\{REGISTRY\}":\n {4}endpoint:\n {6}- "http:\/\/\$\{REGISTRY\}"\n/);
  });

  // The program install-registry.sh runs on VM 2, run here with python3 (netplan.io, which
  // npm test installs, depends on it) on a daemon.json in a temporary folder.
  it('lists the registry in Docker’s insecure-registries, keeping daemon.json’s other settings, and changes nothing the second time', () => {
    const script = read('k3s/install-registry.sh');
    const program = /changed="\$\(python3 - "\$daemon" "\$REGISTRY" <<'PY'\n([\s\S]*?)\nPY\n\)"/.exec(script)?.[1];
    if (!program) throw new Error('k3s/install-registry.sh no longer edits daemon.json with its python3 program');
    expect(code('k3s/install-registry.sh')).toMatch(/\nif \[ "\$changed" = changed \]; then\n[^\n]*\n\s+systemctl restart docker\nfi\n/);
    expect(script.match(/systemctl restart docker/g)).toHaveLength(1);
    const dir = mkdtempSync(join(tmpdir(), 'shop-daemon-json-'));
    const daemon = join(dir, 'docker', 'daemon.json');
    const run = () => spawnSync('python3', ['-', daemon, '192.168.122.11:5000'], { input: program, encoding: 'utf8' });
    try {
      expect(run()).toMatchObject({ status: 0, stdout: 'changed\n' });
      expect(JSON.parse(readFileSync(daemon, 'utf8'))).toEqual({ 'insecure-registries': ['192.168.122.11:5000'] });

      writeFileSync(daemon, JSON.stringify({ 'log-driver': 'journald', 'insecure-registries': ['10.0.0.5:5000'] }));
      chmodSync(daemon, 0o600);
      expect(run()).toMatchObject({ status: 0, stdout: 'changed\n' });
      expect(JSON.parse(readFileSync(daemon, 'utf8'))).toEqual({ 'log-driver': 'journald', 'insecure-registries': ['10.0.0.5:5000', '192.168.122.11:5000'] });
      expect(statSync(daemon).mode & 0o777).toBe(0o600);

      const once = readFileSync(daemon, 'utf8');
      expect(run()).toMatchObject({ status: 0, stdout: '' });
      expect(readFileSync(daemon, 'utf8')).toBe(once);

      writeFileSync(daemon, '{ "log-driver": ');
      const broken = run();
      expect(broken.status).not.toBe(0);
      expect(broken.stdout).toBe('');
      expect(readFileSync(daemon, 'utf8')).toBe('{ "log-driver": ');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the kubeconfig root’s, and gives the operator a private copy', () => {
    const k3s = code('k3s/install-k3s.sh');
    expect(k3s).toContain('--write-kubeconfig-mode 600');
    expect(k3s).not.toMatch(/kubeconfig-mode 6?44/);
    expect(k3s).toContain('chmod 600 /etc/rancher/k3s/k3s.yaml');
    expect(k3s).toMatch(/install -m 600 -o "\$SUDO_USER"[^\n]*\/etc\/rancher\/k3s\/k3s\.yaml "\$home\/\.kube\/config"/);
    expect(k3s).toMatch(/install -d -m 700 -o "\$SUDO_USER"/);
  });

  describe('k3s/firewall.sh, the guard before Kubernetes’ and Docker’s NAT', () => {
    const guard = readGuard('k3s/firewall.sh');
    const [VM1, VM2, VM3, KVM_HOST, LAN_HOST] = ['192.168.122.10', '192.168.122.11', '192.168.122.12', '192.168.122.1', '192.168.122.50'];
    /** A connection attempt from the LAN, as PREROUTING sees it. */
    const fromLan = (src: string, dport: number, dst = VM2): Packet => ({ family: 4, in: 'enp1s0', src, dst, dport, syn: true });

    it('lets VM 2 itself and its pods reach the registry: faas-netes’ anonymous HEAD, and what comes back in on lo', () => {
      // faas-netes checks each image from the gateway's pod: a pod address, through cni0.
      expect(guard.judge({ family: 4, in: 'cni0', src: '10.42.0.17', dst: VM2, dport: 5000, syn: true })).toBe('passes');
      // docker push and containerd's pulls leave through OUTPUT (never PREROUTING); through
      // Docker's userland proxy they come back in on lo.
      expect(guard.judge({ family: 4, in: 'lo', src: VM2, dst: VM2, dport: 5000, syn: true })).toBe('passes');
      expect(guard.judge({ family: 6, in: 'lo', src: '::1', dst: '::1', dport: 5000, syn: true })).toBe('passes');
    });

    it('keeps everyone else on the LAN from the registry, on every address of VM 2, over IPv4 and IPv6', () => {
      for (const host of [LAN_HOST, VM1, VM3, KVM_HOST]) expect([host, guard.judge(fromLan(host, 5000))]).toEqual([host, 'dropped']);
      // Straight to the registry's container on docker0, or to another address of VM 2.
      for (const dst of ['172.17.0.2', '172.17.0.1', '10.42.0.1']) expect([dst, guard.judge(fromLan(LAN_HOST, 5000, dst))]).toEqual([dst, 'dropped']);
      expect(guard.judge({ family: 6, in: 'enp1s0', src: 'fe80::5054:ff:fe00:50', dst: 'fe80::5054:ff:fe00:11', dport: 5000, syn: true })).toBe('dropped');
      expect(guard.judge({ family: 6, in: 'enp1s0', src: 'fd00::50', dst: 'fd00::11', dport: 5000, syn: true })).toBe('dropped');
    });

    it('lets only VM 1 and the operator reach the gateway’s NodePort, only VM 1 the scaler’s, nobody the API server or the kubelet', () => {
      expect(guard.judge(fromLan(VM1, 31112))).toBe('passes');
      expect(guard.judge(fromLan(KVM_HOST, 31112))).toBe('passes');
      expect(guard.judge(fromLan(VM1, 31113))).toBe('passes');
      expect(guard.judge(fromLan(KVM_HOST, 31113))).toBe('dropped');
      for (const port of [31112, 31113, 6443, 10250]) {
        expect([port, guard.judge(fromLan(LAN_HOST, port))]).toEqual([port, 'dropped']);
        expect([port, guard.judge(fromLan(LAN_HOST, port, '10.42.0.1'))]).toEqual([port, 'dropped']);
        expect([port, guard.judge({ family: 6, in: 'enp1s0', src: 'fd00::50', dst: 'fd00::11', dport: port, syn: true })]).toEqual([port, 'dropped']);
      }
      for (const port of [6443, 10250]) expect([port, guard.judge(fromLan(VM1, port))]).toEqual([port, 'dropped']);
    });

    it('lets answers in to the pods’ own connections, which flannel masquerades to any source port', () => {
      expect(guard.judge({ ...fromLan(VM3, 5000), syn: false })).toBe('passes');
      expect(guard.judge({ ...fromLan(VM3, 31112), syn: false })).toBe('passes');
    });

    it('takes other pod and service ranges, at install and at boot', () => {
      const moved = readGuard('k3s/firewall.sh', { POD_NET: '10.52.0.0/16', SERVICE_NET: '10.53.0.0/16' });
      expect(moved.judge({ family: 4, in: 'cni0', src: '10.52.0.17', dst: VM2, dport: 5000, syn: true })).toBe('passes');
      expect(moved.judge({ family: 4, in: 'cni0', src: '10.42.0.17', dst: VM2, dport: 5000, syn: true })).toBe('dropped');
      const fw = code('k3s/firewall.sh');
      expect(fw).toMatch(/^Environment=.*\bPOD_NET=\$\{POD_NET\} SERVICE_NET=\$\{SERVICE_NET\}$/m);
      expect(fw).toContain('ufw allow from "$POD_NET"');
      expect(fw).toContain('ufw allow from "$SERVICE_NET"');
    });

    it('sits in the raw table’s PREROUTING and is put back at every boot, before k3s and Docker', () => {
      const fw = code('k3s/firewall.sh');
      expect(fw).toContain('iptables -t raw -I PREROUTING -j SHOP-GUARD');
      expect(fw).toContain('ip6tables -t raw -I PREROUTING -j SHOP-GUARD');
      expect(fw).toContain('systemctl enable shop-firewall.service');
      expect(fw).toContain('ExecStart=/usr/local/sbin/shop-firewall --guard-only');
      expect(fw).toContain('Before=k3s.service docker.service');
      expect(fw).toContain('ufw --force enable');
    });
  });

  it('keeps secrets off command lines', () => {
    expect(code('k3s/create-secrets.sh')).not.toContain('--from-literal');
    expect(code('k3s/create-secrets.sh')).toContain('--from-file="$1=$work/$1"');
    expect(code('k3s/scale.sh')).not.toMatch(/curl[^\n]*-u\b/);
    expect(code('k3s/scale.sh')).toMatch(/printf 'user = "admin:%s"\\n' "\$password" \| curl [^\n]*-K -/);
    expect(code('k3s/install-scaler.sh')).not.toContain('--from-literal');
    expect(code('k3s/install-scaler.sh')).toContain('openssl passwd -6 -stdin');
  });

  it('runs the scaler beside the gateway, on the NodePort the storefront is given', () => {
    const [deployment, service] = read('k3s/scaler.yaml').split(/^---$/m).map((d) => parse(d));
    expect(deployment.spec.template.spec.containers[0].image).toMatch(/^nginx:\d+\.\d+\.\d+-alpine$/);
    expect(deployment.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(service.spec.ports[0].nodePort).toBe(31113);
    const compose = parse(read('frontend/docker-compose.yml'));
    expect(compose.services.storefront.environment.SCALER_URL).toBe('${SCALER_URL:-http://192.168.122.11:31113}');
  });
});

describe('VM 3', () => {
  it('publishes MongoDB on its LAN address only', () => {
    const compose = parse(read('mongodb/docker-compose.yml'));
    expect(compose.services.mongo.ports).toEqual(['${VM3_IP:-192.168.122.12}:27017:27017']);
  });

  it('lets only VM 2 reach MongoDB, before Docker’s NAT, for IPv4 and IPv6, across reboots', () => {
    const fw = code('mongodb/firewall.sh');
    expect(fw).toContain('iptables -t raw -I PREROUTING -j SHOP-GUARD');
    expect(fw).toContain('--dport 27017 -s "$VM2_IP" -j RETURN');
    expect(fw).toContain('iptables -t raw -A SHOP-GUARD -p tcp --dport 27017 -j DROP');
    expect(fw).toContain('ip6tables -t raw -A SHOP-GUARD -p tcp --dport 27017 -j DROP');
    expect(fw).toContain('systemctl enable shop-firewall.service');
    expect(fw).toContain('Before=docker.service');
  });

  it('writes private, rotated backups without the password on a command line', () => {
    const backup = code('mongodb/backup.sh');
    expect(backup).toContain('umask 077');
    expect(backup).toContain('chmod 700 backups');
    expect(backup).not.toMatch(/-p "\$MONGO_ROOT_PASSWORD"|--password/);
    expect(backup).toMatch(/printf 'password: "%s"\\n' "\$MONGO_ROOT_PASSWORD" \| docker exec -i mongo-db/);
    expect(backup).toContain('--config "$conf"');
    expect(backup).toMatch(/tail -n \+"\$\(\(keep \+ 1\)\)"[^\n]*\n[^\n]*rm -f/);
  });
});

describe('VM 1', () => {
  it('gives the storefront its secrets as files and never the gateway’s admin password', () => {
    const compose = parse(read('frontend/docker-compose.yml'));
    const env = compose.services.storefront.environment as Record<string, string>;
    expect(Object.keys(env)).not.toEqual(expect.arrayContaining(['COOKIE_SECRET']));
    expect(Object.keys(env).filter((k) => /PASSWORD$|SECRET$/.test(k))).toEqual([]);
    expect(JSON.stringify(compose)).not.toContain('GATEWAY_PASSWORD');
    expect(env).toMatchObject({ COOKIE_SECRET_FILE: '/run/secrets/cookie-secret', SCALER_PASSWORD_FILE: '/run/secrets/scaler-password' });
    expect(compose.secrets).toEqual({ 'cookie-secret': { file: './secrets/cookie-secret' }, 'scaler-password': { file: './secrets/scaler-password' } });
    const secrets = code('frontend/create-secrets.sh');
    expect(secrets).toContain('chmod 400');
    expect(secrets).toMatch(/IFS= read -r password/);
  });

  it('keeps secrets, data, certificates and local settings out of the image’s build context', () => {
    const ignored = read('.dockerignore').split('\n').filter((l) => l && !l.startsWith('#'));
    for (const path of ['.secrets', 'data', '**/.env', 'frontend/tls', 'frontend/secrets', 'mongodb/backups', '.git', 'node_modules']) expect(ignored).toContain(path);
    expect(read('frontend/Dockerfile')).toContain('COPY . .');
  });
});
