// Loaded by the Prisma CLI only (NODE_OPTIONS=--require): its WebAssembly engine leaves a 10 s
// timer pending, which keeps every migrate command alive ~10 s after its work is done.
const originalSetTimeout = global.setTimeout;
global.setTimeout = function patchedSetTimeout(fn, ms, ...args) {
  const timer = originalSetTimeout(fn, ms, ...args);
  if (typeof ms === 'number' && ms >= 10_000 && timer && typeof timer.unref === 'function') timer.unref();
  return timer;
};
