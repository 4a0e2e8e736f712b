// Keep test output readable: the functions' JSON logs are muted unless LOG_LEVEL is set.
process.env.LOG_LEVEL ??= 'silent';
