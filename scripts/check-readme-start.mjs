#!/usr/bin/env node
// CI's check of the README's front door, run as a new user would (plain Node, no dependencies):
//   node scripts/check-readme-start.mjs start   runs the README's start line (`npm ci && npm start`) in
//     the background, waits for /readyz with a deadline, runs the README's example request until the
//     execution is `completed`, checks the Temporal Web UI answers, sends SIGINT as Ctrl-C would, and
//     checks that no process of this checkout and no stack port is left behind; then `npm start` again and
//     SIGTERM to npm's process alone (`kill <pid>`, a process manager), with the same check.
//   node scripts/check-readme-start.mjs test    prints the README's test line, for .ci/run to run.
// The commands are read from the README (the blocks after `<!-- check: … -->` markers), so the
// README and this check cannot drift apart.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const README = path.join(ROOT, 'README.md');
const READY_DEADLINE_MS = Number(process.env.CHECK_READY_DEADLINE_MS || 30 * 60_000);
const RUN_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 90_000;
const STACK_PORTS = [
  ['EO_PG_PORT', 54329],
  ['EO_TEMPORAL_PORT', 7233],
  ['EO_TEMPORAL_UI_PORT', 8233],
  ['EO_KAFKA_PORT', 19092],
  ['EO_KAFKA_CONTROLLER_PORT', 19093],
  ['EO_REDIS_PORT', 16379],
].map(([name, port]) => Number(process.env[name] || port));

const started = Date.now();
const say = (line) => console.log(`[readme-check +${Math.round((Date.now() - started) / 1000)}s] ${line}`);
class CheckFailed extends Error {}
const fail = (message) => {
  throw new CheckFailed(message);
};

/** The fenced block right after `<!-- check: <name> -->`. */
function readmeBlock(name) {
  const text = fs.readFileSync(README, 'utf8');
  const marker = `<!-- check: ${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) fail(`README.md has no '${marker}' marker: the front-door check reads its commands there`);
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at + marker.length));
  if (!match) fail(`README.md has no code block after '${marker}'`);
  return match[1].trim();
}

/** The block's first command line, its trailing `# comment` apart. */
function commandLine(block) {
  const [line] = block.split('\n');
  const hash = line.indexOf('  #');
  return { command: (hash < 0 ? line : line.slice(0, hash)).trim(), comment: hash < 0 ? '' : line.slice(hash + 3).trim() };
}

function urlAfter(comment, label) {
  const match = new RegExp(`${label} on (http://[^\\s,)]+)`).exec(comment);
  if (!match) fail(`the README's start line does not say '${label} on http://…' in its comment`);
  return match[1].replace(/\/$/, '');
}

function portOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function httpGet(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: String(err) };
  }
}

function bash(script) {
  return execFileSync('bash', ['-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
}

/** This process and every process above it: whatever ran the check (`bash -c 'cd <checkout> && bash .ci/run'`) is no leftover. */
function selfAndAncestors() {
  const pids = new Set();
  for (let pid = process.pid; pid > 1 && !pids.has(pid); ) {
    pids.add(pid);
    try {
      // Field 4 of /proc/<pid>/stat, after the command name in parentheses (which may hold spaces).
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return pids;
}

/** Processes whose command line or working dir is this checkout (the service, and the stack parts: their data lives in .stack/). */
function processesOfCheckout() {
  const mine = selfAndAncestors();
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || mine.has(Number(entry))) continue;
    let cmd;
    try {
      cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    let cwd = '';
    try {
      cwd = fs.readlinkSync(`/proc/${entry}/cwd`);
    } catch {
      // gone, or not ours to read
    }
    // The command line, or the working dir: `node dist/main.js` names the checkout in neither argument.
    const ours = cmd.includes(ROOT) || cwd === ROOT || cwd.startsWith(`${ROOT}/`);
    if (cmd && ours && !cmd.includes('check-readme-start')) found.push(`${entry}: ${cmd.slice(0, 160)}`);
  }
  return found;
}

async function checkStart() {
  const start = commandLine(readmeBlock('start'));
  const apiUrl = urlAfter(start.comment, 'API');
  const uiUrl = urlAfter(start.comment, 'Temporal UI');
  const apiPort = Number(new URL(apiUrl).port);
  for (const port of [apiPort, ...STACK_PORTS]) {
    if (await portOpen(port)) fail(`port ${port} is already taken before the start: this check needs a machine where nothing of ours runs`);
  }

  const logFile = path.join(os.tmpdir(), `readme-start-${process.pid}.log`);
  const log = fs.openSync(logFile, 'w');
  say(`running the README's start line: ${start.command}   (output: ${logFile})`);
  // Its own process group, as a terminal's foreground job is: Ctrl-C signals the whole group.
  const child = spawn('bash', ['-c', start.command], { cwd: ROOT, detached: true, stdio: ['ignore', log, log] });
  let exited;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  const tail = (n = 40) => fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  const interrupt = () => {
    try {
      process.kill(-child.pid, 'SIGINT');
    } catch {
      // already gone
    }
  };

  try {
    await untilReady(apiUrl, start.command, () => exited, tail);

    const submitBlock = readmeBlock('submit');
    const submitted = bash(submitBlock);
    let id;
    try {
      id = JSON.parse(submitted).id;
    } catch {
      fail(`the README's request did not answer with JSON:\n${submitted}`);
    }
    if (!id) fail(`the README's request answered without an id:\n${submitted}`);
    say(`the README's request started execution ${id}`);

    const read = readmeBlock('read').split('\n').find((l) => l.startsWith('curl '));
    if (!read?.includes('<id>')) fail(`the README's read block has no 'curl … <id>' line`);
    const runBy = Date.now() + RUN_DEADLINE_MS;
    let execution;
    for (;;) {
      execution = JSON.parse(bash(read.replaceAll('<id>', id)));
      if (!['queued', 'running'].includes(execution.status)) break;
      if (Date.now() > runBy) fail(`execution ${id} still ${execution.status} after ${RUN_DEADLINE_MS / 1000} s`);
      await sleep(250);
    }
    if (execution.status !== 'completed') fail(`execution ${id} ended '${execution.status}', not 'completed':\n${JSON.stringify(execution, null, 2)}`);
    say(`the README's read shows ${id} completed, stdout ${JSON.stringify(execution.result?.stdout)}`);

    const ui = await httpGet(uiUrl);
    if (ui.status !== 200 || !/<html/i.test(ui.body)) fail(`the Temporal Web UI at ${uiUrl} answered ${ui.status}`);
    say(`the Temporal Web UI answers at ${uiUrl}`);
  } catch (err) {
    interrupt();
    throw err;
  }

  say('Ctrl-C (SIGINT to the process group)');
  const stopAt = Date.now();
  interrupt();
  while (!exited) {
    if (Date.now() - stopAt > STOP_DEADLINE_MS) {
      process.kill(-child.pid, 'SIGKILL');
      fail(`still running ${STOP_DEADLINE_MS / 1000} s after SIGINT; last lines:\n${tail()}`);
    }
    await sleep(200);
  }
  say(`stopped in ${((Date.now() - stopAt) / 1000).toFixed(1)} s (${JSON.stringify(exited)})`);
  await nothingLeftBehind('Ctrl-C', apiPort);
  console.log(`\n--- npm start's output (banner on stderr) ---\n${tail(60)}\n---`);
  await checkTermToNpmAlone(apiUrl, apiPort, logFile);
}

/**
 * `npm start` again, then SIGTERM to npm's own process, not its group, as `kill <pid>` or a process manager sends
 * it: npm passes it to the script, whose `exec` made it the service itself, which stops as on Ctrl-C.
 */
async function checkTermToNpmAlone(apiUrl, apiPort, logFile) {
  say("npm start again, then SIGTERM to npm's process alone");
  const log = fs.openSync(logFile, 'a');
  const child = spawn('npm', ['start'], { cwd: ROOT, detached: true, stdio: ['ignore', log, log] });
  let exited;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  const tail = (n = 40) => fs.readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  try {
    await untilReady(apiUrl, 'npm start', () => exited, tail);
  } catch (err) {
    if (!exited) process.kill(-child.pid, 'SIGKILL');
    throw err;
  }
  const stopAt = Date.now();
  process.kill(child.pid, 'SIGTERM');
  while (!exited || processesOfCheckout().length > 0) {
    if (Date.now() - stopAt > STOP_DEADLINE_MS) {
      process.kill(-child.pid, 'SIGKILL');
      fail(`still running ${STOP_DEADLINE_MS / 1000} s after SIGTERM to npm alone:\n${processesOfCheckout().join('\n')}`);
    }
    await sleep(200);
  }
  say(`stopped in ${((Date.now() - stopAt) / 1000).toFixed(1)} s (${JSON.stringify(exited)})`);
  await nothingLeftBehind("SIGTERM to npm", apiPort);
}

/** Waits for `${apiUrl}/readyz` to answer 200; fails if `command` exits first or is not ready by the deadline. */
async function untilReady(apiUrl, command, exitedOf, tail) {
  const readyBy = Date.now() + READY_DEADLINE_MS;
  let lastNote = Date.now();
  for (;;) {
    if (exitedOf()) fail(`'${command}' exited (${JSON.stringify(exitedOf())}) before it was ready; last lines:\n${tail()}`);
    if ((await httpGet(`${apiUrl}/readyz`)).status === 200) break;
    if (Date.now() > readyBy) fail(`not ready within ${READY_DEADLINE_MS / 1000} s; last lines:\n${tail()}`);
    if (Date.now() - lastNote > 60_000) {
      lastNote = Date.now();
      say(`still starting; last line: ${tail(1).slice(0, 200)}`);
    }
    await sleep(500);
  }
  say(`ready: ${apiUrl}/readyz answers 200`);
}

/** Fails unless no process of this checkout and no port of ours is left (the kernel may take a moment with a port). */
async function nothingLeftBehind(after, apiPort) {
  const leftovers = async () => {
    const open = [];
    for (const port of [apiPort, ...STACK_PORTS]) if (await portOpen(port)) open.push(port);
    return { processes: processesOfCheckout(), open };
  };
  let left = await leftovers();
  for (let i = 0; i < 20 && (left.processes.length > 0 || left.open.length > 0); i++) {
    await sleep(250);
    left = await leftovers();
  }
  if (left.processes.length > 0) fail(`processes left behind after ${after}:\n${left.processes.join('\n')}`);
  if (left.open.length > 0) fail(`ports still open after ${after}: ${left.open.join(', ')}`);
  say(`nothing left behind after ${after}: no process of this checkout, no port open`);
}

const [what] = process.argv.slice(2);
try {
  if (what === 'test') console.log(commandLine(readmeBlock('test')).command);
  else if (what === 'start') await checkStart();
  else fail('usage: node scripts/check-readme-start.mjs start|test');
} catch (err) {
  console.error(err instanceof CheckFailed ? `[readme-check] FAILED: ${err.message}` : err);
  process.exitCode = 1;
}
