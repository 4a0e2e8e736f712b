/**
 * The operator's view of the async calls that ran out of attempts (runtime/queue.ts), behind the
 * gateway's basic auth like the rest of /system:
 *   GET    /system/dead-letters?function=NAME&limit=N   newest first (limit 1-1000, default 100)
 *   POST   /system/dead-letters/ID                      queue it again, attempts from zero: 202
 *   DELETE /system/dead-letters/ID                      forget it: 202
 * An unknown id answers 404. OpenFaaS has no such API (its Pro queue-worker logs and drops a
 * call that ran out of attempts); the routes are the local runtime's own.
 */
import type { Answer } from './provider';
import type { AsyncQueue } from './queue';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1_000;

export async function listDeadLetters(queue: AsyncQueue, search: string): Promise<Answer> {
  const query = new URLSearchParams(search);
  const limit = query.get('limit') ?? String(DEFAULT_LIMIT);
  if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) return { status: 400, body: `limit must be a whole number from 1 to ${MAX_LIMIT}\n` };
  const fn = query.get('function') ?? undefined;
  return { status: 200, body: await queue.deadLetters({ function: fn, limit: Number(limit) }) };
}

export async function retryDeadLetter(queue: AsyncQueue, id: string): Promise<Answer> {
  return (await queue.retryDeadLetter(id)) ? { status: 202, body: { id, status: 'queued' } } : { status: 404, body: `no dead letter ${id}\n` };
}

export async function deleteDeadLetter(queue: AsyncQueue, id: string): Promise<Answer> {
  return (await queue.deleteDeadLetter(id)) ? { status: 202 } : { status: 404, body: `no dead letter ${id}\n` };
}
