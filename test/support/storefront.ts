/** The storefront in this process, in front of a test shop's gateway. */
import type { StorefrontConfig } from '../../frontend/app';
import { startStorefront } from '../../frontend/server';
import { SCALER_PASSWORD_FILE } from '../../runtime/secrets';
import { startTestShop, type TestShop } from './shop';

export interface TestStorefront {
  t: TestShop;
  url: string;
  stop(): Promise<void>;
}

export async function startTestStorefront(config: Partial<StorefrontConfig> = {}, shopOptions?: Parameters<typeof startTestShop>[0]): Promise<TestStorefront> {
  const t = await startTestShop(shopOptions);
  const storefront = await startStorefront({
    port: 0,
    host: '127.0.0.1',
    gatewayUrl: t.shop.url,
    cookieSecret: 'a-test-cookie-secret-that-is-long-enough',
    trustProxy: 'loopback',
    gatewayCredentials: { user: 'scaler', password: t.shop.secrets[SCALER_PASSWORD_FILE] as string },
    ...config,
  });
  return {
    t,
    url: storefront.url,
    async stop() {
      await storefront.close();
      await t.stop();
    },
  };
}
