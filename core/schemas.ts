/**
 * The shop's vocabulary as zod schemas: every function validates its input with these and
 * every type in the code is inferred from them. The storefront and the seed use the same
 * schemas, so a product means the same thing everywhere.
 */
import { z } from './zod';

export const MAX_LINE_QUANTITY = 99;
export const MAX_CART_LINES = 50;
export const MAX_PRICE_CENTS = 10_000_000;
export const MAX_STOCK = 1_000_000;

export const ProductId = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'a product id is 1-64 lowercase letters, digits and inner dashes');
/** Issued by the storefront: a UUID or 128+ random bits in hex or base64url. */
export const ShopperId = z.string().regex(/^[A-Za-z0-9_-]{22,64}$/, 'a shopper id is 22-64 characters of A-Z a-z 0-9 _ -');
export const OrderId = z.string().regex(/^ord_[A-Za-z0-9_-]{22}$/, 'an order id is ord_ followed by 22 characters');
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'an Idempotency-Key is 16-128 characters of A-Z a-z 0-9 _ -');

const Cents = z.number().int().min(0).max(MAX_PRICE_CENTS);
const Quantity = z.number().int().min(1).max(MAX_LINE_QUANTITY);
/** Plain text a person typed: no control characters, trimmed, bounded. */
const Text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

export const ImageUrl = z
  .string()
  .max(2048)
  .regex(/^(\/[A-Za-z0-9._~/-]+|https?:\/\/[^\s"'<>]+)$/, 'an image is a site path or an http(s) URL');

export const Product = z.strictObject({
  id: ProductId,
  name: Text(120),
  description: z.string().trim().max(2000).regex(/^(?:[^\p{Cc}]|[\n\t])*$/u, 'must not contain control characters other than newlines and tabs'),
  priceCents: Cents,
  stock: z.number().int().min(0).max(MAX_STOCK),
  image: ImageUrl,
});
export type Product = z.infer<typeof Product>;

export const Catalog = z.array(Product).superRefine((products, ctx) => {
  const seen = new Set<string>();
  for (const [i, p] of products.entries()) {
    if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate product id ${p.id}` });
    seen.add(p.id);
  }
});

export const OrderLineRequest = z.strictObject({ productId: ProductId, quantity: Quantity });
export type OrderLineRequest = z.infer<typeof OrderLineRequest>;

/** A line priced from the catalog at the moment its stock was reserved. */
export const PricedLine = z.strictObject({
  productId: ProductId,
  name: z.string(),
  priceCents: Cents,
  quantity: Quantity,
});
export type PricedLine = z.infer<typeof PricedLine>;

export const Customer = z.strictObject({
  name: Text(120),
  email: z.string().trim().max(254).pipe(z.email()),
  address: Text(500),
});
export type Customer = z.infer<typeof Customer>;

// ---- function inputs ----------------------------------------------------------------------

const Limit = (max: number) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,2}$/, 'limit is a whole number')
    .transform(Number)
    .pipe(z.number().max(max));

export const ListProductsQuery = z.strictObject({
  q: z.string().max(100).regex(/^[^\p{Cc}]*$/u, 'must not contain control characters').optional(),
  limit: Limit(100).optional(),
  cursor: z.string().max(200).regex(/^[A-Za-z0-9_-]+$/, 'cursor is opaque base64url').optional(),
});
export const GetProductQuery = z.strictObject({ id: ProductId });

export const ReserveRequest = z.strictObject({
  orderId: OrderId,
  items: z.array(OrderLineRequest).min(1).max(MAX_CART_LINES),
});
export const ReleaseRequest = z.strictObject({ orderId: OrderId });

export const RestockRequest = z.union([
  z.strictObject({ productId: ProductId, stock: z.number().int().min(0).max(MAX_STOCK) }),
  z.strictObject({ product: Product }),
]);

export const ShopperQuery = z.strictObject({ shopperId: ShopperId });
export const CartLineRequest = z.strictObject({ shopperId: ShopperId, productId: ProductId, quantity: Quantity });
export const CartUpdateRequest = z.strictObject({
  shopperId: ShopperId,
  productId: ProductId,
  quantity: z.number().int().min(0).max(MAX_LINE_QUANTITY),
});

export const CheckoutRequest = z.strictObject({
  idempotencyKey: IdempotencyKey,
  body: z.strictObject({ shopperId: ShopperId, customer: Customer }),
});
export const OrderQuery = z.strictObject({ id: OrderId, shopperId: ShopperId });
export const OrderListQuery = z.strictObject({ shopperId: ShopperId, limit: Limit(100).optional() });
export const RecentOrdersQuery = z.strictObject({ limit: Limit(100).optional() });
export const CancelRequest = z.strictObject({ orderId: OrderId, shopperId: ShopperId });
/** order-sweep takes nothing from its caller (the cron-connector); its TTL is configuration. */
export const SweepRequest = z.strictObject({});

// ---- function outputs ---------------------------------------------------------------------

export const ProductPage = z.strictObject({ items: z.array(Product), nextCursor: z.string().optional() });
export type ProductPage = z.infer<typeof ProductPage>;

export const Cart = z.strictObject({
  shopperId: ShopperId,
  items: z.array(PricedLine),
  totalCents: z.number().int().min(0),
});
export type Cart = z.infer<typeof Cart>;

export const Reservation = z.strictObject({
  orderId: OrderId,
  items: z.array(PricedLine),
  /** Per product, the token of the hold: this attempt's own, or one a concurrent attempt made (null: written before tokens). */
  holds: z.record(ProductId, z.string().nullable()),
  /** This attempt's token: the holds it made itself, to undo if another attempt decides the order. */
  attempt: z.string(),
});
export type Reservation = z.infer<typeof Reservation>;
export const Release = z.strictObject({ orderId: OrderId, released: z.array(OrderLineRequest) });
export type Release = z.infer<typeof Release>;

export const OrderStatus = z.enum(['pending', 'confirmed', 'failed', 'cancelling', 'cancelled']);
export type OrderStatus = z.infer<typeof OrderStatus>;

export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

export const Order = z.strictObject({
  id: OrderId,
  shopperId: ShopperId,
  status: OrderStatus,
  customer: Customer,
  /** What the cart held when checkout started. */
  requested: z.array(OrderLineRequest),
  /** Priced lines; filled when stock is reserved. */
  items: z.array(PricedLine),
  totalCents: z.number().int().min(0),
  createdAt: z.string(),
  updatedAt: z.string(),
  failure: ErrorBody.shape.error.optional(),
});
export type Order = z.infer<typeof Order>;
export const OrderList = z.strictObject({ items: z.array(Order) });
