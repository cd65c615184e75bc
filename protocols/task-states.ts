/**
 * Task states, status-update sources and reasons — the complete Mesos vocabulary from the start,
 * so that later capabilities (partition awareness, reconciliation, maintenance) add behaviour, not
 * wire values.
 *
 * @see mesos.proto `TaskState`, `TaskStatus.Source`, `TaskStatus.Reason`.
 */

/** Every task state. The partition-aware ones (`TASK_UNREACHABLE`, `TASK_GONE`, …, `TASK_DROPPED`,
 * `TASK_UNKNOWN`) are only sent to frameworks that declare `PARTITION_AWARE`. */
export const TASK_STATES = [
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_UNREACHABLE',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
] as const;
/** One of {@link TASK_STATES}. */
export type TaskState = (typeof TASK_STATES)[number];

const TERMINAL: ReadonlySet<TaskState> = new Set<TaskState>([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
]);

/** True for states after which a task never runs again. @see `protobuf::isTerminalState` */
export function isTerminalState(s: TaskState): boolean {
  return TERMINAL.has(s);
}

/**
 * Who generated a status update. `SOURCE_UNKNOWN` stands for a value a newer peer sent that this
 * version does not know: the update is kept, only the field reads unknown.
 */
export const TASK_SOURCES = ['SOURCE_UNKNOWN', 'SOURCE_MASTER', 'SOURCE_AGENT', 'SOURCE_EXECUTOR'] as const;
/** One of {@link TASK_SOURCES}. */
export type TaskSource = (typeof TASK_SOURCES)[number];

/**
 * Why a status update was sent. `REASON_UNKNOWN` stands for a value a newer peer sent that this
 * version does not know.
 */
export const TASK_REASONS = [
  'REASON_UNKNOWN',
  'REASON_COMMAND_EXECUTOR_FAILED',
  'REASON_CONTAINER_LAUNCH_FAILED',
  'REASON_CONTAINER_LIMITATION',
  'REASON_CONTAINER_LIMITATION_DISK',
  'REASON_CONTAINER_LIMITATION_MEMORY',
  'REASON_CONTAINER_PREEMPTED',
  'REASON_EXECUTOR_REGISTRATION_TIMEOUT',
  'REASON_EXECUTOR_REREGISTRATION_TIMEOUT',
  'REASON_EXECUTOR_TERMINATED',
  'REASON_EXECUTOR_UNREGISTERED',
  'REASON_FRAMEWORK_REMOVED',
  'REASON_GC_ERROR',
  'REASON_INVALID_FRAMEWORKID',
  'REASON_INVALID_OFFERS',
  'REASON_MASTER_DISCONNECTED',
  'REASON_RECONCILIATION',
  'REASON_RESOURCES_UNKNOWN',
  'REASON_AGENT_DISCONNECTED',
  'REASON_AGENT_REMOVED',
  'REASON_AGENT_REMOVED_BY_OPERATOR',
  'REASON_AGENT_REREGISTERED',
  'REASON_AGENT_RESTARTED',
  'REASON_AGENT_UNKNOWN',
  'REASON_TASK_INVALID',
  'REASON_TASK_UNAUTHORIZED',
  'REASON_TASK_UNKNOWN',
] as const;
/** One of {@link TASK_REASONS}. */
export type TaskReason = (typeof TASK_REASONS)[number];

// Value → the constant itself: a known value comes back as the one shared string, so that the
// hundreds of thousands of decoded task records a master holds do not each keep a copy.
const STATES: ReadonlyMap<string, TaskState> = new Map(TASK_STATES.map((x) => [x, x]));
const SOURCES: ReadonlyMap<string, TaskSource> = new Map(TASK_SOURCES.map((x) => [x, x]));
const REASONS: ReadonlyMap<string, TaskReason> = new Map(TASK_REASONS.map((x) => [x, x]));

/**
 * A task state as this version knows it: an unknown value (from a newer peer) reads `TASK_UNKNOWN`.
 * Mesos' enums start at an unknown value for the same reason.
 */
export function knownTaskState(s: string): TaskState {
  return STATES.get(s) ?? 'TASK_UNKNOWN';
}

/** A source as this version knows it; anything else reads `SOURCE_UNKNOWN`. */
export function knownTaskSource(s: string): TaskSource {
  return SOURCES.get(s) ?? 'SOURCE_UNKNOWN';
}

/** A reason as this version knows it; anything else reads `REASON_UNKNOWN`. */
export function knownTaskReason(s: string): TaskReason {
  return REASONS.get(s) ?? 'REASON_UNKNOWN';
}
