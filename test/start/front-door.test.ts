import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exampleRead, exampleSubmit } from '../../start/example-request';
import { readyBanner } from '../../start/ready-banner';
import { claimStart, StartRefused } from '../../start/single-instance';
import { createProgress } from '../../stack/progress';
import { waitFor } from '../../stack/wait';

const README = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

function readmeBlock(name: string): string {
  const marker = `<!-- check: ${name} -->`;
  const at = README.indexOf(marker);
  expect(at).toBeGreaterThanOrEqual(0);
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(README.slice(at + marker.length));
  return match?.[1] ?? '';
}

describe('the front door', () => {
  it('shows in the ready banner the very request the README shows (and CI runs)', () => {
    const base = 'http://127.0.0.1:3000';
    expect(readmeBlock('submit').startsWith(`${exampleSubmit(base)}\n`)).toBe(true);
    expect(readmeBlock('read').split('\n')[0]).toBe(exampleRead(base));
    const banner = readyBanner({ apiUrl: base, temporalUiUrl: 'http://127.0.0.1:8233', parts: [], startedInMs: 1234 });
    expect(banner).toContain(exampleSubmit(base).split('\n')[0]);
    expect(banner).toContain('http://127.0.0.1:8233');
    expect(banner).toContain(`${base}/docs`);
  });

  it("shows this machine's admin key and its file in the ready banner, or how to make one", () => {
    const base = { apiUrl: 'http://127.0.0.1:3000', temporalUiUrl: undefined, parts: [], startedInMs: 1 };
    const file = path.join(process.cwd(), '.stack', 'admin-key');
    const shown = readyBanner({ ...base, adminKey: { token: 'eo_0123456789_secret', created: true, file } });
    expect(shown).toMatch(/admin key\s+eo_0123456789_secret \(new\) · in \.stack\/admin-key \(0600\)/);
    const none = readyBanner({ ...base, adminKey: { token: null, created: false, file } });
    expect(none).toMatch(/admin key\s+none in \.stack\/admin-key: npm run -s keys -- create --role admin --owner <you> > \.stack\/admin-key/);
    // The README's requests read the key from that file.
    expect(readmeBlock('submit')).toContain('$(cat .stack/admin-key)');
  });

  it('says where each stack part is and where its log is in the ready banner', () => {
    const banner = readyBanner({
      apiUrl: 'http://127.0.0.1:3000',
      temporalUiUrl: undefined,
      parts: [
        { name: 'postgres', endpoint: '127.0.0.1:54329', state: 'started', logFile: '/somewhere/postgres.log' },
        { name: 'kafka', endpoint: '', state: 'configured by KAFKA_BROKERS' },
      ],
      startedInMs: 5000,
    });
    expect(banner).toMatch(/postgres\s+127\.0\.0\.1:54329 · started · log \/somewhere\/postgres\.log/);
    expect(banner).toMatch(/kafka\s+configured by KAFKA_BROKERS/);
    expect(banner).toContain('started in 5.0 s');
  });
});

describe('one npm start per checkout', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eo-start-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a second start while the first runs, naming its pid', async () => {
    const pidFile = path.join(dir, 'npm-start.lock');
    // A stand-in for a running `node dist/main.js`: a live process with main.js on its command line.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'main.js'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(pidFile, `${other.pid}\n`);
      await expect(claimStart({ pidFile, host: '127.0.0.1', port: 0 })).rejects.toThrow(
        new RegExp(`another npm start of this checkout is running \\(pid ${other.pid}\\)`),
      );
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over the claim of a start that died, and gives it back on release', async () => {
    const pidFile = path.join(dir, 'npm-start.lock');
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((resolve) => dead.once('exit', resolve));
    fs.writeFileSync(pidFile, `${dead.pid}\n`);
    const claim = await claimStart({ pidFile, host: '127.0.0.1', port: 0 });
    expect(fs.readFileSync(pidFile, 'utf8').trim()).toBe(String(process.pid));
    claim.release();
    expect(fs.existsSync(pidFile)).toBe(false);
  });

  it('refuses at once when the API port is taken by another program, naming the port and PORT', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const pidFile = path.join(dir, 'npm-start.lock');
    try {
      const attempt = claimStart({ pidFile, host: '127.0.0.1', port });
      await expect(attempt).rejects.toBeInstanceOf(StartRefused);
      await expect(claimStart({ pidFile, host: '127.0.0.1', port })).rejects.toThrow(new RegExp(`port ${port} .*PORT=`));
      expect(fs.existsSync(pidFile)).toBe(false);
    } finally {
      server.close();
    }
  });

  it("refuses at once a mistyped local-stack variable (EO_BACK_CPU_WEIGHT), naming it", async () => {
    const tsx = path.join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
    const child = spawn(tsx, ['start/preflight.ts'], { cwd: path.join(__dirname, '..', '..'), env: { ...process.env, EO_BACK_CPU_WEIGHT: 'low' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('npm start: EO_BACK_CPU_WEIGHT must be an integer from 1 to 10000, or off (got "low")');
  });
});

describe('slow first-start steps', () => {
  it('say what they do, that they happen once, how long they take, and keep saying they are still going', async () => {
    const lines: string[] = [];
    const progress = createProgress({ say: (line) => lines.push(line), reminderMs: 50 });
    const step = { what: 'building a thing', label: 'thing', typically: '1–2 min', cachedIn: '/cache/thing', logFile: '/logs/thing.log' };
    await progress.step(step, () => waitFor('two reminders', async () => lines.filter((l) => l.startsWith('still building a thing')).length >= 2, { deadlineMs: 5000, intervalMs: 10 }));
    expect(lines[0]).toBe('building a thing: once only (kept in /cache/thing), usually 1–2 min; output in /logs/thing.log');
    expect(lines.at(-1)).toMatch(/^done building a thing in \d+ms$/);
  });

  it('name their log file when they fail, and pass the failure on', async () => {
    const lines: string[] = [];
    const progress = createProgress({ say: (line) => lines.push(line) });
    const step = { what: 'downloading', label: 'download', typically: '10 s', cachedIn: '/cache', logFile: '/logs/download.log' };
    await expect(progress.step(step, () => Promise.reject(new Error('no network')))).rejects.toThrow('no network');
    expect(lines.at(-1)).toMatch(/^FAILED downloading after \d+ms; log: \/logs\/download\.log$/);
  });
});
