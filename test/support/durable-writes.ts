/**
 * Run by test/durability.test.ts under strace: opens the embedded store in DATA_DIR (argv[2])
 * and acknowledges `count` (argv[3]) writes one after the other, each one order decided, as a
 * checkout's decision is. Prints how many it acknowledged.
 */
import { openEmbeddedStore } from '../../core/store/embedded';
import { anOrder } from './orders';

async function main(): Promise<void> {
  const [dataDir, count] = [process.argv[2] as string, Number(process.argv[3])];
  const store = await openEmbeddedStore(dataDir);
  let acknowledged = 0;
  for (let i = 0; i < count; i++) if ((await store.decideOrder(anOrder(`durable-shopper-${String(i).padStart(6, '0')}`), {})).decided) acknowledged++;
  await store.close();
  process.stdout.write(`acknowledged ${acknowledged}\n`);
}

void main();
