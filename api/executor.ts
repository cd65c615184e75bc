/**
 * `mesos-ts/executor`: what an executor process needs. The agent starts it with the `MESOS_*`
 * environment; `new ExecutorDriver(executor).run()` connects to that agent over its local
 * channel, and resolves once the driver is stopped (from the executor's `shutdown` callback).
 *
 * @see Mesos `include/mesos/executor.hpp`.
 */
export { ExecutorDriver, executorEnv, type Executor, type ExecutorDriverOptions, type ExecutorEnv } from '../runtime/executor-driver.ts';
export type { AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo, TaskStatus } from '../protocols/records.ts';
export { isTerminalState, type TaskReason, type TaskSource, type TaskState } from '../protocols/task-states.ts';
