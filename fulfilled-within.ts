/**
 * Whether `promise` fulfils within `ms`: true when it does, false once `ms` have passed first (the promise is then
 * left to settle on its own, and a later rejection of it is not reported). A rejection within `ms` is thrown. The
 * timer is cleared either way, so a wait that ends early keeps nothing alive.
 */
export async function fulfilledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
