import path from 'node:path';
import { exampleRead, exampleSubmit } from './example-request';

// One block at the end of start-up with everything a person needs next: where things are,
// where their logs are, and a request to paste.

export interface BannerPart {
  name: string;
  endpoint: string;
  /** e.g. "started", "already running", "configured (DATABASE_URL)", or why it is missing. */
  state: string;
  logFile?: string;
}

export interface BannerInput {
  apiUrl: string;
  temporalUiUrl: string | undefined;
  parts: BannerPart[];
  /** This machine's admin key and its file (`npm start` creates it when there is no key at all). */
  adminKey?: { token: string | null; created: boolean; file: string };
  startedInMs: number;
}

export function readyBanner(input: BannerInput): string {
  const rule = '─'.repeat(72);
  const shortPath = (file: string): string => {
    const relative = path.relative(process.cwd(), file);
    return relative && !relative.startsWith('..') ? relative : file;
  };
  const width = Math.max(11, ...input.parts.map((p) => p.name.length));
  const row = (label: string, value: string): string => `  ${label.padEnd(width)}  ${value}`;
  const indent = (text: string): string =>
    text
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n');
  return [
    rule,
    `  execution-orchestrator is ready (started in ${(input.startedInMs / 1000).toFixed(1)} s)`,
    '',
    row('API', `${input.apiUrl}/api/v1`),
    row('API docs', `${input.apiUrl}/docs`),
    row('Temporal UI', input.temporalUiUrl ?? '(Temporal configured by TEMPORAL_ADDRESS: its own UI)'),
    row('metrics', `${input.apiUrl}/metrics`),
    row('codec', `${input.apiUrl}/codec (Temporal payloads are encrypted: the UI decodes through it; CLI: --codec-endpoint)`),
    ...input.parts.map((p) => row(p.name, [p.endpoint, p.state, p.logFile ? `log ${shortPath(p.logFile)}` : ''].filter(Boolean).join(' · '))),
    ...adminKeyRows(input.adminKey, row, shortPath),
    '',
    '  Try it:',
    indent(exampleSubmit(input.apiUrl)),
    '  then, with the id it answers:',
    indent(exampleRead(input.apiUrl)),
    '',
    '  Ctrl-C stops the service and the stack parts this start began.',
    rule,
  ].join('\n');
}

function adminKeyRows(key: BannerInput['adminKey'], row: (label: string, value: string) => string, shortPath: (file: string) => string): string[] {
  if (!key) return [];
  if (!key.token) return [row('admin key', `none in ${shortPath(key.file)}: npm run -s keys -- create --role admin --owner <you> > ${shortPath(key.file)}`)];
  return [row('admin key', `${key.token}${key.created ? ' (new)' : ''} · in ${shortPath(key.file)} (0600) · npm run keys -- create|list|revoke`)];
}
