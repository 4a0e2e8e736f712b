/**
 * The SHOP-GUARD chain of a firewall script (k3s/firewall.sh), read from the script and
 * applied to a packet as iptables would: the rules in order, the first match decides, RETURN
 * or no match lets the packet go on. iptables cannot run here; this reads the
 * very lines the script runs, with its defaults (or the overrides given, as its `${VAR:-...}`
 * does), and refuses any option it does not model, so a rule it cannot judge fails the test.
 */
import { BlockList, isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../runtime/build';

/** A packet as the raw table's PREROUTING sees it: before any NAT. */
export interface Packet {
  family: 4 | 6;
  /** Interface it came in on (`lo` for what the host sent itself). */
  in: string;
  src: string;
  dst: string;
  dport: number;
  /** A connection attempt: SYN without ACK. */
  syn: boolean;
}

type Condition = (p: Packet) => boolean;
interface Rule {
  family: 4 | 6;
  target: 'RETURN' | 'DROP';
  conditions: Condition[];
}

/** `-s`/`-d` as iptables reads them: an address, or a network with its prefix length. */
function addressMatch(spec: string, family: 4 | 6): (ip: string) => boolean {
  const [address, prefix] = spec.split('/');
  if (!address || isIP(address) !== family) throw new Error(`not an IPv${family} address or network: ${spec}`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (prefix === undefined) list.addAddress(address, type);
  else list.addSubnet(address, Number(prefix), type);
  return (ip) => list.check(ip, type);
}

function parseRule(family: 4 | 6, args: string[], text: string): Rule {
  const conditions: Condition[] = [];
  let target: Rule['target'] | undefined;
  for (let i = 0; i < args.length; i++) {
    const option = args[i];
    const value = args[i + 1] ?? '';
    switch (option) {
      case '-i':
        conditions.push((p) => p.in === value);
        i++;
        break;
      case '-s': {
        const match = addressMatch(value, family);
        conditions.push((p) => match(p.src));
        i++;
        break;
      }
      case '-d': {
        const match = addressMatch(value, family);
        conditions.push((p) => match(p.dst));
        i++;
        break;
      }
      case '-p':
        if (value !== 'tcp') throw new Error(`protocol ${value} not modelled: ${text}`);
        i++;
        break;
      case '--dport':
        conditions.push((p) => p.dport === Number(value));
        i++;
        break;
      case '--syn':
        conditions.push((p) => p.syn);
        break;
      case '-m':
        if (value !== 'multiport') throw new Error(`match ${value} not modelled: ${text}`);
        i++;
        break;
      case '--dports': {
        const ports = value.split(',').map(Number);
        conditions.push((p) => ports.includes(p.dport));
        i++;
        break;
      }
      case '-j':
        if (value !== 'RETURN' && value !== 'DROP') throw new Error(`target ${value} not modelled: ${text}`);
        target = value;
        i++;
        break;
      default:
        throw new Error(`option ${option} not modelled: ${text}`);
    }
  }
  if (!target) throw new Error(`no target: ${text}`);
  return { family, target, conditions };
}

/** The values the script gives its variables: `VAR="${VAR:-default}"` (or the override) and `VAR=value`. */
function variables(script: string, overrides: Record<string, string>): Map<string, string> {
  const values = new Map<string, string>();
  for (const [, name = '', same, fallback = ''] of script.matchAll(/^(\w+)="\$\{(\w+):-([^}]*)\}"$/gm)) {
    if (name === same) values.set(name, overrides[name] ?? fallback);
  }
  for (const [, name = '', value = ''] of script.matchAll(/^(\w+)=([^\s"$]+)$/gm)) values.set(name, value);
  return values;
}

export interface Guard {
  /** What the guard does with the packet: `dropped`, or `passes` on to the rest of the host's rules. */
  judge(packet: Packet): 'dropped' | 'passes';
}

export function readGuard(path: string, overrides: Record<string, string> = {}): Guard {
  const script = readFileSync(join(ROOT, path), 'utf8');
  const values = variables(script, overrides);
  const substitute = (line: string) =>
    line.replace(/"?\$\{?(\w+)\}?"?/g, (_all, name: string) => {
      const value = values.get(name);
      if (value === undefined) throw new Error(`${path}: $${name} has no value the test can read`);
      return value;
    });
  const rules = [...script.matchAll(/^\s*(ip6?tables) -t raw -A SHOP-GUARD (.+)$/gm)].map(([, command, rule = '']) => {
    const text = substitute(rule);
    return parseRule(command === 'iptables' ? 4 : 6, text.split(/\s+/), text);
  });
  if (rules.length === 0) throw new Error(`${path}: no SHOP-GUARD rules found`);
  return {
    judge(packet) {
      if (isIP(packet.src) !== packet.family || isIP(packet.dst) !== packet.family) throw new Error(`not an IPv${packet.family} packet: ${JSON.stringify(packet)}`);
      const rule = rules.find((r) => r.family === packet.family && r.conditions.every((c) => c(packet)));
      return rule?.target === 'DROP' ? 'dropped' : 'passes';
    },
  };
}
