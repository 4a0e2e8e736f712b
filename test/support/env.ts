// Each test file starts from the environment its jest worker started with: a file that sets a
// knob (SQLITE_BUSY_TIMEOUT_MS, exec_timeout, DATA_DIR...) must not change the next file run in
// the same worker, whose process.env it shares.
const holder = process as unknown as { shopTestEnv?: Record<string, string | undefined> };
holder.shopTestEnv ??= { ...process.env };
for (const name of Object.keys(process.env)) if (!(name in holder.shopTestEnv)) Reflect.deleteProperty(process.env, name);
Object.assign(process.env, holder.shopTestEnv);

// Keep test output readable: the functions' JSON logs are muted unless LOG_LEVEL is set.
process.env.LOG_LEVEL ??= 'silent';
