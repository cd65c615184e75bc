/**
 * Every message type on the bus: its body schema, which kinds of actor may send it and which may
 * receive it. The catalogue only grows (new types, new optional fields); a receiver drops what it
 * does not know.
 *
 * Names follow the house rule: requests are imperative `VerbNoun`, facts are nouns or past tense.
 *
 * @see Mesos `messages.proto` (v0 driver/agent protocol) — the same conversations, renamed.
 */
import { Value } from '@sinclair/typebox/value';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ResourcesSchema } from './resources.ts';
import {
  AgentInfoSchema,
  ExecutorInfoSchema,
  FiltersSchema,
  FrameworkInfoSchema,
  MasterInfoSchema,
  OfferSchema,
  ResourceStatisticsSchema,
  StatusUpdateRecordSchema,
  TaskInfoSchema,
  TaskSchema,
  TaskStateSchema,
} from './records.ts';
import type { ActorKind } from './pid.ts';
import { knownTaskReason, knownTaskSource, knownTaskState } from './task-states.ts';

const Id = Type.String({ minLength: 1, maxLength: 256 });
const Ids = Type.Array(Id, { maxItems: 10000 });
/** Opaque data: capped well below NATS' default 1 MiB payload so that the envelope still fits. */
const Bytes = Type.Uint8Array({ maxByteLength: 960 * 1024 });
/** One part of a message split to fit the bus's payload limit. */
const PartSchema = Type.Object({
  id: Id,
  index: Type.Integer({ minimum: 0, maximum: 9999 }),
  count: Type.Integer({ minimum: 1, maximum: 10000 }),
});
/** How often a peer sends `Heartbeat`s. */
const HeartbeatInterval = Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86400 }));

/** One hop a message may take: sender kind → receiver kind. */
export type Route = readonly [from: ActorKind, to: ActorKind];

interface Spec<S extends TSchema> {
  readonly body: S;
  /** Every hop the message may take; anything else is dropped as from the wrong sender. */
  readonly routes: readonly Route[];
  /** Kinds that may send it (derived from `routes`). */
  readonly from: readonly ActorKind[];
  /** Kinds that may receive it (derived from `routes`). */
  readonly to: readonly ActorKind[];
}
const spec = <S extends TSchema>(routes: readonly Route[], body: S): Spec<S> => ({
  body,
  routes,
  from: [...new Set(routes.map((r) => r[0]))],
  to: [...new Set(routes.map((r) => r[1]))],
});

/** True when a message of `type` may travel from a `from` actor to a `to` actor. */
export function isAllowedRoute(type: MessageType, from: ActorKind, to: ActorKind): boolean {
  const routes = MESSAGES[type].routes;
  for (let i = 0; i < routes.length; i++) if (routes[i]![0] === from && routes[i]![1] === to) return true;
  return false;
}

/** The catalogue: message type → body schema and the kinds that may send and receive it. */
export const MESSAGES = {
  // ── agent ⇄ master ────────────────────────────────────────────────────────────────
  /** An agent asks to join. @see `RegisterSlaveMessage` */
  RegisterAgent: spec([['agent', 'master']], Type.Object({ agent: AgentInfoSchema, version: Type.String() })),
  /** A known agent (after its or the master's restart) rejoins with what it runs. @see `ReregisterSlaveMessage` */
  ReregisterAgent: spec([['agent', 'master']], Type.Object({
    agent: AgentInfoSchema,
    version: Type.String(),
    /** Every task the agent has, terminal ones whose updates are unacknowledged included, in their latest state. */
    tasks: Type.Array(TaskSchema, { maxItems: 100000 }),
    executors: Type.Array(ExecutorInfoSchema, { maxItems: 100000 }),
    frameworks: Type.Array(FrameworkInfoSchema, { maxItems: 100000 }),
    /**
     * Set when the report was too large for one message: part `index` of `count`, all with the
     * same `id`. The master acts once it has every part. See `chunking.ts`.
     */
    part: Type.Optional(PartSchema),
  })),
  /** The master admitted an agent. @see `SlaveRegisteredMessage` */
  AgentRegistered: spec([['master', 'agent']], Type.Object({
    agentId: Id,
    connection: Type.Object({ totalPingTimeoutSeconds: Type.Number() }),
  })),
  /** The master took an agent back. @see `SlaveReregisteredMessage` */
  AgentReregistered: spec([['master', 'agent']], Type.Object({
    agentId: Id,
    connection: Type.Object({ totalPingTimeoutSeconds: Type.Number() }),
    /**
     * Tasks the master has on the agent that its report lacked: the agent answers TASK_LOST
     * (TASK_DROPPED for partition-aware frameworks) for each it does not know. @see `reconcileKnownSlave`
     */
    reconciliations: Type.Optional(Type.Array(Type.Object({
      frameworkId: Id,
      framework: FrameworkInfoSchema,
      taskIds: Ids,
    }), { maxItems: 10000 })),
  })),
  /** An agent leaves for good. @see `UnregisterSlaveMessage` */
  UnregisterAgent: spec([['agent', 'master']], Type.Object({ agentId: Id })),
  /** The agent must end what it runs and stop: it was marked gone. @see `ShutdownMessage` */
  ShutdownAgent: spec([['master', 'agent']], Type.Object({ message: Type.String({ maxLength: 1024 }) })),
  /** Master liveness probe. @see `PingSlaveMessage` */
  Ping: spec([['master', 'agent']], Type.Object({ connected: Type.Boolean() })),
  /** Answer to {@link MESSAGES.Ping}. @see `PongSlaveMessage` */
  Pong: spec([['agent', 'master']], Type.Object({ agentId: Type.Optional(Id) })),
  /** Run one task (master → agent, agent → executor). @see `RunTaskMessage` */
  RunTask: spec([['master', 'agent'], ['agent', 'executor']], Type.Object({
    frameworkId: Id,
    framework: FrameworkInfoSchema,
    task: TaskInfoSchema,
    schedulerPid: Type.Optional(Type.String()),
  })),
  /** Kill one task (scheduler → master → agent → executor). @see `KillTaskMessage` */
  KillTask: spec([['scheduler', 'master'], ['master', 'agent'], ['agent', 'executor']], Type.Object({
    frameworkId: Id,
    taskId: Id,
    agentId: Type.Optional(Id),
  })),
  /**
   * A framework's scheduler (re-)subscribed: the agent takes the new info and resends the
   * framework's unacknowledged updates at once instead of at their next retry. @see `UpdateFrameworkMessage`
   */
  UpdateFramework: spec([['master', 'agent']], Type.Object({ frameworkId: Id, framework: FrameworkInfoSchema })),
  /** Tear down everything of one framework on an agent. @see `ShutdownFrameworkMessage` */
  ShutdownFramework: spec([['master', 'agent']], Type.Object({ frameworkId: Id })),
  /** A status update travelling executor → agent → master → scheduler. @see `StatusUpdateMessage` */
  StatusUpdate: spec([['executor', 'agent'], ['agent', 'master'], ['master', 'scheduler']], Type.Object({
    update: StatusUpdateRecordSchema,
  })),
  /** Acknowledgement travelling master → agent → executor. @see `StatusUpdateAcknowledgementMessage` */
  StatusUpdateAcknowledgement: spec([['master', 'agent'], ['agent', 'executor']], Type.Object({
    agentId: Id,
    frameworkId: Id,
    taskId: Id,
    uuid: Id,
  })),
  /** An executor ended (agent → master → scheduler). @see `ExitedExecutorMessage` */
  ExitedExecutor: spec([['agent', 'master'], ['master', 'scheduler']], Type.Object({
    agentId: Id,
    frameworkId: Id,
    executorId: Id,
    status: Type.Number(),
  })),
  /** Opaque data from a scheduler to its executor. @see `FrameworkToExecutorMessage` */
  FrameworkToExecutor: spec([['scheduler', 'master'], ['master', 'agent'], ['agent', 'executor']], Type.Object({
    agentId: Id,
    frameworkId: Id,
    executorId: Id,
    data: Bytes,
  })),
  /** Opaque data from an executor to its scheduler. @see `ExecutorToFrameworkMessage` */
  ExecutorToFramework: spec([['executor', 'agent'], ['agent', 'master'], ['master', 'scheduler']], Type.Object({
    agentId: Id,
    frameworkId: Id,
    executorId: Id,
    data: Bytes,
  })),

  // ── scheduler ⇄ master ────────────────────────────────────────────────────────────
  /** A scheduler registers, or fails over when `framework.id` is set. @see `RegisterFrameworkMessage` */
  SubscribeFramework: spec([['scheduler', 'master']], Type.Object({
    framework: FrameworkInfoSchema,
    force: Type.Optional(Type.Boolean()),
  })),
  /** The master accepted a subscription. @see `FrameworkRegisteredMessage` */
  FrameworkRegistered: spec([['master', 'scheduler']], Type.Object({
    frameworkId: Id,
    master: MasterInfoSchema,
    /** How often the master expects a `Heartbeat` from the scheduler (and sends one). */
    heartbeatIntervalSeconds: HeartbeatInterval,
  })),
  /** The master accepted a re-subscription. @see `FrameworkReregisteredMessage` */
  FrameworkReregistered: spec([['master', 'scheduler']], Type.Object({
    frameworkId: Id,
    master: MasterInfoSchema,
    heartbeatIntervalSeconds: HeartbeatInterval,
  })),
  /**
   * Liveness between a master and a subscribed scheduler, sent both ways every interval: the
   * master deactivates a framework whose scheduler falls silent, and the driver re-subscribes when
   * its master does. @see v1 scheduler `Event::HEARTBEAT`
   */
  Heartbeat: spec([['master', 'scheduler'], ['scheduler', 'master']], Type.Object({
    frameworkId: Id,
    intervalSeconds: HeartbeatInterval,
  })),
  /** A fatal error for the framework. @see `FrameworkErrorMessage` */
  FrameworkError: spec([['master', 'scheduler']], Type.Object({ message: Type.String({ maxLength: 65536 }) })),
  /** The scheduler ends the framework: tasks are killed, resources freed. @see `UnregisterFrameworkMessage` */
  TeardownFramework: spec([['scheduler', 'master'], ['operator', 'master']], Type.Object({ frameworkId: Id })),
  /** The scheduler disconnects but the framework may fail over. @see `DeactivateFrameworkMessage` */
  DeactivateFramework: spec([['scheduler', 'master']], Type.Object({ frameworkId: Id })),
  /** Offers for a framework. @see `ResourceOffersMessage` */
  ResourceOffers: spec([['master', 'scheduler']], Type.Object({ offers: Type.Array(OfferSchema) })),
  /** Offers withdrawn. @see `RescindResourceOfferMessage` */
  OffersRescinded: spec([['master', 'scheduler']], Type.Object({ offerIds: Ids })),
  /** Use offers to launch tasks; resources left over are declined with `filters`. @see `LaunchTasksMessage` */
  LaunchTasks: spec([['scheduler', 'master']], Type.Object({
    frameworkId: Id,
    offerIds: Ids,
    tasks: Type.Array(TaskInfoSchema, { maxItems: 10000 }),
    filters: Type.Optional(FiltersSchema),
  })),
  /** Refuse offers, optionally for `filters.refuseSeconds`. @see `Call::DECLINE` */
  DeclineOffers: spec([['scheduler', 'master']], Type.Object({
    frameworkId: Id,
    offerIds: Ids,
    filters: Type.Optional(FiltersSchema),
  })),
  /** Clear filters and resume offers. @see `ReviveOffersMessage` */
  ReviveOffers: spec([['scheduler', 'master']], Type.Object({ frameworkId: Id, roles: Type.Optional(Type.Array(Id)) })),
  /** Stop offers until revived. @see `SuppressOffersMessage` */
  SuppressOffers: spec([['scheduler', 'master']], Type.Object({ frameworkId: Id, roles: Type.Optional(Type.Array(Id)) })),
  /** The scheduler acknowledges a status update. @see `StatusUpdateAcknowledgementMessage` */
  AcknowledgeStatusUpdate: spec([['scheduler', 'master']], Type.Object({
    frameworkId: Id,
    agentId: Id,
    taskId: Id,
    uuid: Id,
  })),
  /** Ask for the latest state of tasks (all tasks when `statuses` is empty). @see `ReconcileTasksMessage` */
  ReconcileTasks: spec([['scheduler', 'master']], Type.Object({
    frameworkId: Id,
    statuses: Type.Array(Type.Object({ taskId: Id, agentId: Type.Optional(Id), state: Type.Optional(TaskStateSchema) })),
  })),
  /** An agent is gone. @see `LostSlaveMessage` */
  AgentLost: spec([['master', 'scheduler']], Type.Object({ agentId: Id })),

  // ── executor ⇄ agent ───────────────────────────────────────────────────────────────
  /** An executor process announces itself. @see `RegisterExecutorMessage` */
  RegisterExecutor: spec([['executor', 'agent']], Type.Object({ frameworkId: Id, executorId: Id })),
  /** The agent accepted an executor. @see `ExecutorRegisteredMessage` */
  ExecutorRegistered: spec([['agent', 'executor']], Type.Object({
    executor: ExecutorInfoSchema,
    frameworkId: Id,
    framework: FrameworkInfoSchema,
    agentId: Id,
    agent: AgentInfoSchema,
    /** The agent's OS process, which the executor watches to notice it end. */
    agentOsPid: Type.Optional(Type.Integer({ minimum: 1 })),
  })),
  /**
   * A restarted agent tells a running executor of a checkpointing framework where it is (same PID)
   * and asks it to re-register. @see `ReconnectExecutorMessage`
   */
  ReconnectExecutor: spec([['agent', 'executor']], Type.Object({ agentId: Id })),
  /**
   * An executor re-registers with its restarted agent: the tasks it runs and the status updates the
   * agent has not acknowledged yet. @see `ReregisterExecutorMessage`
   */
  ReregisterExecutor: spec([['executor', 'agent']], Type.Object({
    frameworkId: Id,
    executorId: Id,
    tasks: Type.Array(TaskInfoSchema, { maxItems: 10000 }),
    updates: Type.Array(StatusUpdateRecordSchema, { maxItems: 10000 }),
  })),
  /** The restarted agent took the executor back. @see `ExecutorReregisteredMessage` */
  ExecutorReregistered: spec([['agent', 'executor']], Type.Object({
    agentId: Id,
    agent: AgentInfoSchema,
    /** The restarted agent's OS process, which the executor (not its child) watches to notice it end. */
    agentOsPid: Type.Optional(Type.Integer({ minimum: 1 })),
  })),
  /** The agent tells an executor to stop everything and exit. @see `ShutdownExecutorMessage` */
  ShutdownExecutor: spec([['agent', 'executor']], Type.Object({ gracePeriodSeconds: Type.Optional(Type.Number()) })),

  /** Tasks the master will kill after a grace period to meet another role's guarantee. */
  RevocationScheduled: spec([['master', 'scheduler']], Type.Object({
    tasks: Type.Array(Type.Object({ taskId: Id, agentId: Id }), { maxItems: 100000 }),
    gracePeriodSeconds: Type.Number({ minimum: 0 }),
  })),
  /**
   * What a framework wants offered (the paper's requests): nothing smaller than `minOffer`, never
   * `excludedAgents`, `preferredAgents` first. Replaces the previous request. @see `ResourceRequestMessage`
   */
  RequestResources: spec([['scheduler', 'master']], Type.Object({
    frameworkId: Id,
    minOffer: Type.Optional(ResourcesSchema),
    preferredAgents: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 10000 })),
    excludedAgents: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 10000 })),
  })),

  // ── operator ───────────────────────────────────────────────────────────────────────
  /** Sets a role's quota: guarantees served first and held back for, limits never exceeded. @see `/quota` */
  UpdateQuota: spec([['operator', 'master']], Type.Object({
    role: Id,
    guarantees: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Number({ minimum: 0 }))),
    limits: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Number({ minimum: 0 }))),
  })),
  /** Sets role weights. @see `/weights` */
  UpdateWeights: spec([['operator', 'master']], Type.Object({
    weights: Type.Record(Type.String({ maxLength: 256 }), Type.Number({ exclusiveMinimum: 0 })),
  })),
  /** Restricts offers to agents with these hostnames; absent = all agents. @see `--whitelist` */
  UpdateWhitelist: spec([['operator', 'master']], Type.Object({
    hostnames: Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 100000 })),
  })),
  /**
   * The agent will never come back: it is removed, its tasks end TASK_GONE_BY_OPERATOR, it is told
   * to shut down, and it is refused if it returns. @see v1 `MARK_AGENT_GONE`, `Master::markGone`
   */
  MarkAgentGone: spec([['operator', 'master']], Type.Object({ agentId: Id })),
  /** Asks the master for its metrics; answered with {@link MESSAGES.MetricsSnapshot}. @see `/metrics/snapshot` */
  GetMetrics: spec([['operator', 'master']], Type.Object({})),
  /** The master's counters and gauges, named as Mesos names them. */
  MetricsSnapshot: spec([['master', 'operator']], Type.Object({
    metrics: Type.Record(Type.String({ maxLength: 256 }), Type.Number(), { maxProperties: 10000 }),
  })),
  /** Asks an agent what each of its executors' containers uses; answered with {@link MESSAGES.ContainerStatistics}. @see `/monitor/statistics` */
  GetContainerStatistics: spec([['operator', 'agent']], Type.Object({})),
  /** Per executor: its container and what it uses now. @see Mesos `/monitor/statistics` */
  ContainerStatistics: spec([['agent', 'operator']], Type.Object({
    agentId: Type.Optional(Id),
    executors: Type.Array(Type.Object({
      frameworkId: Id,
      executorId: Id,
      executorName: Type.Optional(Type.String({ maxLength: 1024 })),
      containerId: Id,
      statistics: ResourceStatisticsSchema,
    }), { maxItems: 100000 }),
  })),
  /** Resources an agent currently offers nothing for (reserved for operator surfaces). */
  UpdateAgentResources: spec([['agent', 'master']], Type.Object({ agentId: Id, resources: ResourcesSchema })),
} as const;

/** A known message type name. */
export type MessageType = keyof typeof MESSAGES;
/** The body of message type `T`. */
export type Body<T extends MessageType> = Static<(typeof MESSAGES)[T]['body']>;
/** A message as an actor sees it: a type and its body. */
export type Message = { [T in MessageType]: { type: T; body: Body<T> } }[MessageType];

/**
 * Reads vocabulary fields (task states, sources, reasons) a newer peer may have extended: a value
 * this version does not know becomes the vocabulary's unknown value, in place. The message itself
 * is kept. Called by the codec on every validated body.
 */
export function normalizeVocabulary(type: MessageType, body: any): void {
  if (STATE_CREATING.has(type)) Value.Clean(MESSAGES[type].body, body);
  switch (type) {
    case 'StatusUpdate': {
      const u = body.update;
      normalizeStatus(u.status);
      if (u.latestState !== undefined) u.latestState = knownTaskState(u.latestState);
      break;
    }
    case 'ReregisterAgent':
      for (const t of body.tasks) {
        t.state = knownTaskState(t.state);
        if (t.statusUpdateState !== undefined) t.statusUpdateState = knownTaskState(t.statusUpdateState);
      }
      break;
    case 'ReregisterExecutor':
      for (const u of body.updates) normalizeStatus(u.status);
      break;
    case 'ReconcileTasks':
      for (const st of body.statuses) if (st.state !== undefined) st.state = knownTaskState(st.state);
      break;
    default:
      break;
  }
}

function normalizeStatus(st: { state: string; source?: string; reason?: string }): void {
  st.state = knownTaskState(st.state);
  if (st.source !== undefined) st.source = knownTaskSource(st.source);
  if (st.reason !== undefined) st.reason = knownTaskReason(st.reason);
}

/**
 * Requests that create state at their receiver (a framework, an agent, tasks). Fields their schema
 * does not know are stripped before anyone sees them — never stored, offered or echoed back —
 * rather than refused, so that a newer sender's optional fields still work. @see `MAX_BYTES_BY_TYPE`
 */
export const STATE_CREATING: ReadonlySet<MessageType> = new Set(['SubscribeFramework', 'RegisterAgent', 'LaunchTasks']);

/**
 * The largest message of these types a receiver takes (bytes, encoded); larger ones are dropped as
 * `oversized`, below the bus's own limit. A subscription or an agent's registration is small; a
 * re-registration is split into parts (`chunking.ts`) and each part fits the bus.
 */
export const MAX_BYTES_BY_TYPE: Partial<Record<MessageType, number>> = {
  SubscribeFramework: 64 * 1024,
  RegisterAgent: 256 * 1024,
};

/** True when `t` names a message in the catalogue. */
export function isMessageType(t: string): t is MessageType {
  return Object.prototype.hasOwnProperty.call(MESSAGES, t);
}
