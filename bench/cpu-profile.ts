// Reads the V8 CPU profiles that `node --cpu-prof` writes at exit and says where the time went: self time per
// function and per package (node_modules/<package>, node: internals, our own files), the busiest first.
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  process: string;
  /** Wall time the profile covers, and how much of it the main thread was busy (not idle, not GC'd apart). */
  wallMs: number;
  busyMs: number;
  byPackage: Array<{ name: string; ms: number }>;
  byFunction: Array<{ name: string; ms: number }>;
}

const IDLE = new Set(['(idle)', '(program)', '(root)']);

/** node_modules/@scope/name or node_modules/name, `node:` internals, else the file relative to the checkout. */
function packageOf(url: string, root: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const file = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  const i = file.lastIndexOf('node_modules/');
  if (i >= 0) {
    const parts = file.slice(i + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return path.relative(root, file).split(path.sep).slice(0, 2).join('/');
}

export function summarizeProfile(file: string, processName: string, root: string, top = 12): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const packages = new Map<string, number>();
  const functions = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)!;
    if (IDLE.has(callFrame.functionName)) continue;
    busyUs += us;
    const pkg = callFrame.functionName === '(garbage collector)' ? '(garbage collector)' : packageOf(callFrame.url, root);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
    const fn = `${callFrame.functionName || '(anonymous)'} ${pkg}:${callFrame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const ranked = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, ms: Math.round(us / 1000) }));
  return {
    process: processName,
    wallMs: Math.round((profile.endTime - profile.startTime) / 1000),
    busyMs: Math.round(busyUs / 1000),
    byPackage: ranked(packages),
    byFunction: ranked(functions),
  };
}

/** Every profile under `dir/<process>/`, summarised. */
export function summarizeProfiles(dir: string, root: string): ProfileSummary[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).flatMap((name) =>
    fs.readdirSync(path.join(dir, name)).filter((f) => f.endsWith('.cpuprofile')).map((f) => summarizeProfile(path.join(dir, name, f), name, root)),
  );
}

export function profileMarkdown(summaries: readonly ProfileSummary[]): string[] {
  const lines: string[] = [];
  for (const s of summaries) {
    const pct = (ms: number) => `${((ms / Math.max(1, s.busyMs)) * 100).toFixed(1)} %`;
    lines.push('', `### ${s.process}: busy ${s.busyMs} ms of ${s.wallMs} ms`, '', '| package | self ms | share |', '| --- | --- | --- |');
    for (const p of s.byPackage) lines.push(`| ${p.name} | ${p.ms} | ${pct(p.ms)} |`);
    lines.push('', '| function | self ms | share |', '| --- | --- | --- |');
    for (const f of s.byFunction) lines.push(`| \`${f.name}\` | ${f.ms} | ${pct(f.ms)} |`);
  }
  return lines;
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: tsx bench/cpu-profile.ts <dir with one folder of .cpuprofile files per process>\n');
    process.exit(2);
  }
  process.stdout.write(`${profileMarkdown(summarizeProfiles(dir, path.resolve(__dirname, '..'))).join('\n')}\n`);
}
