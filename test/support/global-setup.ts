/** Builds the function bundles once for the whole run (the runtime serves what ships). */
import { buildIfStale } from '../../runtime/build';

export default async function globalSetup(): Promise<void> {
  await buildIfStale();
}
