#!/usr/bin/env node
// Kafka producer benchmark: @platformatic/kafka vs @confluentinc/kafka-javascript (KafkaJS-compatible API).
//
//   node run.mjs --brokers 127.0.0.1:19092 [--runs 5] [--error-runs 2] [--partitions 1,3] [--variants plt,ckjs,ckjs-l0]
//                [--latency-n 500] [--batch-total 20000] [--batch-size 100] [--down-brokers 127.0.0.1:1]
//                [--down-cap-ms 40000] [--outage-cap-ms 45000] [--no-perf] [--no-errors] [--no-outage] [--json results.json]
//   node run.mjs --report results.json      # re-print the tables of a saved run
//
// Measures (each in its own child process: fresh heap, clean RSS; one at a time; medians over runs):
//   perf     connect time, 1-message awaited send latency, throughput of awaited batches, RSS
//   errors   unreachable broker (127.0.0.1:1), 2 MB message vs the broker's 1 MB limit
//   outage   broker outage while connected (private network namespace + proxy; needs root and `unshare -n`)
// Needs Node >= 24.6 (@platformatic/kafka's engines) and the native addon built by ./setup.sh.
import { fork, spawn, spawnSync } from 'node:child_process'
import { createServer, connect as netConnect } from 'node:net'
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadavg, cpus } from 'node:os'

const require = createRequire(import.meta.url)
const SELF = fileURLToPath(import.meta.url)

// ---------------------------------------------------------------- args
function parseArgs(argv) {
  const a = {
    brokers: '127.0.0.1:19092',
    runs: 5,
    'error-runs': 2,
    partitions: '1,3',
    variants: 'plt,ckjs,ckjs-l0',
    'latency-n': 500,
    'batch-total': 20000,
    'batch-size': 100,
    'down-brokers': '127.0.0.1:1',
    'down-cap-ms': 40000,
    'outage-cap-ms': 45000,
    json: '',
    errors: true
  }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    if (k === '--no-errors') a.errors = false
    else if (k === '--no-perf') a.perf = false
    else if (k === '--no-outage') a.outage = false
    else if (k.startsWith('--')) {
      const [name, inline] = k.slice(2).split('=', 2)
      a[name] = inline ?? argv[++i]
    }
  }
  for (const k of ['runs', 'error-runs', 'latency-n', 'batch-total', 'batch-size', 'down-cap-ms', 'outage-cap-ms']) a[k] = Number(a[k])
  a.perf ??= true
  a.outage ??= true
  return a
}

// ---------------------------------------------------------------- variants
// plt     = @platformatic/kafka Producer, idempotent: true, acks: -1 (ALL)
// ckjs    = @confluentinc/kafka-javascript KafkaJS API, idempotent: true, acks: -1, librdkafka defaults (linger.ms=5)
// ckjs-l0 = same as ckjs with linger.ms=0 (no client-side batching delay), what a latency-sensitive relay would set
const VARIANTS = {
  plt: { client: 'platformatic', label: '@platformatic/kafka' },
  ckjs: { client: 'confluent', label: '@confluentinc/kafka-javascript (linger.ms=5 default)', rdkafka: {} },
  'ckjs-l0': { client: 'confluent', label: '@confluentinc/kafka-javascript (linger.ms=0)', rdkafka: { 'linger.ms': 0 } }
}

// ---------------------------------------------------------------- message shape (~600 B JSON, string key, 1 header)
const PAD = 'x'.repeat(600)
function makeMessage(i, valueBytes = 600) {
  const obj = {
    id: `0195f0c2-7a1b-7cde-8f00-${String(i).padStart(12, '0')}`,
    aggregateType: 'Order',
    aggregateId: `order-${i % 1000}`,
    eventType: 'OrderPlaced',
    occurredAt: new Date().toISOString(),
    payload: { customerId: `cust-${i % 97}`, currency: 'EUR', totalCents: 12345 + i, lines: 3, note: '' }
  }
  const base = JSON.stringify(obj).length
  const need = Math.max(0, valueBytes - base)
  obj.payload.note = need <= PAD.length ? PAD.slice(0, need) : 'x'.repeat(need)
  return { key: obj.aggregateId, value: JSON.stringify(obj), headers: { 'x-outbox-id': obj.id } }
}

// ---------------------------------------------------------------- client adapters
async function makeAdapter(variantName, brokers, extra = {}) {
  const v = VARIANTS[variantName]
  if (v.client === 'platformatic') {
    const { Producer, stringSerializers } = await import('@platformatic/kafka')
    let producer
    return {
      create() {
        producer = new Producer({
          clientId: 'bench-plt',
          bootstrapBrokers: brokers,
          serializers: stringSerializers,
          idempotent: true,
          acks: -1,
          ...extra
        })
      },
      // No explicit connect(): measure bootstrap metadata + InitProducerId, i.e. what the first send would do.
      async connect(topic) {
        await producer.metadata({ topics: [topic] })
        await producer.initIdempotentProducer({})
      },
      // resolves to the (lowest) offset written, for single-partition checks
      async send(topic, msgs) {
        const r = await producer.send({ messages: msgs.map(m => ({ topic, key: m.key, value: m.value, headers: m.headers })) })
        return Number(r.offsets?.[0]?.offset)
      },
      async close() {
        await producer.close(true)
      }
    }
  }
  const { KafkaJS } = require('@confluentinc/kafka-javascript')
  let producer
  return {
    create() {
      const kafka = new KafkaJS.Kafka({ kafkaJS: { brokers, clientId: 'bench-ckjs', logLevel: KafkaJS.logLevel.NOTHING } })
      producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1 }, ...v.rdkafka, ...extra })
    },
    async connect() {
      await producer.connect()
    },
    async send(topic, msgs) {
      const r = await producer.send({ topic, messages: msgs.map(m => ({ key: m.key, value: m.value, headers: { ...m.headers } })) })
      return Number(r[0]?.baseOffset)
    },
    async close() {
      await producer.disconnect()
    }
  }
}

// ---------------------------------------------------------------- error description
function describeError(e) {
  if (!e) return null
  const d = {
    class: e.constructor?.name,
    name: e.name,
    code: e.code,
    type: e.type,
    message: String(e.message).slice(0, 200)
  }
  for (const k of ['canRetry', 'retriable', 'fatal', 'abortable', 'apiId', 'apiCode', 'origin', 'errno']) {
    if (e[k] !== undefined) d[k] = e[k]
  }
  if (Array.isArray(e.errors) && e.errors.length) d.errors = e.errors.slice(0, 3).map(describeError)
  if (e.cause) d.cause = describeError(e.cause)
  return d
}

// Compact one-line rendering of the innermost useful error chain.
function summarizeError(d) {
  if (!d) return '-'
  const parts = []
  let cur = d
  for (let depth = 0; cur && depth < 4; depth++) {
    let s = `${cur.class}`
    if (cur.code !== undefined) s += ` code=${cur.code}`
    if (cur.type !== undefined) s += ` type=${cur.type}`
    if (cur.origin !== undefined) s += ` origin=${cur.origin}`
    if (cur.apiId !== undefined) s += ` apiId=${cur.apiId}(${cur.apiCode})`
    if (cur.canRetry !== undefined) s += ` canRetry=${cur.canRetry}`
    if (cur.retriable !== undefined) s += ` retriable=${cur.retriable}`
    parts.push(s)
    cur = cur.errors?.[0] ?? cur.cause
  }
  return parts.join(' > ')
}

// ---------------------------------------------------------------- workers (child processes)
const ms = t => Math.round(t * 100) / 100
function pct(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

async function workerPerf({ variant, brokers, topic, latencyN, batchTotal, batchSize }) {
  const rssBase = process.memoryUsage().rss
  const ti = performance.now()
  const adapter = await makeAdapter(variant, brokers) // imports the client library
  const importMs = performance.now() - ti
  const rssLoaded = process.memoryUsage().rss
  const t0 = performance.now()
  adapter.create()
  await adapter.connect(topic)
  const connectMs = performance.now() - t0
  let seq = 0
  const t1 = performance.now()
  await adapter.send(topic, [makeMessage(seq++)])
  const firstAckMs = performance.now() - t1

  // warm-up (not measured)
  for (let i = 0; i < 50; i++) await adapter.send(topic, [makeMessage(seq++)])

  // latency: one message awaited at a time
  const lat = []
  for (let i = 0; i < latencyN; i++) {
    const m = makeMessage(seq++)
    const s = performance.now()
    await adapter.send(topic, [m])
    lat.push(performance.now() - s)
  }
  lat.sort((a, b) => a - b)

  // throughput: batches of batchSize awaited per batch
  const batches = Math.ceil(batchTotal / batchSize)
  const batchLat = []
  const tb = performance.now()
  for (let b = 0; b < batches; b++) {
    const msgs = []
    for (let i = 0; i < batchSize; i++) msgs.push(makeMessage(seq++))
    const s = performance.now()
    await adapter.send(topic, msgs)
    batchLat.push(performance.now() - s)
  }
  const batchElapsed = performance.now() - tb
  batchLat.sort((a, b) => a - b)
  const rssAfter = process.memoryUsage().rss
  await adapter.close()
  return {
    importMs: ms(importMs),
    connectMs: ms(connectMs),
    firstAckMs: ms(firstAckMs),
    p50: ms(pct(lat, 50)),
    p99: ms(pct(lat, 99)),
    max: ms(lat[lat.length - 1]),
    mean: ms(lat.reduce((a, b) => a + b, 0) / lat.length),
    msgsPerSec: Math.round((batches * batchSize) / (batchElapsed / 1000)),
    batchP50: ms(pct(batchLat, 50)),
    batchP99: ms(pct(batchLat, 99)),
    rssBaseMB: +(rssBase / 2 ** 20).toFixed(1),
    rssLoadedMB: +(rssLoaded / 2 ** 20).toFixed(1),
    rssAfterMB: +(rssAfter / 2 ** 20).toFixed(1),
    sent: seq
  }
}

// Broker unreachable: how long until the first awaited call rejects, and with what.
//  - platformatic has no connect(); the first send() connects lazily, so that is what we time.
//  - confluent's KafkaJS API requires connect() before send(); connect() is what fails.
// Calls still pending after `capMs` are reported as such (platformatic's idempotent producer retries forever by default).
async function workerDown({ variant, downBrokers, topic, extra, capMs = 40000 }) {
  const adapter = await makeAdapter(variant, downBrokers, extra ?? {})
  const isPlt = VARIANTS[variant].client === 'platformatic'
  const out = { variant, extra: extra ?? {}, failedIn: isPlt ? 'send' : 'connect' }
  adapter.create()
  const t0 = performance.now()
  let timer
  const cap = new Promise(resolve => (timer = setTimeout(() => resolve('pending'), capMs)))
  const op = (isPlt ? adapter.send(topic, [makeMessage(0)]) : adapter.connect(topic)).then(
    () => 'resolved',
    e => {
      out.error = describeError(e)
      return 'rejected'
    }
  )
  out.outcome = await Promise.race([op, cap])
  clearTimeout(timer)
  out.timeToFailMs = out.outcome === 'rejected' ? ms(performance.now() - t0) : null
  if (out.outcome === 'pending') out.pendingAfterMs = capMs
  await Promise.race([adapter.close().catch(() => {}), new Promise(r => setTimeout(r, 3000))])
  return out
}

// Message too large: 2 MB value against the broker's default 1 MB max.message.bytes; then check the
// producer is still usable for normal messages (idempotent sequence state not wedged).
async function workerTooLarge({ variant, brokers, topic, rdkafkaExtra }) {
  const adapter = await makeAdapter(variant, brokers, rdkafkaExtra ?? {})
  const out = { variant, extra: rdkafkaExtra ?? {} }
  adapter.create()
  await adapter.connect(topic)
  await adapter.send(topic, [makeMessage(1)])
  const big = makeMessage(2, 2 * 1024 * 1024)
  const t0 = performance.now()
  try {
    await adapter.send(topic, [big])
    out.unexpectedSuccess = true
  } catch (e) {
    out.error = describeError(e)
  }
  out.timeToFailMs = ms(performance.now() - t0)
  const t1 = performance.now()
  let before
  try {
    before = await Promise.race([
      adapter.send(topic, [makeMessage(3)]),
      new Promise((_, rej) => setTimeout(() => rej(new Error('follow-up send timed out after 15 s')), 15000))
    ])
    out.followUpOk = true
  } catch (e) {
    out.followUpOk = false
    out.followUpError = describeError(e)
  }
  out.followUpMs = ms(performance.now() - t1)
  // Mixed batch: one good + one oversized message in one send() call (topic has 1 partition).
  // Does the call reject, and was the good message written anyway? (probe offset - previous offset - 1)
  try {
    await adapter.send(topic, [makeMessage(4), makeMessage(5, 2 * 1024 * 1024)])
    out.mixedBatch = 'resolved'
  } catch (e) {
    out.mixedBatch = summarizeError(describeError(e))
  }
  await new Promise(r => setTimeout(r, 200))
  const probe = await adapter.send(topic, [makeMessage(6)])
  out.mixedBatchGoodWritten = Number.isFinite(before) && Number.isFinite(probe) ? probe - before - 1 : null
  await Promise.race([adapter.close().catch(() => {}), new Promise(r => setTimeout(r, 5000))])
  return out
}

// Broker outage while connected. Runs inside a private network namespace (unshare -n) where
// 127.0.0.1:<broker port> is an in-process TCP proxy that reaches the real broker through a unix socket
// bridged by the parent. The broker advertises 127.0.0.1:<port>, so every client connection goes through
// the proxy, which we can then break:
//   mode 'refuse'    - close the listener and reset all connections (broker process died: ECONNREFUSED)
//   mode 'blackhole' - keep connections open but stop forwarding bytes (network partition / hung broker)
// Then: how long until send() rejects, with what; and does the producer recover when the proxy is restored?
async function workerOutage({ variant, extra, bridgePath, host, port, topic, mode, capMs, recoverCapMs = 30000 }) {
  const net = await import('node:net')
  const sockets = new Set()
  let state = 'up'
  const server = net.createServer(c => {
    if (state !== 'up') return c.destroy()
    const u = net.connect(bridgePath)
    const pair = { c, u }
    sockets.add(pair)
    const drop = () => { sockets.delete(pair); c.destroy(); u.destroy() }
    c.on('error', drop); u.on('error', drop); c.on('close', drop); u.on('close', drop)
    c.on('data', d => { if (state === 'up') u.write(d) })
    u.on('data', d => { if (state === 'up') c.write(d) })
  })
  const listen = () => new Promise((res, rej) => { server.once('error', rej); server.listen(port, host, () => { server.off('error', rej); res() }) })
  await listen()
  const adapter = await makeAdapter(variant, [`${host}:${port}`], extra ?? {})
  const out = { variant, extra: extra ?? {}, mode }
  adapter.create()
  await adapter.connect(topic)
  for (let i = 0; i < 5; i++) await adapter.send(topic, [makeMessage(i)])

  // outage
  if (mode === 'refuse') {
    state = 'down'
    server.close()
    for (const { c, u } of sockets) { if (c.resetAndDestroy) c.resetAndDestroy(); else c.destroy(); u.destroy() }
  } else {
    state = 'blackhole'
  }
  const t0 = performance.now()
  let settled = false
  const op = adapter.send(topic, [makeMessage(100)]).then(
    () => { settled = true; return 'resolved' },
    e => { settled = true; out.error = describeError(e); return 'rejected' }
  )
  let timer
  out.outcome = await Promise.race([op, new Promise(r => (timer = setTimeout(() => r('pending'), capMs)))])
  clearTimeout(timer)
  out.elapsedMs = ms(performance.now() - t0)
  if (out.outcome === 'pending') out.pendingAfterMs = capMs

  // restore
  if (mode === 'refuse') await listen()
  else for (const { c, u } of sockets) { c.destroy(); u.destroy() } // drop the wedged connections, accept new ones
  state = 'up'
  const tr = performance.now()
  if (!settled) {
    const r = await Promise.race([op, new Promise(res => setTimeout(() => res('still pending'), recoverCapMs))])
    out.pendingSendAfterRestore = `${r} after ${ms(performance.now() - tr)} ms`
  }
  // first successful send after restore (retry every 500 ms, as a relay would)
  out.recovered = false
  while (performance.now() - tr < recoverCapMs) {
    try {
      await Promise.race([adapter.send(topic, [makeMessage(200)]), new Promise((_, rej) => setTimeout(() => rej(new Error('send timeout 5s')), 5000))])
      out.recovered = true
      break
    } catch (e) {
      out.lastRecoveryError ??= summarizeError(describeError(e))
      await new Promise(r => setTimeout(r, 500))
    }
  }
  out.recoverMs = ms(performance.now() - tr)
  await Promise.race([adapter.close().catch(() => {}), new Promise(r => setTimeout(r, 3000))])
  server.close()
  return out
}

// ---------------------------------------------------------------- parent
// netns: run the worker in a fresh network namespace with only loopback (used by the outage test)
function runChild(job, { timeoutMs = 10 * 60 * 1000, netns = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = netns
      ? spawn('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, SELF, '--worker'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
      : fork(SELF, ['--worker'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
    let out = ''
    child.stdout.on('data', d => (out += d))
    child.stderr.on('data', d => (out += d))
    let result
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('message', m => (result = m))
    child.on('exit', code => {
      clearTimeout(timer)
      if (result?.ok) resolve(result.value)
      else reject(new Error(`worker ${job.kind}/${job.variant} failed (exit ${code}): ${result?.error ?? ''}\n${out.slice(-3000)}`))
    })
    child.send(job)
  })
}

const median = xs => {
  const s = xs.filter(x => typeof x === 'number').sort((a, b) => a - b)
  if (!s.length) return undefined
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function table(rows, cols) {
  const w = cols.map(c => Math.max(c.h.length, ...rows.map(r => String(r[c.k] ?? '').length)))
  const line = cells => '| ' + cells.map((c, i) => String(c).padEnd(w[i])).join(' | ') + ' |'
  return [line(cols.map(c => c.h)), '|' + w.map(x => '-'.repeat(x + 2)).join('|') + '|', ...rows.map(r => line(cols.map(c => r[c.k] ?? '')))].join('\n')
}

function canUnshareNet() {
  if (process.platform !== 'linux') return false
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' })
  return r.status === 0
}

// Parent side of the outage test: unix socket -> real broker (reachable from inside the worker's netns).
function startBridge(path, host, port) {
  rmSync(path, { force: true })
  const server = createServer(c => {
    const b = netConnect(port, host)
    const drop = () => { c.destroy(); b.destroy() }
    c.on('error', drop); b.on('error', drop); c.on('close', drop); b.on('close', drop)
    c.pipe(b); b.pipe(c)
  })
  return new Promise(res => server.listen(path, () => res(server)))
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  if (args.report) {
    printReport(JSON.parse(readFileSync(args.report, 'utf8')))
    return
  }
  const [maj, min] = process.versions.node.split('.').map(Number)
  if (maj < 24 || (maj === 24 && min < 6)) console.warn(`warning: Node ${process.version}; @platformatic/kafka needs >= 24.6 (or 22.22)`)
  const brokers = args.brokers.split(',')
  const variants = args.variants.split(',')
  const partitionCounts = args.partitions.split(',').map(Number)
  const { Admin } = await import('@platformatic/kafka')
  const { librdkafkaVersion } = require('@confluentinc/kafka-javascript')
  const pkgVersion = name => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version
  const pltVersion = pkgVersion('@platformatic/kafka')
  const ckVersion = pkgVersion('@confluentinc/kafka-javascript')
  console.log(`node ${process.version}; @platformatic/kafka ${pltVersion}; @confluentinc/kafka-javascript ${ckVersion} (librdkafka ${librdkafkaVersion}); brokers ${brokers.join(',')}`)

  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers })
  const meta = await admin.metadata({ topics: [] })
  const broker0 = [...meta.brokers.values()][0]
  console.log(`cluster ${meta.id}, ${meta.brokers.size} broker(s) (advertised ${broker0.host}:${broker0.port}); ${cpus().length} CPUs, load average ${loadavg().map(x => x.toFixed(2)).join(' ')}`)
  const stamp = Date.now().toString(36)
  const topics = {}
  for (const p of partitionCounts) {
    topics[p] = `bench-clients-${stamp}-p${p}`
    await admin.createTopics({ topics: [topics[p]], partitions: p, replicas: 1 })
  }
  await new Promise(r => setTimeout(r, 1000))

  const results = {
    date: new Date().toISOString(), node: process.version, pltVersion, ckVersion, librdkafkaVersion, brokers,
    cpus: cpus().length, args, variants: Object.fromEntries(variants.map(v => [v, VARIANTS[v].label])),
    perf: [], down: [], tooLarge: [], outage: []
  }
  try {
    if (args.perf) {
      for (let run = 1; run <= args.runs; run++) {
        // alternate client order between runs to spread any warm-up/ordering bias
        const order = run % 2 ? variants : [...variants].reverse()
        for (const p of partitionCounts) {
          for (const variant of order) {
            const r = await runChild({
              kind: 'perf', variant, brokers, topic: topics[p],
              latencyN: args['latency-n'], batchTotal: args['batch-total'], batchSize: args['batch-size']
            })
            results.perf.push({ run, partitions: p, variant, load1: +loadavg()[0].toFixed(2), ...r })
            console.log(`run ${run} p=${p} ${variant.padEnd(8)} connect ${r.connectMs} ms, first ack ${r.firstAckMs} ms, p50 ${r.p50} p99 ${r.p99} ms, ${r.msgsPerSec} msg/s, rss ${r.rssAfterMB} MB`)
          }
        }
      }
    }
    const downCases = { plt: [undefined, { retries: 3 }], ckjs: [undefined] }
    if (args.errors) {
      for (let run = 1; run <= args['error-runs']; run++) {
        for (const variant of variants.filter(v => v in downCases)) {
          for (const extra of downCases[variant]) {
            const d = await runChild({ kind: 'down', variant, extra, downBrokers: args['down-brokers'].split(','), topic: topics[partitionCounts[0]], capMs: args['down-cap-ms'] })
            results.down.push({ run, ...d })
            console.log(`run ${run} broker-down ${variant}${extra ? ' ' + JSON.stringify(extra) : ''}: ${d.failedIn}() ${d.outcome}${d.timeToFailMs !== null ? ` after ${d.timeToFailMs} ms: ${summarizeError(d.error)}` : ` (still pending after ${d.pendingAfterMs} ms)`}`)
          }
          const cases = VARIANTS[variant].client === 'confluent' ? [undefined, { 'message.max.bytes': 4 * 1024 * 1024 }] : [undefined]
          for (const extra of cases) {
            const t = await runChild({ kind: 'toolarge', variant, brokers, topic: topics[partitionCounts[0]], rdkafkaExtra: extra })
            results.tooLarge.push({ run, ...t })
            console.log(`run ${run} too-large ${variant}${extra ? ' ' + JSON.stringify(extra) : ''}: ${t.timeToFailMs} ms: ${summarizeError(t.error)}; follow-up send ok=${t.followUpOk}; mixed batch: ${t.mixedBatch}, good msgs written: ${t.mixedBatchGoodWritten}`)
          }
        }
      }
    }
    if (args.outage) {
      const outageCases = { plt: [undefined, { retries: 3 }], ckjs: [undefined, { 'message.timeout.ms': 10000 }] }
      if (!canUnshareNet()) {
        console.log('outage test skipped: needs Linux, root and `unshare -n` (private network namespace)')
      } else if (!['127.0.0.1', 'localhost'].includes(broker0.host)) {
        console.log(`outage test skipped: broker advertises ${broker0.host}, the netns proxy only covers 127.0.0.1`)
      } else {
        const bridgePath = `/tmp/kafka-clients-bench-${process.pid}.sock`
        const bridge = await startBridge(bridgePath, broker0.host, broker0.port)
        try {
          for (let run = 1; run <= args['error-runs']; run++) {
            for (const mode of ['refuse', 'blackhole']) {
              for (const variant of variants.filter(v => v in outageCases)) {
                for (const extra of outageCases[variant]) {
                  const o = await runChild(
                    { kind: 'outage', variant, extra, bridgePath, host: '127.0.0.1', port: broker0.port, topic: topics[partitionCounts[0]], mode, capMs: args['outage-cap-ms'] },
                    { netns: true }
                  )
                  results.outage.push({ run, ...o })
                  console.log(`run ${run} outage/${mode} ${variant}${extra ? ' ' + JSON.stringify(extra) : ''}: send() ${o.outcome} after ${o.elapsedMs} ms${o.error ? ': ' + summarizeError(o.error) : ''}; ${o.pendingSendAfterRestore ? 'pending send ' + o.pendingSendAfterRestore + '; ' : ''}recovered=${o.recovered} in ${o.recoverMs} ms`)
                }
              }
            }
          }
        } finally {
          bridge.close()
          rmSync(bridgePath, { force: true })
        }
      }
    }
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(e => console.warn('deleteTopics failed:', e.message))
    await admin.close()
  }
  results.loadAtEnd = loadavg().map(x => +x.toFixed(2))
  printReport(results)
  if (args.json) {
    writeFileSync(args.json, JSON.stringify(results, (k, v) => (typeof v === 'bigint' ? v.toString() : v), 2))
    console.log(`\nraw results written to ${args.json} (re-print the tables with: node run.mjs --report ${args.json})`)
  }
}

// ------------------------------------------------------------ summary tables (medians over runs)
function printReport(results) {
  const { args } = results
  results.variants ??= Object.fromEntries(args.variants.split(',').map(v => [v, VARIANTS[v]?.label ?? v]))
  const variants = Object.keys(results.variants)
  const partitionCounts = [...new Set(results.perf.map(r => r.partitions))]
  const groupBy = (list, keyFn) => {
    const m = new Map()
    for (const x of list) {
      const k = keyFn(x)
      if (!m.has(k)) m.set(k, [])
      m.get(k).push(x)
    }
    return m
  }
  const extraLabel = e => (e && Object.keys(e).length ? ' ' + JSON.stringify(e) : '')
  console.log(`\n${results.date ?? ''} node ${results.node}; @platformatic/kafka ${results.pltVersion}; @confluentinc/kafka-javascript ${results.ckVersion} (librdkafka ${results.librdkafkaVersion}); ${results.cpus ?? '?'} CPUs`)
  console.log(`variants: ${variants.map(v => `${v} = ${results.variants[v]}`).join('; ')}`)
  if (results.perf.length) {
    const rows = []
    for (const p of partitionCounts) {
      for (const variant of variants) {
        const rs = results.perf.filter(r => r.partitions === p && r.variant === variant)
        if (!rs.length) continue
        const m = k => median(rs.map(r => r[k]))
        rows.push({
          client: variant, p, runs: rs.length, imp: m('importMs').toFixed(0),
          connect: m('connectMs').toFixed(1), first: m('firstAckMs').toFixed(1),
          ready: median(rs.map(r => r.connectMs + r.firstAckMs)).toFixed(1),
          p50: m('p50').toFixed(2), p99: m('p99').toFixed(2),
          tput: Math.round(m('msgsPerSec')).toLocaleString('en-US'),
          tputRange: `${Math.min(...rs.map(r => r.msgsPerSec)).toLocaleString('en-US')}–${Math.max(...rs.map(r => r.msgsPerSec)).toLocaleString('en-US')}`,
          bp50: m('batchP50').toFixed(2),
          rssLoaded: m('rssLoadedMB').toFixed(0), rss: m('rssAfterMB').toFixed(0)
        })
      }
    }
    console.log(`\nProducer, idempotent, acks=all; ~600 B JSON value, string key, 1 header; medians of ${args.runs} run(s)\n`)
    console.log(table(rows, [
      { k: 'client', h: 'client' }, { k: 'p', h: 'partitions' },
      { k: 'imp', h: 'import ms' }, { k: 'connect', h: 'connect ms' }, { k: 'first', h: 'first ack ms' }, { k: 'ready', h: 'connect+first ack ms' },
      { k: 'p50', h: `1-msg p50 ms (n=${args['latency-n']})` }, { k: 'p99', h: '1-msg p99 ms' },
      { k: 'tput', h: `msgs/s, batches of ${args['batch-size']} (${args['batch-total']} msgs)` }, { k: 'tputRange', h: 'msgs/s min–max' }, { k: 'bp50', h: 'batch p50 ms' },
      { k: 'rssLoaded', h: 'RSS after import MB' }, { k: 'rss', h: 'RSS after run MB' }
    ]))
  }
  if (results.down.length || results.tooLarge.length) {
    const rows = []
    for (const variant of variants) {
      for (const ds of groupBy(results.down.filter(d => d.variant === variant), d => JSON.stringify(d.extra)).values()) {
        const rejected = ds.filter(d => d.outcome === 'rejected')
        rows.push({
          client: variant,
          scenario: `unreachable (${args['down-brokers']}), ${ds[0].failedIn}()${extraLabel(ds[0].extra)}`,
          ms: rejected.length === ds.length ? median(ds.map(d => d.timeToFailMs)).toFixed(0) : `never (pending > ${ds[0].pendingAfterMs} ms)`,
          err: rejected.length ? summarizeError(rejected[0].error) : '-',
          msg: rejected[0]?.error?.message ?? ''
        })
      }
      for (const ts of groupBy(results.tooLarge.filter(t => t.variant === variant), t => JSON.stringify(t.extra)).values()) {
        const w = ts[0].mixedBatchGoodWritten
        rows.push({
          client: variant,
          scenario: `2 MB message${extraLabel(ts[0].extra)}; next send ${ts.every(t => t.followUpOk) ? 'ok' : 'FAILS'}; [ok, 2 MB] in one send(): rejected, ok msg written: ${w === 1 ? 'YES' : w === 0 ? 'no' : '?'}`,
          ms: median(ts.map(t => t.timeToFailMs)).toFixed(0),
          err: summarizeError(ts[0].error),
          msg: ts[0].error?.message ?? ''
        })
      }
    }
    console.log(`\nError behaviour: unreachable broker / message too large (time until the awaited call rejects; medians of ${args['error-runs']} run(s))\n`)
    console.log(table(rows, [{ k: 'client', h: 'client' }, { k: 'scenario', h: 'scenario' }, { k: 'ms', h: 'rejects after ms' }, { k: 'err', h: 'error (class code … > inner)' }, { k: 'msg', h: 'top-level message' }]))
  }
  if (results.outage?.length) {
    const rows = []
    for (const mode of ['refuse', 'blackhole']) {
      for (const variant of variants) {
        for (const os of groupBy(results.outage.filter(o => o.variant === variant && o.mode === mode), o => JSON.stringify(o.extra)).values()) {
          const rejected = os.filter(o => o.outcome === 'rejected')
          rows.push({
            mode, client: variant + extraLabel(os[0].extra),
            ms: rejected.length === os.length ? median(os.map(o => o.elapsedMs)).toFixed(0) : os.every(o => o.outcome === 'pending') ? `never (pending > ${os[0].pendingAfterMs} ms)` : os.map(o => o.outcome).join('/'),
            err: rejected.length ? summarizeError(rejected[0].error) : '-',
            msg: rejected[0]?.error?.message ?? '',
            pending: os.some(o => o.pendingSendAfterRestore) ? os.map(o => o.pendingSendAfterRestore ?? '-').join('; ') : '-',
            rec: os.every(o => o.recovered) ? median(os.map(o => o.recoverMs)).toFixed(0) : 'NO'
          })
        }
      }
    }
    console.log(`\nBroker outage while connected (netns proxy: refuse = connections reset + ECONNREFUSED, blackhole = bytes dropped); medians of ${args['error-runs']} run(s)\n`)
    console.log(table(rows, [{ k: 'mode', h: 'mode' }, { k: 'client', h: 'client' }, { k: 'ms', h: 'send() rejects after ms' }, { k: 'err', h: 'error (class code … > inner)' }, { k: 'msg', h: 'top-level message' }, { k: 'pending', h: 'pending send after restore' }, { k: 'rec', h: 'next send ok after restore ms' }]))
  }
}

if (process.argv.includes('--worker')) {
  process.once('message', async job => {
    try {
      const fn = { perf: workerPerf, down: workerDown, toolarge: workerTooLarge, outage: workerOutage }[job.kind]
      const value = await fn(job)
      process.send({ ok: true, value }, () => process.exit(0))
    } catch (e) {
      process.send({ ok: false, error: e?.stack ?? String(e) }, () => process.exit(1))
    }
  })
} else {
  main().catch(e => {
    console.error(e)
    process.exit(1)
  })
}
