import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { probeKafka } from './kafka-probe';
import { withLock } from './lock';
import type { Log, PartDefinition, ReadyContext } from './part';
import type { Progress } from './progress';
import { cacheDir, HOST, logFile, partDataDir, REPO_ROOT, stackEndpoints, stackPorts } from './paths';
import { isPortOpen } from './port';
import { runChecked } from './process';
import { waitFor } from './wait';

// Apache Kafka in KRaft mode, one process acting as broker and controller, run straight
// from the jars Maven resolves (stack/kafka/pom.xml): no distribution tarball, no scripts.

/** Latest 4.x whose artifacts are all on Maven Central (4.4.0 lacks kafka-tools there). */
export const KAFKA_VERSION = '4.3.1';

export const KAFKA_MAIN_CLASS = 'kafka.Kafka';
export const KAFKA_STORAGE_TOOL_CLASS = 'kafka.tools.StorageTool';

const POM = path.join(REPO_ROOT, 'stack', 'kafka', 'pom.xml');
const DOWNLOAD_DEADLINE_MS = 20 * 60_000;
const HEAP = ['-Xms256m', '-Xmx512m'];

/** The jars, cached per version outside the checkout; `java -cp '<libs>/*'` uses them. */
export function kafkaLibsDir(): string {
  return path.join(cacheDir(), `kafka-${KAFKA_VERSION}`, 'libs');
}

export function kafkaClasspath(): string {
  return path.join(kafkaLibsDir(), '*');
}

const dir = (): string => partDataDir('kafka');
const dataDir = (): string => path.join(dir(), 'data');
const serverProperties = (): string => path.join(dir(), 'server.properties');
const log4jConfig = (): string => path.join(dir(), 'log4j2.properties');

function libsComplete(libs: string): boolean {
  return fs.existsSync(path.join(libs, `kafka_2.13-${KAFKA_VERSION}.jar`));
}

async function ensureLibs(progress: Progress): Promise<void> {
  const libs = kafkaLibsDir();
  if (libsComplete(libs)) return;
  fs.mkdirSync(path.dirname(libs), { recursive: true });
  await withLock(path.join(path.dirname(libs), '.download.lock'), DOWNLOAD_DEADLINE_MS, async () => {
    if (libsComplete(libs)) return;
    // Copy into a private dir and rename, so an interrupted download is never taken as cached.
    const tmp = `${libs}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    const step = {
      what: `downloading the Kafka ${KAFKA_VERSION} jars (Maven)`,
      label: 'Kafka jars',
      typically: '10–60 s',
      cachedIn: libs,
      logFile: logFile('kafka'),
    };
    try {
      await progress.step(step, () =>
        runChecked(
          'mvn',
          ['-q', '-B', '-Dstyle.color=never', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, `-Dkafka.version=${KAFKA_VERSION}`],
          { timeoutMs: DOWNLOAD_DEADLINE_MS, logFile: logFile('kafka') },
        ),
      );
      if (!libsComplete(tmp)) throw new Error(`Maven finished but ${tmp} has no kafka_2.13-${KAFKA_VERSION}.jar`);
      fs.rmSync(libs, { recursive: true, force: true });
      fs.renameSync(tmp, libs);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}

/** Kafka's Uuid text form: 16 random bytes, base64url without padding, not starting with '-'. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function clusterId(): string {
  const file = path.join(dir(), 'cluster-id');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const id = newClusterId();
  fs.writeFileSync(file, `${id}\n`);
  return id;
}

function writeConfig(): void {
  const { kafka: port, kafkaController: controllerPort } = stackPorts();
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // A static quorum: the voter set follows this file, so changing the ports needs no reformat.
    'controller.quorum.voters': `1@${HOST}:${controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${port}`,
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': dataDir(),
    // One node: every internal topic has a single replica.
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    // The application creates its topics (and their .dlq twins) itself.
    'auto.create.topics.enable': false,
  };
  const text = Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
  fs.writeFileSync(serverProperties(), `# Written by stack/kafka.ts on every start.\n${text}\n`);

  // Warnings and errors only, plus the line saying the server started.
  const log4j = [
    'status = warn',
    'appender.out.type = Console',
    'appender.out.name = OUT',
    'appender.out.layout.type = PatternLayout',
    'appender.out.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = WARN',
    'rootLogger.appenderRef.out.ref = OUT',
    'logger.started.name = kafka.server.KafkaRaftServer',
    'logger.started.level = INFO',
  ];
  fs.writeFileSync(log4jConfig(), `${log4j.join('\n')}\n`);
}

function javaCommand(): string {
  const home = process.env.JAVA_HOME;
  return home && fs.existsSync(path.join(home, 'bin', 'java')) ? path.join(home, 'bin', 'java') : 'java';
}

function jvmArgs(): string[] {
  return [...HEAP, '-XX:+ExitOnOutOfMemoryError', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${log4jConfig()}`, '-cp', kafkaClasspath()];
}

async function formatStorage(log: Log): Promise<void> {
  if (fs.existsSync(path.join(dataDir(), 'meta.properties'))) return;
  log(`formatting KRaft storage in ${dataDir()}`);
  await runChecked(
    javaCommand(),
    [...jvmArgs(), KAFKA_STORAGE_TOOL_CLASS, 'format', '-t', clusterId(), '-c', serverProperties(), '--ignore-formatted'],
    { timeoutMs: 120_000, logFile: logFile('kafka') },
  );
}

async function answers(): Promise<boolean> {
  const { kafka: port } = stackPorts();
  const result = await probeKafka(HOST, port);
  return result.brokerCount > 0 && result.controllerId >= 0;
}

export const kafka: PartDefinition = {
  part: 'kafka',
  endpoint: () => stackEndpoints().kafkaBrokers,
  get marker() {
    return serverProperties();
  },
  startDeadlineMs: 120_000,
  stopDeadlineMs: 30_000,
  stopSignal: 'SIGTERM',

  async prepare(log, progress) {
    fs.mkdirSync(dataDir(), { recursive: true });
    await ensureLibs(progress);
    writeConfig();
    await formatStorage(log);
  },

  // The relay's broker: no submission waits on it.
  inBack: true,

  serverCommand() {
    return { command: javaCommand(), args: [...jvmArgs(), KAFKA_MAIN_CLASS, serverProperties()], cwd: dir() };
  },

  async waitUntilReady(ctx: ReadyContext) {
    const { kafka: port } = stackPorts();
    await waitFor(`kafka to answer ApiVersions and Metadata on ${HOST}:${port}`, answers, {
      deadlineMs: ctx.remainingMs(),
      giveUp: ctx.giveUp,
      intervalMs: 250,
    });
  },

  async checkHealth() {
    try {
      return (await answers()) ? undefined : 'the broker knows no brokers or controller yet';
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  },

  async portInUse() {
    const ports = stackPorts();
    return (await isPortOpen(HOST, ports.kafka)) || (await isPortOpen(HOST, ports.kafkaController));
  },
};
