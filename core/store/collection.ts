/**
 * The few document operations the shop's store needs, with MongoDB's query and update
 * semantics. core/store/document-store.ts implements the whole ShopStore once on top of these;
 * each adapter only maps them to its engine: the MongoDB driver (mongo.ts), or SQLite with
 * mingo evaluating MongoDB's operators (embedded.ts).
 *
 * Every operation is atomic on its own (one document, or one SQLite transaction); nothing here
 * spans two calls.
 */
export type Filter = Record<string, unknown>;
export type Update = Record<string, unknown>;
export type Projection = Record<string, 0 | 1>;

export interface FindOptions {
  sort?: Record<string, 1 | -1>;
  limit?: number;
  projection?: Projection;
}

export interface UpdateOptions {
  /** What to return of the document after the update; by default only its _id. */
  projection?: Projection;
}

/**
 * An index the shop's queries rely on: the fields, in order. Indexed fields hold scalars
 * (strings, numbers, booleans, null) or are missing, never arrays or objects.
 */
export type IndexSpec = Record<string, 1 | -1>;

export interface Collection<T extends { _id: string }> {
  findOne(filter: Filter, projection?: Projection): Promise<T | null>;
  find(filter: Filter, options?: FindOptions): Promise<T[]>;
  count(filter: Filter): Promise<number>;
  /** Inserts unless a document with the same _id exists; false then. */
  insertOnce(doc: T): Promise<boolean>;
  /** Inserts each document unless one with its _id exists, in one write; returns how many were new. */
  insertMany(docs: readonly T[]): Promise<number>;
  /**
   * Atomically applies `update` to the first document matching `filter`; returns the document
   * after the update (projected), or null when nothing matched.
   */
  updateOne(filter: Filter, update: Update, options?: UpdateOptions): Promise<{ doc: T | null }>;
  deleteMany(filter: Filter): Promise<number>;
}
