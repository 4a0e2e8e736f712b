/**
 * The anonymous shopper session: a random 128-bit shopperId in a signed cookie
 * (HttpOnly, SameSite=Lax, Secure over HTTPS), a CSRF token bound to it, and one-shot flash
 * messages. Stateless: everything is signed with the cookie secret, nothing is stored.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

const SHOPPER_COOKIE = 'shopper';
const FLASH_COOKIE = 'flash';
const CART_COOKIE = 'cart';
const YEAR_MS = 365 * 24 * 3600 * 1000;

export interface Flash {
  kind: 'success' | 'error';
  text: string;
}

export interface Session {
  shopperId: string;
  csrfToken: string;
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
  const sign = (value: string) => createHmac('sha256', secret).update(value).digest('base64url');
  const signed = (value: string) => `${value}.${sign(value)}`;
  const verify = (cookie: string | undefined): string | undefined => {
    if (!cookie) return undefined;
    const dot = cookie.lastIndexOf('.');
    if (dot < 1) return undefined;
    const value = cookie.slice(0, dot);
    const given = Buffer.from(cookie.slice(dot + 1));
    const expected = Buffer.from(sign(value));
    return given.length === expected.length && timingSafeEqual(given, expected) ? value : undefined;
  };
  const csrfFor = (shopperId: string) => sign(`csrf:${shopperId}`);
  const cookieOptions = (req: Request) => ({ httpOnly: true, sameSite: 'lax' as const, secure: req.secure, path: '/' });

  function readFlash(req: Request, res: Response): Flash | undefined {
    const raw = verify(cookies(req)[FLASH_COOKIE]);
    if (!raw) return undefined;
    res.clearCookie(FLASH_COOKIE, cookieOptions(req));
    try {
      const flash = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Flash;
      return (flash.kind === 'success' || flash.kind === 'error') && typeof flash.text === 'string' ? flash : undefined;
    } catch {
      return undefined;
    }
  }

  return {
    /** Gives every visitor a shopperId (new ones get a fresh cookie) and reads the flash. */
    middleware(req: Request, res: Response, next: NextFunction): void {
      let shopperId = verify(cookies(req)[SHOPPER_COOKIE]);
      if (!shopperId || !/^[A-Za-z0-9_-]{22}$/.test(shopperId)) {
        shopperId = randomBytes(16).toString('base64url');
        res.cookie(SHOPPER_COOKIE, signed(shopperId), { ...cookieOptions(req), maxAge: YEAR_MS });
      }
      // The count is bound to the shopper, so it never travels to another shopper's session.
      const [owner, count] = (verify(cookies(req)[CART_COOKIE]) ?? '').split(':');
      const cartCount = owner === shopperId && /^\d{1,4}$/.test(count ?? '') ? Number(count) : 0;
      req.session = { shopperId, csrfToken: csrfFor(shopperId), flash: readFlash(req, res), cartCount };
      next();
    },

    /** Remembers the cart's size after the storefront saw the cart. */
    cartSeen(req: Request, res: Response, units: number): void {
      req.session.cartCount = units;
      res.locals.cartCount = units;
      res.cookie(CART_COOKIE, signed(`${req.session.shopperId}:${units}`), { ...cookieOptions(req), maxAge: YEAR_MS });
    },

    /** Every POST carries the session's CSRF token in the form field _csrf. */
    csrfValid(req: Request): boolean {
      const given = typeof req.body?._csrf === 'string' ? Buffer.from(req.body._csrf) : Buffer.alloc(0);
      const expected = Buffer.from(req.session.csrfToken);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },

    flash(req: Request, res: Response, flash: Flash): void {
      res.cookie(FLASH_COOKIE, signed(Buffer.from(JSON.stringify(flash)).toString('base64url')), { ...cookieOptions(req), maxAge: 60_000 });
    },
  };
}

/** The request's cookies (a tiny parser: names and values are ours, no quoting needed). */
function cookies(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try {
      out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      // A cookie that is not ours (or tampered with): ignored.
    }
  }
  return out;
}
