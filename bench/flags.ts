/** The bench commands' `--name=value` flags (after `npm run <script> --`). */

/** The value of `--name=…`, or `fallback` when the flag is not given. */
export function flag(name: string, fallback: string): string {
  const arg = process.argv.slice(2).find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

export interface NumberRule {
  /** Smallest value allowed. @default 0 */
  min?: number;
  /** Only whole numbers. @default true */
  whole?: boolean;
}

function checked(name: string, text: string, { min = 0, whole = true }: NumberRule): number {
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value) || value < min || (whole && !Number.isInteger(value))) {
    throw new Error(`--${name} must be ${whole ? 'a whole number' : 'a number'} ≥ ${min}, got '${text}'`);
  }
  return value;
}

/**
 * The number of `--name=…`, or `fallback` when the flag is not given.
 * @throws Error naming the flag when it is not a number the rule allows (a typo must not run a bench of NaN).
 */
export const numberFlag = (name: string, fallback: number, rule: NumberRule = {}): number => checked(name, flag(name, String(fallback)), rule);

/** `--name=a,b,c` as numbers, each checked as {@link numberFlag} checks one. @throws Error naming the flag. */
export const numbersFlag = (name: string, fallback: string, rule: NumberRule = {}): number[] =>
  flag(name, fallback)
    .split(',')
    .map((part) => checked(name, part, rule));
