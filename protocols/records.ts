/**
 * The records messages carry: framework, agent, executor and task descriptions, offers and
 * status updates. Each is a TypeBox schema (checked at the edge) plus its static type.
 *
 * Compatibility rule: within a protocol version, fields are only ever added, and only as optional.
 *
 * @see mesos.proto `FrameworkInfo`, `SlaveInfo`, `ExecutorInfo`, `TaskInfo`, `Offer`, `TaskStatus`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ResourcesSchema } from './resources.ts';
import { AttributesSchema } from './attributes.ts';
import type { TaskReason, TaskSource, TaskState } from './task-states.ts';

/**
 * A vocabulary field: on the wire any short name is accepted, so that a value added by a newer
 * peer does not make the whole message invalid. The codec then reads a name this version does not
 * know as the vocabulary's unknown value (`knownTaskState` and friends in `task-states.ts`), so
 * the static type is the closed union.
 */
const vocabulary = <T extends string>() => Type.Unsafe<T>(Type.String({ minLength: 1, maxLength: 64 }));

/** A task state (open on the wire; see {@link vocabulary}). */
export const TaskStateSchema = vocabulary<TaskState>();
/** A status-update source (open on the wire). */
export const TaskSourceSchema = vocabulary<TaskSource>();
/** A status-update reason (open on the wire). */
export const TaskReasonSchema = vocabulary<TaskReason>();

const Id = Type.String({ minLength: 1, maxLength: 256 });
const Name = Type.String({ maxLength: 1024 });
/** Opaque data: capped well below NATS' default 1 MiB payload so that the envelope still fits. */
const Bytes = Type.Uint8Array({ maxByteLength: 960 * 1024 });

/** Framework capabilities a scheduler may declare. @see `FrameworkInfo.Capability` */
export const FRAMEWORK_CAPABILITIES = [
  'PARTITION_AWARE',
  'REVOCABLE_RESOURCES',
  'MULTI_ROLE',
  'TASK_KILLING_STATE',
  'GPU_RESOURCES',
  'RESERVATION_REFINEMENT',
] as const;

/** What a framework tells the master about itself. @see `FrameworkInfo` */
export const FrameworkInfoSchema = Type.Object({
  id: Type.Optional(Id),
  name: Name,
  user: Type.Optional(Name),
  roles: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 64 })),
  principal: Type.Optional(Name),
  hostname: Type.Optional(Name),
  checkpoint: Type.Optional(Type.Boolean()),
  failoverTimeoutSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  capabilities: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
});
/** @see FrameworkInfoSchema */
export type FrameworkInfo = Static<typeof FrameworkInfoSchema>;

/** What an agent tells the master about itself. @see `SlaveInfo` */
export const AgentInfoSchema = Type.Object({
  id: Type.Optional(Id),
  hostname: Name,
  resources: ResourcesSchema,
  attributes: AttributesSchema,
  /**
   * Where the agent serves its HTTP endpoints (`host:port`: `/slave(1)/state`, `/files/read`, …),
   * when it does. @see `SlaveInfo.port`
   */
  http: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
});
/** @see AgentInfoSchema */
export type AgentInfo = Static<typeof AgentInfoSchema>;

/** Where the leading master is. @see `MasterInfo` */
export const MasterInfoSchema = Type.Object({
  id: Id,
  pid: Type.String({ maxLength: 512 }),
  hostname: Name,
  epoch: Type.Number(),
});
/** @see MasterInfoSchema */
export type MasterInfo = Static<typeof MasterInfoSchema>;

/** A command to run: a shell string (`shell` true, the default) or a program with arguments. @see `CommandInfo` */
export const CommandInfoSchema = Type.Object({
  value: Type.String({ maxLength: 65536 }),
  shell: Type.Optional(Type.Boolean()),
  arguments: Type.Optional(Type.Array(Type.String({ maxLength: 65536 }), { maxItems: 1024 })),
  environment: Type.Optional(Type.Record(Type.String({ maxLength: 1024 }), Type.String({ maxLength: 65536 }))),
  /** The OS user to run as (else the framework's `user`), on agents that switch users. */
  user: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
});
/** @see CommandInfoSchema */
export type CommandInfo = Static<typeof CommandInfoSchema>;

/** A framework's executor. @see `ExecutorInfo` */
export const ExecutorInfoSchema = Type.Object({
  executorId: Id,
  frameworkId: Type.Optional(Id),
  name: Type.Optional(Name),
  command: CommandInfoSchema,
  resources: ResourcesSchema,
});
/** @see ExecutorInfoSchema */
export type ExecutorInfo = Static<typeof ExecutorInfoSchema>;

/** A task a framework asks to run. Exactly one of `command` (run by the built-in command executor)
 * or `executor` (the framework's own) is set. @see `TaskInfo` */
export const TaskInfoSchema = Type.Object({
  taskId: Id,
  name: Name,
  agentId: Id,
  resources: ResourcesSchema,
  command: Type.Optional(CommandInfoSchema),
  executor: Type.Optional(ExecutorInfoSchema),
  data: Type.Optional(Bytes),
  /** How a kill goes: SIGTERM, then SIGKILL after the grace period. @see `TaskInfo.kill_policy` */
  killPolicy: Type.Optional(Type.Object({ gracePeriodSeconds: Type.Number({ minimum: 0, maximum: 365 * 24 * 3600 }) })),
});
/** @see TaskInfoSchema */
export type TaskInfo = Static<typeof TaskInfoSchema>;

/** Refusal filters attached to a decline or accept. @see `Filters` */
export const FiltersSchema = Type.Object({
  refuseSeconds: Type.Optional(Type.Number()),
});
/** @see FiltersSchema */
export type Filters = Static<typeof FiltersSchema>;

/** Resources on one agent offered to one framework. @see `Offer` */
export const OfferSchema = Type.Object({
  id: Id,
  frameworkId: Id,
  agentId: Id,
  hostname: Name,
  resources: ResourcesSchema,
  attributes: AttributesSchema,
  executorIds: Type.Array(Id),
  /** The role the resources are allocated to. @see `Offer.allocation_info` */
  role: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
});
/** @see OfferSchema */
export type Offer = Static<typeof OfferSchema>;

/** The state of one task as reported at one moment. @see `TaskStatus` */
export const TaskStatusSchema = Type.Object({
  taskId: Id,
  state: TaskStateSchema,
  message: Type.Optional(Type.String({ maxLength: 65536 })),
  source: Type.Optional(TaskSourceSchema),
  reason: Type.Optional(TaskReasonSchema),
  data: Type.Optional(Bytes),
  agentId: Type.Optional(Id),
  executorId: Type.Optional(Id),
  /** Epoch ms when the status was generated. */
  timestamp: Type.Number(),
  /** Present on updates that expect an acknowledgement. */
  uuid: Type.Optional(Id),
  healthy: Type.Optional(Type.Boolean()),
  unreachableTime: Type.Optional(Type.Number()),
  /** The container the task runs in, on updates that pass through its agent. @see `TaskStatus.container_status` */
  containerStatus: Type.Optional(Type.Object({ containerId: Id })),
  /** The task's sandbox on its agent (its executor's run directory): where `stdout` and `stderr` are. */
  sandbox: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  /**
   * The HTTP address (`host:port`) of the agent that stamped `sandbox`: its `/files/read?path=`
   * serves the files in the sandbox, `stdout` and `stderr` among them.
   */
  agentHttp: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
});
/** @see TaskStatusSchema */
export type TaskStatus = Static<typeof TaskStatusSchema>;

/**
 * What one executor's container uses, sampled by its agent. @see Mesos `ResourceStatistics`
 * (`cpus_user_time_secs`, `mem_rss_bytes`, … — the same figures, named in this protocol's case).
 */
export const ResourceStatisticsSchema = Type.Object({
  /** Epoch seconds when sampled. */
  timestamp: Type.Number(),
  cpusUserTimeSecs: Type.Number({ minimum: 0 }),
  cpusSystemTimeSecs: Type.Number({ minimum: 0 }),
  /** CPUs the container was given (its share, and its cap with CFS limits). */
  cpusLimit: Type.Optional(Type.Number({ minimum: 0 })),
  memRssBytes: Type.Number({ minimum: 0 }),
  memLimitBytes: Type.Optional(Type.Number({ minimum: 0 })),
  diskUsedBytes: Type.Optional(Type.Number({ minimum: 0 })),
  diskLimitBytes: Type.Optional(Type.Number({ minimum: 0 })),
  processes: Type.Optional(Type.Integer({ minimum: 0 })),
});
/** @see ResourceStatisticsSchema */
export type ResourceStatistics = Static<typeof ResourceStatisticsSchema>;

/** One status update in flight from executor to scheduler. @see `StatusUpdate` */
export const StatusUpdateRecordSchema = Type.Object({
  frameworkId: Id,
  executorId: Type.Optional(Id),
  agentId: Type.Optional(Id),
  status: TaskStatusSchema,
  uuid: Id,
  /** The newest state the agent knows while an older update is still unacknowledged. */
  latestState: Type.Optional(TaskStateSchema),
});
/** @see StatusUpdateRecordSchema */
export type StatusUpdateRecord = Static<typeof StatusUpdateRecordSchema>;

/** A task as the agent and master know it; carried by re-registration. @see `Task` */
export const TaskSchema = Type.Object({
  taskId: Id,
  name: Name,
  frameworkId: Id,
  agentId: Id,
  executorId: Type.Optional(Id),
  state: TaskStateSchema,
  resources: ResourcesSchema,
  /** The state of the oldest update not yet acknowledged (the one in flight), with its uuid. */
  statusUpdateState: Type.Optional(TaskStateSchema),
  statusUpdateUuid: Type.Optional(Id),
});
/** @see TaskSchema */
export type Task = Static<typeof TaskSchema>;
