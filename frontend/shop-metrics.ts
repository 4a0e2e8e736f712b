/**
 * The shop's own metrics on the storefront's /metrics, for the dashboard and the alert rules
 * (k3s/monitoring/): what checkouts came to, which products shoppers found sold out, and how
 * many replicas of each function are ready. OpenFaaS CE publishes only the desired replicas
 * (gateway_service_count); the ready ones are read from the gateway at each scrape.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { isShopError } from '../core/errors';
import type { SystemClient } from './system-client';

/** The only function namespace OpenFaaS CE has; the gateway's metrics name functions NAME.openfaas-fn. */
const NAMESPACE = 'openfaas-fn';

export const CHECKOUT_OUTCOMES = ['placed', 'sold_out', 'pending', 'refused', 'rejected', 'failed'] as const;
export type CheckoutOutcome = (typeof CHECKOUT_OUTCOMES)[number];

/**
 * What a checkout came to, from order-create's answer: `pending` when the order is still being
 * decided (ORDER_IN_PROGRESS) or the gateway gave up waiting (502, 504) while it may be;
 * `refused` when there was no room (429, 503: the shopper is asked to come back).
 */
export function checkoutOutcome(error?: unknown): CheckoutOutcome {
  if (error === undefined) return 'placed';
  const status = isShopError(error) ? error.status : 500;
  const code = isShopError(error) ? error.code : undefined;
  if (code === 'OUT_OF_STOCK') return 'sold_out';
  if (code === 'ORDER_IN_PROGRESS' || status === 502 || status === 504) return 'pending';
  if (status === 429 || status === 503) return 'refused';
  return status < 500 ? 'rejected' : 'failed';
}

export function shopMetrics(registry: Registry, system?: SystemClient) {
  const registers = [registry];
  const checkouts = new Counter({ name: 'shop_checkouts_total', help: 'Checkouts sent by this storefront, by outcome (placed, sold_out, pending, refused, rejected, failed)', labelNames: ['outcome'], registers });
  for (const outcome of CHECKOUT_OUTCOMES) checkouts.inc({ outcome }, 0);
  const soldOut = new Counter({ name: 'shop_sold_out_total', help: 'Times a shopper was told a product is sold out (adding to the cart or checking out), by product', labelNames: ['product_id'], registers });
  new Gauge({
    name: 'shop_function_replicas_available',
    help: 'Replicas of each function ready to serve, from the gateway’s /system/functions at scrape time (none when it does not answer)',
    labelNames: ['function_name'],
    registers,
    // Every storefront worker reads the same gateway: across workers it is one figure, not a sum.
    aggregator: 'first',
    async collect() {
      this.reset();
      if (!system) return;
      const functions = await system.functions().catch(() => []);
      // Named as the gateway names them (NAME.openfaas-fn), so that rules can join on gateway_service_count.
      for (const fn of functions) this.set({ function_name: `${fn.name}.${NAMESPACE}` }, fn.availableReplicas);
    },
  });
  return {
    checkout: (outcome: CheckoutOutcome) => checkouts.inc({ outcome }),
    soldOut: (productId: string) => soldOut.inc({ product_id: productId }),
  };
}
export type ShopMetrics = ReturnType<typeof shopMetrics>;
