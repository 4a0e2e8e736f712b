/**
 * Every failure the shop reports is a ShopError: a code, a message, an HTTP status and
 * optional details. They are created here and turned into responses in one place
 * (core/fn.ts). Each function bundle carries its own copy of this module, so errors are
 * recognised by shape (isShopError), never by `instanceof`.
 */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'METHOD_NOT_ALLOWED'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'PRODUCT_NOT_FOUND'
  | 'ORDER_NOT_FOUND'
  | 'OUT_OF_STOCK'
  | 'CART_EMPTY'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'ORDER_IN_PROGRESS'
  | 'ORDER_FAILED'
  | 'ORDER_NOT_CANCELLABLE'
  | 'CHECKOUT_ABANDONED'
  | 'RESERVATION_RELEASED'
  | 'RESERVATION_SOLD'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'DEPENDENCY_UNAVAILABLE'
  | 'NOT_CONFIGURED'
  /** Refused at once for load (a full limit, a refusal from upstream): details say when to retry. */
  | 'BUSY'
  | 'INTERNAL';

export interface ShopError {
  readonly name: 'ShopError';
  readonly code: ErrorCode;
  readonly message: string;
  readonly status: number;
  readonly details?: unknown;
}

export function shopError(status: number, code: ErrorCode, message: string, details?: unknown): ShopError {
  return details === undefined
    ? { name: 'ShopError', code, message, status }
    : { name: 'ShopError', code, message, status, details };
}

export function isShopError(value: unknown): value is ShopError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.name === 'ShopError' && typeof v.code === 'string' && typeof v.status === 'number';
}

export const invalidInput = (message: string, details?: unknown) => shopError(400, 'INVALID_INPUT', message, details);
export const notFound = (code: 'NOT_FOUND' | 'PRODUCT_NOT_FOUND' | 'ORDER_NOT_FOUND', message: string, details?: unknown) =>
  shopError(404, code, message, details);
export const conflict = (code: ErrorCode, message: string, details?: unknown) => shopError(409, code, message, details);
export const unavailable = (message: string, details?: unknown) => shopError(503, 'DEPENDENCY_UNAVAILABLE', message, details);

/** The JSON body every error response carries. */
export function errorBody(error: ShopError): { error: { code: string; message: string; details?: unknown } } {
  return {
    error:
      error.details === undefined
        ? { code: error.code, message: error.message }
        : { code: error.code, message: error.message, details: error.details },
  };
}

/**
 * Errors thrown by the store drivers when the database cannot be reached, or (SQLite) when
 * another process held the write lock for longer than the busy timeout. Their class names and
 * codes are stable across driver versions; anything else unexpected stays a 500 and is logged.
 */
const UNREACHABLE = /^Mongo(ServerSelection|Network|NetworkTimeout|NotConnected|TopologyClosed|PoolCleared)Error$/;
const SQLITE_BUSY = /^SQLITE_(BUSY|LOCKED)/;

export function toShopError(error: unknown): ShopError {
  if (isShopError(error)) return error;
  // By name, not instanceof: a native driver's errors may come from another realm (jest's, a bundle's).
  const name = typeof error === 'object' && error !== null && typeof (error as { name?: unknown }).name === 'string' ? (error as { name: string }).name : '';
  if (UNREACHABLE.test(name)) return unavailable('The database is unreachable');
  if (name === 'SqliteError' && SQLITE_BUSY.test(String((error as { code?: unknown }).code))) return unavailable('The database is busy; try again');
  // Data written by an earlier version that has not been imported yet: its message says what to run.
  if (name === 'LegacyDataError') return shopError(503, 'NOT_CONFIGURED', String((error as { message?: unknown }).message));
  return shopError(500, 'INTERNAL', 'Something went wrong on our side');
}
