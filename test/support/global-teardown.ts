import { existsSync, readFileSync, rmSync } from 'node:fs';
import { downPart } from '../../stack';
import type { StackPart } from '../../stack';
import { STARTED_FILE } from './global-setup';

/** Removes the run's workflow bundles, and stops the stack parts the setup started; parts that were already running stay up. */
export default async function globalTeardown(): Promise<void> {
  if (process.env.EO_TEST_BUNDLE_DIR) rmSync(process.env.EO_TEST_BUNDLE_DIR, { recursive: true, force: true });
  if (!existsSync(STARTED_FILE)) return;
  const started = JSON.parse(readFileSync(STARTED_FILE, 'utf8')) as StackPart[];
  rmSync(STARTED_FILE);
  for (const part of [...started].reverse()) await downPart(part);
}
