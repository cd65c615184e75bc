/**
 * `mesos-executor`: the built-in command executor process an agent starts for a command task.
 * Everything it needs comes from the `MESOS_*` environment.
 */
import { CommandExecutor } from '../runtime/command-executor.ts';
import { ExecutorDriver, executorEnv } from '../runtime/executor-driver.ts';
import { createLogger } from '../runtime/log.ts';

// Logs go to stderr: stdout belongs to the task.
const logger = createLogger({ name: 'mesos-executor', stderr: true, pretty: false, level: process.env.MESOS_LOG_LEVEL ?? 'info' });
let env;
try {
  env = executorEnv();
} catch (e) {
  process.stderr.write(`mesos-executor: ${(e as Error).message}\n`);
  process.exit(2);
}
const executor = new CommandExecutor({ cwd: env.directory, logger });
// The driver talks to the agent over the agent's local channel: executors are never on the bus.
const driver = new ExecutorDriver(executor, { env, logger });
driver.start();
await executor.done;
// Wait (bounded) for the agent to acknowledge the terminal update, as Mesos' command executor does.
await driver.awaitAcknowledgements(5000);
await driver.stop();
process.exit(0);
