/**
 * Reads stack.yml the way faas-cli does: `${VAR}` and `${VAR:-default}` substituted from the
 * environment, then YAML. The schema holds what faas-cli and OpenFaaS CE accept, so a file
 * that passes here is one `faas-cli up` takes.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from '../core/zod';

export const CE_MAX_FUNCTIONS = 15;
export const CE_MAX_REPLICAS = 5;
const FUNCTION_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** The only autoscaling labels OpenFaaS CE accepts. */
const CE_SCALE_LABELS = new Set(['com.openfaas.scale.min', 'com.openfaas.scale.max']);

const StringMap = z.record(z.string(), z.string());
const Resources = z.strictObject({ memory: z.string().optional(), cpu: z.string().optional() });

/**
 * The templates the local runtime runs: node22 has node20's contract (the same index.js,
 * watchdog settings and `npm test` at build), on a Node 22 image; here both run on the
 * runtime's own Node.
 */
export const LOCAL_TEMPLATES = ['node20', 'node22'] as const;

export const StackFunction = z
  .strictObject({
    lang: z.enum(LOCAL_TEMPLATES, { error: (issue) => `the local runtime runs the ${LOCAL_TEMPLATES.join(' and ')} templates, not ${String(issue.input)}` }),
    handler: z.string().min(1),
    image: z.string().regex(/^[^\s/]+(\/[^\s/]+)+$/, 'an image is REGISTRY/NAME[:TAG] and must contain a /'),
    environment: StringMap.optional(),
    environment_file: z.array(z.string()).optional(),
    secrets: z.array(z.string().regex(FUNCTION_NAME)).optional(),
    labels: StringMap.optional(),
    annotations: StringMap.optional(),
    limits: Resources.optional(),
    requests: Resources.optional(),
    build_args: StringMap.optional(),
    build_options: z.array(z.string()).optional(),
    readonly_root_filesystem: z.boolean().optional(),
    namespace: z.string().optional(),
    skip_build: z.boolean().optional(),
    constraints: z.array(z.string()).optional(),
  })
  .superRefine((fn, ctx) => {
    for (const [key, value] of Object.entries(fn.labels ?? {})) {
      if (!key.startsWith('com.openfaas.scale.')) continue;
      if (!CE_SCALE_LABELS.has(key)) {
        ctx.addIssue({ code: 'custom', path: ['labels', key], message: 'OpenFaaS CE rejects this autoscaling label' });
      } else if (!/^[1-5]$/.test(value)) {
        ctx.addIssue({ code: 'custom', path: ['labels', key], message: `OpenFaaS CE accepts 1..${CE_MAX_REPLICAS}` });
      }
    }
    const min = Number(fn.labels?.['com.openfaas.scale.min'] ?? 1);
    const max = Number(fn.labels?.['com.openfaas.scale.max'] ?? CE_MAX_REPLICAS);
    if (min > max) ctx.addIssue({ code: 'custom', path: ['labels'], message: 'scale.min is above scale.max' });
  });
export type StackFunction = z.infer<typeof StackFunction>;

export const StackFile = z.strictObject({
  version: z.literal('1.0'),
  provider: z.strictObject({ name: z.literal('openfaas'), gateway: z.url() }),
  functions: z
    .record(z.string().regex(FUNCTION_NAME, 'a function name is lowercase letters, digits and inner dashes'), StackFunction)
    .refine((fns) => Object.keys(fns).length <= CE_MAX_FUNCTIONS, `OpenFaaS CE runs at most ${CE_MAX_FUNCTIONS} functions`),
  configuration: z
    .strictObject({
      templates: z.array(z.strictObject({ name: z.string(), source: z.string().optional() })).optional(),
      copy: z.array(z.string()).optional(),
    })
    .optional(),
});
export type StackFile = z.infer<typeof StackFile>;

/** faas-cli's substitution: ${VAR} and ${VAR:-default}; an unset VAR without default is empty. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
    const value = env[name];
    return value !== undefined && value !== '' ? value : (fallback ?? '');
  });
}

export function parseStack(text: string, env: NodeJS.ProcessEnv = process.env): StackFile {
  // version: 1.0 is a YAML number; faas-cli reads it as the string "1.0".
  const raw = parse(substituteEnv(text, env), { merge: true }) as Record<string, unknown> | null;
  if (raw && typeof raw.version === 'number') raw.version = raw.version.toFixed(1);
  return StackFile.parse(raw);
}

export function readStack(path: string, env: NodeJS.ProcessEnv = process.env): StackFile {
  return parseStack(readFileSync(path, 'utf8'), env);
}
