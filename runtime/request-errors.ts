/**
 * What a replica answers when the template's Express app refuses a request before the function
 * runs: a body that does not decode (bad gzip or deflate), a Content-Encoding or charset it does
 * not support (br, compress), a body over MAX_RAW_SIZE, a path that is not valid
 * percent-encoding, a method it has no route for. The template answers those with Express's HTML
 * error page, with a stack trace and host paths unless NODE_ENV=production; a replica answers
 * the shop's JSON error with the same 4xx status instead, so no caller ever gets HTML or a trace.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express4';
import { errorBody, shopError, type ErrorCode } from '../core/errors';

const JSON_TYPE = 'application/json; charset=utf-8';

function describe(error: { type?: string; status?: number; code?: string; limit?: number; encoding?: string; charset?: string; name?: string }): { code: ErrorCode; message: string } {
  if (error.type === 'entity.too.large') return { code: 'PAYLOAD_TOO_LARGE', message: `A request body is at most ${error.limit} bytes` };
  if (error.type === 'encoding.unsupported') return { code: 'UNSUPPORTED_MEDIA_TYPE', message: `Content-Encoding ${error.encoding} is not supported: send the body as is, or gzip or deflate` };
  if (error.type === 'charset.unsupported') return { code: 'UNSUPPORTED_MEDIA_TYPE', message: `The charset ${error.charset} is not supported: send UTF-8` };
  if (error.type === 'request.aborted' || error.type === 'request.size.invalid') return { code: 'INVALID_INPUT', message: 'The request body ended before its length' };
  if (typeof error.code === 'string' && error.code.startsWith('Z_')) return { code: 'INVALID_INPUT', message: 'The body does not decode as its Content-Encoding says' };
  if (error.name === 'URIError') return { code: 'INVALID_INPUT', message: 'The path is not valid percent-encoding' };
  return { code: 'INVALID_INPUT', message: 'The request could not be read' };
}

/** Express's error handler, as the last middleware: 4xx as the shop's JSON error, anything else a plain 500. */
export const requestErrorsAsJson: ErrorRequestHandler = (error: unknown, _req, res, next) => {
  if (res.headersSent) return next(error);
  const e = (error ?? {}) as Parameters<typeof describe>[0] & { statusCode?: number };
  const status = e.status ?? e.statusCode ?? 500;
  let failure = shopError(500, 'INTERNAL', 'Something went wrong on our side');
  if (status >= 400 && status < 500) {
    const { code, message } = describe(e);
    failure = shopError(status, code, message);
  } else console.error(error);
  res.status(failure.status).set({ 'Content-Type': JSON_TYPE, 'Cache-Control': 'no-store' }).send(JSON.stringify(errorBody(failure)));
};

/** A method the template has no route for (HEAD, TRACE, PROPFIND...): 405, not Express's "Cannot X /" page. */
export const unroutedAsJson: RequestHandler = (req, res) => {
  res.status(405).set({ 'Content-Type': JSON_TYPE, Allow: 'GET, POST, PUT, PATCH, DELETE, OPTIONS' }).send(JSON.stringify(errorBody(shopError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not served by functions`))));
};
