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
  | 'STORE_UNAVAILABLE'
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
  /** Sent as Retry-After: when the caller may try again. */
  readonly retryAfterSeconds?: number;
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

/** How long a caller should wait before trying a write again when the store's disk refused it. */
export const STORE_RETRY_AFTER_SECONDS = 30;

/** MongoDB's answers when it cannot take writes (error codeName): its disk, or a primary that is not one. */
const MONGO_CANNOT_WRITE: Record<string, string> = {
  OutOfDiskSpace: 'The database’s disk is full',
  NotWritablePrimary: 'The database is not accepting writes (not primary)',
  NotPrimaryNoSecondaryOk: 'The database is not accepting writes (not primary)',
  NotPrimaryOrSecondary: 'The database is not accepting writes (not primary)',
  PrimarySteppedDown: 'The database is not accepting writes (its primary stepped down)',
  InterruptedDueToReplStateChange: 'The database is not accepting writes (its replica set changed)',
  ShutdownInProgress: 'The database is shutting down',
  InterruptedAtShutdown: 'The database is shutting down',
};
/** The file system refusing the database's files (Node's errno codes). */
const FILE_SYSTEM: Record<string, string> = {
  ENOSPC: 'The database’s disk is full',
  EDQUOT: 'The database’s disk quota is used up',
  EROFS: 'The database’s file system is read-only',
  EACCES: 'The database’s files cannot be written (permission denied)',
  EPERM: 'The database’s files cannot be written (permission denied)',
  ENOENT: 'The database file is gone',
  EIO: 'The database’s disk failed to read or write',
};

/**
 * Why the store cannot take writes, when an error says it is the store itself: SQLite's
 * SQLITE_FULL, SQLITE_READONLY*, SQLITE_CANTOPEN*, SQLITE_IOERR*, MongoDB's equivalents, or the
 * file system under the database. Undefined for any other error (a busy lock, a bug).
 */
export function storeFault(error: unknown): { code: string; reason: string } | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { name, code, codeName, syscall } = error as { name?: unknown; code?: unknown; codeName?: unknown; syscall?: unknown };
  if (name === 'SqliteError' && typeof code === 'string') {
    if (code.startsWith('SQLITE_FULL')) return { code, reason: 'The database’s disk is full' };
    if (code.startsWith('SQLITE_READONLY')) return { code, reason: 'The database is read-only' };
    if (code.startsWith('SQLITE_CANTOPEN')) return { code, reason: 'The database file cannot be opened' };
    if (code.startsWith('SQLITE_IOERR')) return { code, reason: 'The database’s disk failed to read or write' };
  }
  if (typeof name === 'string' && name.startsWith('Mongo') && typeof codeName === 'string' && MONGO_CANNOT_WRITE[codeName]) return { code: codeName, reason: MONGO_CANNOT_WRITE[codeName] };
  if (typeof syscall === 'string' && typeof code === 'string' && FILE_SYSTEM[code]) return { code, reason: FILE_SYSTEM[code] };
  return undefined;
}

export function toShopError(error: unknown): ShopError {
  if (isShopError(error)) return error;
  const fault = storeFault(error);
  if (fault) {
    return { ...shopError(503, 'STORE_UNAVAILABLE', `${fault.reason}; nothing was saved. Try again later`, { cause: fault.code }), retryAfterSeconds: STORE_RETRY_AFTER_SECONDS };
  }
  // By name, not instanceof: a native driver's errors may come from another realm (jest's, a bundle's).
  const name = typeof error === 'object' && error !== null && typeof (error as { name?: unknown }).name === 'string' ? (error as { name: string }).name : '';
  if (UNREACHABLE.test(name)) return unavailable('The database is unreachable');
  if (name === 'SqliteError' && SQLITE_BUSY.test(String((error as { code?: unknown }).code))) return unavailable('The database is busy; try again');
  // Data written by an earlier version that has not been imported yet: its message says what to run.
  if (name === 'LegacyDataError') return shopError(503, 'NOT_CONFIGURED', String((error as { message?: unknown }).message));
  return shopError(500, 'INTERNAL', 'Something went wrong on our side');
}
