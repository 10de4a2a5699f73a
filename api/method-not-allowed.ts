import type { RequestHandler } from 'express';
import { HttpError } from './problem';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

/**
 * 405 with `Allow` for a method the document does not declare on a path it describes (an unknown path stays a
 * 404). Decided from the OpenAPI document's paths, before any route runs, so that `GET /executions/batch` is a
 * 405 rather than a lookup of the execution "batch"; a literal path wins over a template. OPTIONS passes on:
 * the codec routes answer CORS preflights, and Express answers the rest with their `Allow`.
 */
export function methodNotAllowed(paths: Record<string, Record<string, unknown>>): RequestHandler {
  const templates = Object.entries(paths)
    .map(([path, operations]) => {
      const declared = Object.keys(operations).filter((m) => METHODS.includes(m)).map((m) => m.toUpperCase());
      const allow = declared.includes('GET') && !declared.includes('HEAD') ? [...declared, 'HEAD'] : declared;
      const pattern = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+');
      return { path, params: (path.match(/\{/g) ?? []).length, re: new RegExp(`^${pattern}/?$`), allow };
    })
    .sort((a, b) => a.params - b.params);
  return (req, _res, next) => {
    if (req.method === 'OPTIONS') return next();
    const template = templates.find((t) => t.re.test(req.path));
    if (!template || template.allow.includes(req.method)) return next();
    const allow = template.allow.join(', ');
    next(new HttpError(405, 'method-not-allowed', 'Method Not Allowed', `${req.method} is not allowed on ${template.path}; allowed: ${allow}`, { allowed: template.allow }, { Allow: allow }));
  };
}
