/**
 * How the shop's records are laid out as documents; shared by both adapters so that the
 * embedded files and MongoDB hold exactly the same shape (and `npm run seed` can move data
 * between them).
 */
import type { Order, OrderLineRequest, Product } from '../schemas';
import type { CartRecord, ReservationRecord } from './store';

export interface ProductDoc extends Omit<Product, 'id'> {
  _id: string;
  /** Units each order holds, by order id. */
  holds?: Record<string, number>;
}
export interface CartDoc {
  _id: string;
  lines: OrderLineRequest[];
  version: number;
}
export type OrderDoc = Omit<Order, 'id'> & { _id: string };
export interface ReservationDoc extends Partial<Omit<ReservationRecord, 'orderId'>> {
  _id: string;
  status: ReservationRecord['status'];
  updatedAt: string;
}

/** Reads never carry the holds map: it is bookkeeping, and it can be large. */
export const WITHOUT_HOLDS = { holds: 0 } as const;

export const holdField = (orderId: string) => `holds.${orderId}`;

export function toProduct(doc: ProductDoc): Product {
  return {
    id: doc._id,
    name: doc.name,
    description: doc.description,
    priceCents: doc.priceCents,
    stock: doc.stock,
    image: doc.image,
  };
}

/** The catalog fields of a product, as written by putProduct (holds are left alone). */
export function catalogFields(p: Product): Omit<ProductDoc, '_id' | 'holds'> {
  return { name: p.name, description: p.description, priceCents: p.priceCents, stock: p.stock, image: p.image };
}

export function sameCatalogFields(doc: ProductDoc, p: Product): boolean {
  const a = catalogFields(p);
  return (Object.keys(a) as (keyof typeof a)[]).every((k) => doc[k] === a[k]);
}

export function toCart(shopperId: string, doc: CartDoc | null): CartRecord {
  return doc ? { shopperId, lines: doc.lines, version: doc.version } : { shopperId, lines: [], version: 0 };
}

export function toOrderDoc(order: Order): OrderDoc {
  const { id, ...rest } = order;
  return { _id: id, ...rest };
}

export function toOrder(doc: OrderDoc): Order {
  const { _id, ...rest } = doc;
  return { id: _id, ...rest };
}

export function toReservation(doc: ReservationDoc): ReservationRecord {
  return {
    orderId: doc._id,
    status: doc.status,
    items: doc.items ?? [],
    createdAt: doc.createdAt ?? doc.updatedAt,
    updatedAt: doc.updatedAt,
  };
}

/** Keyset condition for "after (name, id)" in the query dialect both stores share. */
export function afterCondition(after: { name: string; id: string }) {
  return { $or: [{ name: { $gt: after.name } }, { name: after.name, _id: { $gt: after.id } }] };
}

/** A case-insensitive substring match; a RegExp object, which both stores accept. */
export function nameContains(q: string): RegExp {
  return new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
}

/** Changes for transitionOrder, without the id (which never changes). */
export function orderChanges(changes: Partial<Order>): Partial<OrderDoc> {
  const { id: _ignored, ...rest } = changes;
  return rest;
}
