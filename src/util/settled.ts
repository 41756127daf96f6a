/**
 * Waits for every promise (none is left running unobserved), then gives their values, or throws the failure of
 * the first one in the list that failed: where the list is in the order the work ran, that failure explains the
 * ones after it.
 */
export async function allInOrder<T extends readonly Promise<unknown>[]>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const got = await Promise.allSettled(promises);
  const failed = got.find((g): g is PromiseRejectedResult => g.status === 'rejected');
  if (failed) throw failed.reason;
  return got.map((g) => (g as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}
