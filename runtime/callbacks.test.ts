import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { callbackPolicyFromEnv, postCallback, refuseCallback } from './callbacks';

describe('the async callback policy', () => {
  const none = callbackPolicyFromEnv({});

  it('allows this machine’s loopback, in any spelling the URL parser reduces to it', () => {
    for (const url of ['http://127.0.0.1:9000/done', 'http://localhost/x', 'https://[::1]:8443/', 'http://2130706433/', 'http://0x7f.0.0.1/', 'http://127.1.2.3/']) expect([url, refuseCallback(url, none)]).toEqual([url, undefined]);
  });

  it('refuses every other address unless its origin is listed in ASYNC_CALLBACK_ORIGINS', () => {
    const refused = ['http://169.254.169.254/latest/meta-data/', 'http://192.168.122.12:27017/', 'http://10.0.0.1/', 'http://0.0.0.0:8080/', 'http://[::ffff:127.0.0.1]/', 'http://[fe80::1]/', 'https://hooks.example.com/x', 'ftp://127.0.0.1/', 'not a url', 'http://u:p@127.0.0.1/'];
    for (const url of refused) expect([url, refuseCallback(url, none)]).toEqual([url, expect.any(String)]);
    const listed = callbackPolicyFromEnv({ ASYNC_CALLBACK_ORIGINS: 'https://hooks.example.com, http://10.0.0.5:9000' });
    expect(refuseCallback('https://hooks.example.com/orders?x=1', listed)).toBeUndefined();
    expect(refuseCallback('http://10.0.0.5:9000/', listed)).toBeUndefined();
    expect(refuseCallback('http://10.0.0.5:9001/', listed)).toMatch(/not allowed/);
    expect(refuseCallback('http://hooks.example.com/', listed)).toMatch(/not allowed/);
    expect(() => callbackPolicyFromEnv({ ASYNC_CALLBACK_ORIGINS: 'file:///etc' })).toThrow(/ASYNC_CALLBACK_ORIGINS/);
  });

  it('checks again when the result is posted: a call accepted under another policy goes nowhere', async () => {
    let hits = 0;
    const server = http.createServer((req, res) => {
      hits++;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      // 0.0.0.0 reaches this listener, but is not a loopback name: refused before any connection.
      expect(await postCallback(`http://0.0.0.0:${port}/`, { headers: {}, body: Buffer.from('x') }, none)).toMatch(/not allowed/);
      expect(hits).toBe(0);
      expect(await postCallback(`http://127.0.0.1:${port}/`, { headers: {}, body: Buffer.from('x') }, none)).toBeUndefined();
      expect(hits).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
