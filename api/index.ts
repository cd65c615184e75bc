/**
 * `mesos-ts`: the framework author's API in one import — the scheduler side
 * (`mesos-ts/scheduler`), the executor side (`mesos-ts/executor`) and resource arithmetic
 * (`mesos-ts/resources`).
 */
export * from './scheduler.ts';
export * from './executor.ts';
export * from './resources.ts';
