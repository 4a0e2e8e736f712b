/**
 * zod, imported by name: `import { z } from 'zod'` drags the whole library, every locale
 * included, into each function's bundle (about 450 KB minified); the few builders the shop
 * uses come to about 90 KB. Use `z` from here exactly as zod's own.
 */
import { array, boolean, email, enum as enumOf, literal, number, object, record, strictObject, string, union, unknown, url } from 'zod';
import type { output, ZodType as AnySchema } from 'zod';

export const z = { array, boolean, email, enum: enumOf, literal, number, object, record, strictObject, string, union, unknown, url };

// eslint-disable-next-line @typescript-eslint/no-namespace -- the types zod users write as z.infer and z.ZodType
export declare namespace z {
  type infer<T extends AnySchema> = output<T>;
  type ZodType<T = unknown> = AnySchema<T>;
}
