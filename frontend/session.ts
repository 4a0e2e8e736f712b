/**
 * The anonymous shopper session: a random 128-bit shopperId in a signed cookie
 * (HttpOnly, SameSite=Lax, Secure over HTTPS), a CSRF token bound to it, the header's cart
 * count and one-shot flash messages. Stateless: everything is signed with the cookie secret,
 * nothing is stored. Cookies are parsed and signed by cookie-parser (Express's own), the
 * forms protected by csrf-csrf (a double-submit token whose HMAC names the shopper).
 */
import { randomBytes } from 'node:crypto';
import cookieParser, { signedCookie } from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import type { CookieOptions, NextFunction, Request, Response } from 'express';
import { z } from '../core/zod';

const SHOPPER_COOKIE = 'shopper';
const FLASH_COOKIE = 'flash';
const CART_COOKIE = 'cart';
const CSRF_COOKIE = 'csrf';
const YEAR_MS = 365 * 24 * 3600 * 1000;
const ShopperId = /^[A-Za-z0-9_-]{22}$/;

const Flash = z.object({ kind: z.enum(['success', 'error']), text: z.string().max(1000) });
export type Flash = z.infer<typeof Flash>;

export interface Session {
  shopperId: string;
  /** The form token, minted (with its cookie) by the first page that shows a form. */
  readonly csrfToken: string;
  flash?: Flash;
  /** Units in the cart as this browser last saw them: the header's count, without a call. */
  cartCount: number;
}

declare module 'express-serve-static-core' {
  interface Request {
    session: Session;
  }
}

export function createSessions(secret: string) {
  const parseCookies = cookieParser(secret);
  const cookieOptions = (req: Request): CookieOptions => ({ httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/' });
  const csrf = doubleCsrf({
    getSecret: () => secret,
    getSessionIdentifier: (req) => req.session.shopperId,
    cookieName: CSRF_COOKIE,
    getCsrfTokenFromRequest: (req) => (typeof req.body?._csrf === 'string' ? req.body._csrf : undefined),
  });

  /** The shopper's id from a valid signed cookie; undefined for a new, forged or malformed one. */
  function knownShopper(req: Request): string | undefined {
    const signed: unknown = req.signedCookies[SHOPPER_COOKIE];
    if (typeof signed === 'string') return ShopperId.test(signed) ? signed : undefined;
    // Cookies signed before cookie-parser: `id.` + the same HMAC-SHA256 in base64url. Checked by
    // cookie-signature, so shoppers who came before keep their cart and orders.
    const legacy: unknown = req.cookies[SHOPPER_COOKIE];
    if (typeof legacy !== 'string' || !/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/.test(legacy)) return undefined;
    const [id, mac] = legacy.split('.') as [string, string];
    return signedCookie(`s:${id}.${mac.replace(/-/g, '+').replace(/_/g, '/')}`, secret) === id ? id : undefined;
  }

  function readFlash(req: Request, res: Response): Flash | undefined {
    if (!(FLASH_COOKIE in req.cookies) && !(FLASH_COOKIE in req.signedCookies)) return undefined;
    res.clearCookie(FLASH_COOKIE, cookieOptions(req));
    const flash = Flash.safeParse(req.signedCookies[FLASH_COOKIE]);
    return flash.success ? flash.data : undefined;
  }

  /**
   * The shopper's form token: the one in their cookie while a form carrying it would pass (the
   * library's own check, on a view of the request whose form sends it back: what it reads of a
   * request is the cookies and what this file's options read), so that a page sets the cookie
   * only when it mints a token rather than on every view; a new one otherwise. The cookie is thus
   * not renewed by each visit: a year after it was minted the browser drops it, and the next page
   * mints another (like the shopper cookie).
   */
  function formToken(req: Request, res: Response): string {
    const kept: unknown = req.cookies[CSRF_COOKIE];
    const formSendingItBack: Pick<Request, 'cookies' | 'session' | 'body'> = { cookies: req.cookies, session: req.session, body: { _csrf: kept } };
    if (typeof kept === 'string' && csrf.validateRequest(formSendingItBack as Request)) return kept;
    return csrf.generateCsrfToken(req, res, { overwrite: true, cookieOptions: { ...cookieOptions(req), maxAge: YEAR_MS } });
  }

  const session = (req: Request, res: Response, next: NextFunction): void => {
    let shopperId = knownShopper(req);
    if (!shopperId || typeof req.signedCookies[SHOPPER_COOKIE] !== 'string') {
      shopperId ??= randomBytes(16).toString('base64url');
      res.cookie(SHOPPER_COOKIE, shopperId, { ...cookieOptions(req), signed: true, maxAge: YEAR_MS });
    }
    // The count is bound to the shopper, so it never travels to another shopper's session.
    const [owner, count] = String(req.signedCookies[CART_COOKIE] || '').split(':');
    const cartCount = owner === shopperId && /^\d{1,4}$/.test(count ?? '') ? Number(count) : 0;
    let csrfToken: string | undefined;
    req.session = {
      shopperId,
      get csrfToken() {
        csrfToken ??= formToken(req, res);
        return csrfToken;
      },
      flash: readFlash(req, res),
      cartCount,
    };
    next();
  };

  return {
    /** Parses the cookies, gives every visitor a shopperId (new ones a fresh cookie) and reads the flash. */
    middleware: [parseCookies, session],

    /** Remembers the cart's size after the storefront saw the cart. */
    cartSeen(req: Request, res: Response, units: number): void {
      req.session.cartCount = units;
      res.locals.cartCount = units;
      res.cookie(CART_COOKIE, `${req.session.shopperId}:${units}`, { ...cookieOptions(req), signed: true, maxAge: YEAR_MS });
    },

    /** Every POST carries the session's CSRF token in the form field _csrf, matching its cookie. */
    csrfValid: (req: Request): boolean => csrf.validateRequest(req),

    flash(req: Request, res: Response, flash: Flash): void {
      res.cookie(FLASH_COOKIE, flash, { ...cookieOptions(req), signed: true, maxAge: 60_000 });
    },
  };
}
