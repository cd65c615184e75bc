/** Pi's executor: each task throws `data` darts at the unit square and reports how many fell inside the quarter circle. */
import { ExecutorDriver, type Executor } from 'mesos-ts/executor';

const executor: Executor = {
  launchTask: (driver, task) => {
    driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_RUNNING' });
    const samples = Number(new TextDecoder().decode(task.data));
    let inside = 0;
    for (let i = 0; i < samples; i++) if (Math.random() ** 2 + Math.random() ** 2 <= 1) inside++;
    driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_FINISHED', data: new TextEncoder().encode(String(inside)) });
  },
  // The framework is done (or gone): let the agent have the last updates, then end.
  shutdown: async (driver) => {
    await driver.awaitAcknowledgements();
    await driver.stop();
  },
};

await new ExecutorDriver(executor).run();
