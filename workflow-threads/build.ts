import path from 'node:path';
import { buildIsolateWatchdog } from './isolate-watchdog';

/** `npm run build`'s last step: the shared workflow watchdog addon. Skipping is not an error: workers then use the SDK's. */
function main(): void {
  const build = buildIsolateWatchdog();
  if ('skipped' in build) process.stderr.write(`isolate watchdog not built: ${build.skipped}; workers will use the SDK's watchdog thread per call\n`);
  else if (build.built) process.stdout.write(`isolate watchdog built: ${path.relative(process.cwd(), build.addonPath)}\n`);
}

main();
