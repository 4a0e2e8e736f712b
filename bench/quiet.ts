/**
 * Benches run muted unless LOG_LEVEL says otherwise. Imported first: the logger reads LOG_LEVEL
 * once, when it is loaded.
 */
process.env.LOG_LEVEL ??= 'silent';
