/**
 * The Pi framework's executor process: each task samples in its own worker thread, so the tasks
 * one executor holds run concurrently; the count is returned in TASK_FINISHED's data.
 */
import { Worker } from 'node:worker_threads';
import { ExecutorDriver, executorEnv, type Executor } from '../../runtime/executor-driver.ts';
import { createLogger } from '../../runtime/log.ts';

// The sampler runs as plain JavaScript in a worker thread.
const SAMPLER = `
const { parentPort, workerData } = require('node:worker_threads');
let inside = 0;
for (let i = 0; i < workerData.samples; i++) {
  const x = Math.random(), y = Math.random();
  if (x * x + y * y <= 1) inside++;
}
parentPort.postMessage({ inside, samples: workerData.samples });
`;

const logger = createLogger({ name: 'pi-executor', stderr: true, pretty: false });
const env = executorEnv();
const workers = new Map<string, Worker>();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function exit(driver: ExecutorDriver): Promise<never> {
  for (const w of workers.values()) await w.terminate();
  await driver.awaitAcknowledgements(2000);
  await driver.stop();
  process.exit(0);
}

const executor: Executor = {
  registered: (_d, _e, framework) => logger.info({ framework: framework.name }, 'Pi executor registered'),
  launchTask: (driver, task) => {
    const { samples } = JSON.parse(decoder.decode(task.data ?? encoder.encode('{"samples":1000000}'))) as { samples: number };
    driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_RUNNING' });
    const worker = new Worker(SAMPLER, { eval: true, workerData: { samples } });
    workers.set(task.taskId, worker);
    worker.once('message', (r: { inside: number; samples: number }) => {
      workers.delete(task.taskId);
      driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_FINISHED', data: encoder.encode(JSON.stringify(r)) });
    });
    worker.once('error', (e) => {
      workers.delete(task.taskId);
      driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_FAILED', message: e.message });
    });
  },
  killTask: (driver, taskId) => {
    const w = workers.get(taskId);
    if (!w) return;
    workers.delete(taskId);
    void w.terminate().then(() => driver.sendStatusUpdate({ taskId, state: 'TASK_KILLED' }));
  },
  shutdown: (driver) => void exit(driver),
};

const driver = new ExecutorDriver(executor, { env, logger });
driver.start();
