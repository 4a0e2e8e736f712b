/**
 * Memory limits: Kubernetes quantities read as bytes, the heap limit a replica gets from its
 * limit, and the watcher that OOM-kills a process whose resident memory is over its limit.
 */
import { MemoryWatcher, heapLimitMb, memoryBytes, residentBytes, type Watched } from './oom';

describe('memory limits', () => {
  it('reads memory quantities as Kubernetes does', () => {
    expect(memoryBytes('256Mi')).toBe(256 * 2 ** 20);
    expect(memoryBytes('1Gi')).toBe(2 ** 30);
    expect(memoryBytes('128974848')).toBe(128_974_848);
    expect(memoryBytes('129e6')).toBe(129_000_000);
    expect(memoryBytes('129M')).toBe(129_000_000);
    expect(memoryBytes('0.5Gi')).toBe(2 ** 29);
    expect(memoryBytes('64k')).toBe(64_000);
    for (const bad of ['', 'lots', '256 MB', '-1Mi', '1Zi', undefined]) expect([bad, memoryBytes(bad)]).toEqual([bad, undefined]);
  });

  it('gives a replica three quarters of its limit as V8 heap, at least 16 MiB', () => {
    expect(heapLimitMb(256 * 2 ** 20)).toBe(192);
    expect(heapLimitMb(2 ** 30)).toBe(768);
    expect(heapLimitMb(10 * 2 ** 20)).toBe(16);
  });

  it('reads resident memory from /proc, and OOM-kills only a process over its limit', async () => {
    const rss = await residentBytes(process.pid);
    expect(rss).toBeGreaterThan(10 * 2 ** 20);
    expect(await residentBytes(2 ** 22 + 12_345)).toBeUndefined(); // no such process
    const killed: string[] = [];
    const replica = (name: string, limit: number | undefined): Watched & { name: string } => ({
      name,
      pid: process.pid,
      memoryLimitBytes: limit,
      oomKill: () => killed.push(name),
    });
    const replicas = [replica('over', 2 ** 20), replica('under', 2 ** 40), replica('unlimited', undefined), { ...replica('gone', 1), pid: undefined }];
    await new MemoryWatcher(() => replicas, 1_000).sample();
    expect(killed).toEqual(['over']);
    expect(replicas.map((r) => (r.rssBytes ?? 0) > 10 * 2 ** 20)).toEqual([true, true, true, false]);
  });
});
