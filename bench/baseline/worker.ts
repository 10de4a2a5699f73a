import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from './activities';

// A worker for the same-shape baseline, run as its own process like the service's worker.
// Usage: tsx bench/baseline/worker.ts <temporal address> <task queue>

async function main(): Promise<void> {
  const [address, taskQueue] = process.argv.slice(2);
  if (!address || !taskQueue) throw new Error('usage: worker.ts <temporal address> <task queue>');
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({ connection, taskQueue, workflowsPath: require.resolve('./workflows'), activities });
  process.once('SIGTERM', () => worker.shutdown());
  process.stdout.write('baseline worker ready\n');
  await worker.run();
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
