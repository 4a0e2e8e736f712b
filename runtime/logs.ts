/**
 * What each replica writes, kept per function for /system/logs as the provider serves it
 * (faas-provider's logs.Message: name, namespace, instance, timestamp, text), and followed
 * live. A bounded number of lines per function: logs are for looking at recent behaviour,
 * not a record (the shop's records are in the store).
 */
import { NAMESPACE } from './deployments';

export interface LogMessage {
  name: string;
  namespace: string;
  instance: string;
  timestamp: string;
  text: string;
}

export interface LogQuery {
  name: string;
  instance?: string;
  since?: Date;
  /** The last `tail` lines of each instance (0: no limit). */
  tail?: number;
  follow: boolean;
}

/** The provider's default when neither since nor tail is given: the last 5 minutes. */
const DEFAULT_SINCE_MS = 5 * 60_000;
const LINES_PER_FUNCTION = 2_000;

export class FunctionLogs {
  private readonly lines = new Map<string, LogMessage[]>();
  private readonly followers = new Set<{ query: LogQuery; send: (m: LogMessage) => void }>();

  append(name: string, instance: string, text: string): void {
    const message = { name, namespace: NAMESPACE, instance, timestamp: new Date().toISOString(), text };
    let kept = this.lines.get(name);
    if (!kept) this.lines.set(name, (kept = []));
    kept.push(message);
    if (kept.length > LINES_PER_FUNCTION) kept.splice(0, kept.length - LINES_PER_FUNCTION);
    for (const follower of this.followers) if (matches(follower.query, message)) follower.send(message);
  }

  /** The lines the query asks for so far, per instance in time order. */
  history(query: LogQuery): LogMessage[] {
    const since = (query.since ?? (query.tail ? undefined : new Date(Date.now() - DEFAULT_SINCE_MS)))?.toISOString();
    const found = (this.lines.get(query.name) ?? []).filter((m) => matches(query, m) && (!since || m.timestamp >= since));
    if (!query.tail) return found;
    const perInstance = new Map<string, LogMessage[]>();
    for (const m of found) {
      let list = perInstance.get(m.instance);
      if (!list) perInstance.set(m.instance, (list = []));
      list.push(m);
    }
    return [...perInstance.values()].flatMap((list) => list.slice(-(query.tail as number))).sort((a, b) => a.timestamp.localeCompare(b.timestamp));
  }

  /** Calls `send` with every new line the query matches, until the returned function is called. */
  follow(query: LogQuery, send: (m: LogMessage) => void): () => void {
    const follower = { query, send };
    this.followers.add(follower);
    return () => this.followers.delete(follower);
  }
}

const matches = (query: LogQuery, m: LogMessage) => m.name === query.name && (!query.instance || m.instance === query.instance);
