/**
 * `mesos-executor`: the built-in command executor process an agent starts for a command task.
 * Everything it needs comes from the `MESOS_*` environment.
 */
import { CommandExecutor } from '../runtime/command-executor.ts';
import { ExecutorDriver, executorEnv } from '../runtime/executor-driver.ts';
import { createLogger } from '../runtime/log.ts';
import { connectNats, NatsTransport } from '../runtime/transport-nats.ts';

// Logs go to stderr: stdout belongs to the task.
const logger = createLogger({ name: 'mesos-executor', stderr: true, pretty: false, level: process.env.MESOS_LOG_LEVEL ?? 'info' });
let env;
try {
  env = executorEnv();
} catch (e) {
  process.stderr.write(`mesos-executor: ${(e as Error).message}\n`);
  process.exit(2);
}
const nc = await connectNats({ servers: env.nats.split(','), name: 'mesos-executor', logger });
const transport = new NatsTransport(nc, { logger });
const executor = new CommandExecutor({ cwd: env.directory, logger });
const driver = new ExecutorDriver(executor, { transport, env, logger });
driver.start();
await executor.done;
// Wait (bounded) for the agent to acknowledge the terminal update, as Mesos' command executor does.
await driver.awaitAcknowledgements(5000);
await driver.stop();
await transport.close();
process.exit(0);
