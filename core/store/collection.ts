/**
 * The few document operations the shop's store needs, in the dialect MongoDB and nedb share.
 * core/store/document-store.ts implements the whole ShopStore once on top of these; each
 * adapter (embedded.ts, mongo.ts) only maps them to its driver.
 */
export type Filter = Record<string, unknown>;
export type Update = Record<string, unknown>;
export type Projection = Record<string, 0 | 1>;

export interface FindOptions {
  sort?: Record<string, 1 | -1>;
  limit?: number;
  projection?: Projection;
}

export interface Collection<T extends { _id: string }> {
  findOne(filter: Filter, projection?: Projection): Promise<T | null>;
  find(filter: Filter, options?: FindOptions): Promise<T[]>;
  count(filter: Filter): Promise<number>;
  /** Inserts unless a document with the same _id exists; false then. */
  insertOnce(doc: T): Promise<boolean>;
  /**
   * Atomically applies `update` to the first document matching `filter` (or inserts one with
   * `upsert`); returns the document after the update, or null when nothing matched.
   */
  updateOne(filter: Filter, update: Update, options?: { upsert?: boolean }): Promise<{ doc: T | null; upserted: boolean }>;
  deleteMany(filter: Filter): Promise<number>;
}
