/** The storefront's settings from the environment that are whole numbers above 0. */
export function positive(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new Error(`${name} is a whole number above 0 (got ${text})`);
  return Number(text);
}
