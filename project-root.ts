import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The checkout: the nearest folder above `from` holding prisma/schema.prisma. Works from the sources and
 * from dist/ (which has a package.json of its own, emitted by tsc, but no prisma/ folder).
 */
export function projectRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'prisma', 'schema.prisma'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no project root (prisma/schema.prisma) above ${from}`);
  }
}
