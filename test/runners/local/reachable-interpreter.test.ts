import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REACHABLE_RUNTIMES_DIR, reachableInterpreter } from '../../../runners/local/reachable-interpreter';
import { detectRuntimes } from '../../../runners/local/runtime-registry';

const NOBODY = { uid: 65534, gid: 65534 };
// The file is exec'd by a shell already running as nobody (setpriv itself still holds root's capabilities when it execs).
const runsAsNobody = (file: string, args: string[]) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/sh', '-c', 'exec "$@"', 'sh', file, ...args], { encoding: 'utf8' });
const asRoot = process.getuid?.() === 0 ? test : test.skip;

asRoot('an interpreter under a directory the sandbox user cannot search (a checkout in /root or a 0700 mktemp dir) is linked where it can, and runs from there', () => {
  const privateDir = mkdtempSync(join(tmpdir(), 'eo-private-')); // 0700, root's
  try {
    const hidden = join(privateDir, 'node');
    copyFileSync(process.execPath, hidden);
    chmodSync(hidden, 0o755);
    const [node] = detectRuntimes({ node: hidden }).filter((r) => r.language === 'node');
    expect(runsAsNobody(hidden, ['--version']).status).not.toBe(0);

    const reachable = reachableInterpreter(node!, NOBODY);
    expect(reachable.interpreter.startsWith(`${REACHABLE_RUNTIMES_DIR}/node-${node!.version}-`)).toBe(true);
    expect(runsAsNobody(reachable.interpreter, ['--version']).stdout.trim()).toBe(`v${node!.version}`);
    expect(reachableInterpreter(node!, NOBODY).interpreter).toBe(reachable.interpreter); // staged once
  } finally {
    rmSync(privateDir, { recursive: true, force: true });
  }
});

asRoot('an interpreter the sandbox user can reach is used where it is', () => {
  const [bash] = detectRuntimes().filter((r) => r.language === 'bash');
  expect(reachableInterpreter(bash!, NOBODY).interpreter).toBe(bash!.interpreter);
});
