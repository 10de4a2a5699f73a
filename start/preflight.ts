import { loadConfig } from '../config';
import { backCpuWeight } from '../stack/back-cpu-group';
import { lockFile } from '../stack/paths';
import { refuseIfTaken } from './single-instance';

// First step of `npm start`, before generating and compiling: a bad variable, a second start or a
// taken API port is reported in a second, not after the build.

async function preflight(): Promise<void> {
  const config = loadConfig(process.env);
  backCpuWeight(); // the local stack's own variable: a mistake here would otherwise only cost the local Kafka
  await refuseIfTaken({ pidFile: lockFile('npm-start'), host: config.api.host, port: config.api.port });
}

preflight().catch((err: unknown) => {
  process.stderr.write(`npm start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
