/**
 * Shoppers who arrive while a server is busy, and whether it lets them in promptly. Busy here
 * means that every turn of the server's event loop has hundreds of requests to serve: clients,
 * each on its own connection, send BATCH requests at once (pipelined) and the next BATCH once
 * they are answered. The arrivals' wait is counted in the answers the busy clients got
 * meanwhile, not in time: a server that takes one new connection per turn makes the last of 60
 * arrivals wait some 60 turns, one that takes many at a time a few.
 */
import http from 'node:http';
import net from 'node:net';
import { until } from './until';

const CLIENTS = 20;
const BATCH = 25;
/** Once in every answer (its status line), never in a body. */
const ANSWER = /HTTP\/1\.1 \d{3} /g;
/** The longest start of a status line a chunk can end with: carried to the next chunk. */
const PARTIAL = 'HTTP/1.1 200'.length;

/** The answers the busy clients got while `arrivals` shoppers came on new connections, and the arrivals' statuses. */
export async function arrivalsWhileBusy(base: string, path: string, arrivals = 60): Promise<{ answeredMeanwhile: number; statuses: number[] }> {
  const { port, hostname } = new URL(base);
  let served = 0;
  const sockets = Array.from({ length: CLIENTS }, () => {
    const socket = net.connect(Number(port), hostname);
    let pending = 0;
    let tail = '';
    const send = () => {
      pending = BATCH;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: shop\r\n\r\n`.repeat(BATCH));
    };
    socket.setEncoding('utf8');
    socket.on('connect', send);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      // A status line split across chunks is found with the carried tail.
      const text = tail + chunk;
      let answers = 0;
      let end = 0;
      for (const match of text.matchAll(ANSWER)) [answers, end] = [answers + 1, match.index + match[0].length];
      tail = text.slice(Math.max(end, text.length - PARTIAL));
      served += answers;
      pending -= answers;
      if (pending === 0) send();
    });
    return socket;
  });
  try {
    await until(() => served >= 5_000, () => `the busy clients got ${served} answers`, 3_000);
    const before = served;
    const statuses = await Promise.all(Array.from({ length: arrivals }, async () => (await onNewConnection(`${base}${path}`)).status));
    return { answeredMeanwhile: served - before, statuses };
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}

export interface Page {
  status: number;
  html: string;
  setCookies: string[];
  headers: http.IncomingHttpHeaders;
}

/** One request on a new connection (so that any of a server's handles or workers may take it). */
export function onNewConnection(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Page> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      let html = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (html += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, html, setCookies: res.headers['set-cookie'] ?? [], headers: res.headers }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
