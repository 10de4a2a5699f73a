/** The bench commands' `--name=value` flags (after `npm run <script> --`). */

/** The value of `--name=…`, or `fallback` when the flag is not given. */
export function flag(name: string, fallback: string): string {
  const arg = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

/** The number of `--name=…`, or `fallback` when the flag is not given. */
export const numberFlag = (name: string, fallback: number): number => Number(flag(name, String(fallback)));
