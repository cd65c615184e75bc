/**
 * `mesos-ts/scheduler`: what a framework's scheduler process needs. `SchedulerDriver.connect`
 * opens the bus as the framework's principal; the `Scheduler` callbacks get offers and status
 * updates; `nodeCommand` gives the command line of an executor written next to the scheduler.
 *
 * @see Mesos `include/mesos/scheduler.hpp`.
 */
export {
  SchedulerDriver,
  schedulerFromActor,
  type DriverOptions,
  type DriverStatus,
  type Scheduler,
  type StopOnSignalsOptions,
} from '../runtime/scheduler-driver.ts';
export { DEFAULT_CLUSTER, DEFAULT_NATS_URL, type ConnectOptions } from '../runtime/scheduler-connection.ts';
export { CredentialError, loadCredential, type Credential } from '../runtime/credentials.ts';
export { nodeCommand } from '../runtime/node-command.ts';
export { NatsConnectError } from '../runtime/transport-nats.ts';
export type { Logger } from '../runtime/log.ts';
export type { TlsFiles } from '../runtime/tls.ts';
export type {
  CommandInfo,
  ExecutorInfo,
  Filters,
  FrameworkInfo,
  MasterInfo,
  Offer,
  TaskInfo,
  TaskStatus,
} from '../protocols/records.ts';
export { isTerminalState, type TaskReason, type TaskSource, type TaskState } from '../protocols/task-states.ts';
