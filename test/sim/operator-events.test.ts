/**
 * The master's operator events (what a v1 `SUBSCRIBE` stream carries) are complete: replaying
 * them gives the master's own view. A cluster goes through launches, tasks that finish, fail and
 * are killed, an agent partitioned until unreachable and back, an agent that leaves, a framework
 * that disconnects and comes back, and one torn down; after each step the tasks, agents and
 * frameworks rebuilt from the events alone must equal the master's state.
 *
 * Mesos' subscribers rebuild their view the same way (`MasterAPITest.Subscribe`,
 * `MasterAPITest.FrameworksEvent`, `MasterAPITest.AgentAddedAndRemoved`).
 */
import test from 'ava';
import { isTerminalState, type TaskState } from '../../protocols/task-states.ts';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

/** A view rebuilt from v1 events only. */
function replay(events: ReadonlyArray<Record<string, any>>) {
  const tasks = new Map<string, string>();
  const agents = new Set<string>();
  const frameworks = new Map<string, { active: boolean; connected: boolean }>();
  const removed = new Set<string>();
  for (const e of events) {
    switch (e.type) {
      case 'TASK_ADDED': {
        const t = e.task_added.task;
        tasks.set(`${t.framework_id.value}/${t.task_id.value}`, t.state);
        break;
      }
      case 'TASK_UPDATED':
        tasks.set(`${e.task_updated.framework_id.value}/${e.task_updated.status.task_id.value}`, e.task_updated.state);
        break;
      case 'AGENT_ADDED':
        agents.add(e.agent_added.agent.agent_info.id.value);
        break;
      case 'AGENT_REMOVED':
        agents.delete(e.agent_removed.agent_id.value);
        break;
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const f = e.framework_added?.framework ?? e.framework_updated.framework;
        frameworks.set(f.framework_info.id.value, { active: f.active, connected: f.connected });
        break;
      }
      case 'FRAMEWORK_REMOVED': {
        const id = e.framework_removed.framework_info.id.value;
        frameworks.delete(id);
        removed.add(id);
        // Its tasks that had not ended are killed with it.
        for (const [k, state] of tasks) if (k.startsWith(`${id}/`) && !isTerminalState(state as TaskState)) tasks.set(k, 'TASK_KILLED');
        break;
      }
      default:
        throw new Error(`unknown event ${String(e.type)}`);
    }
  }
  return { tasks, agents, frameworks, removed };
}

/** The same view, read from the master's state. */
function fromState(sim: SimCluster) {
  const s = sim.masterState;
  const tasks = new Map<string, string>();
  const frameworks = new Map<string, { active: boolean; connected: boolean }>();
  for (const fw of [...s.frameworks.values(), ...s.completedFrameworks]) {
    for (const t of fw.completedTasks) tasks.set(`${fw.id}/${t.taskId}`, t.state);
    for (const u of fw.unreachableTasks.values()) tasks.set(`${fw.id}/${u.task.taskId}`, u.task.state);
    for (const t of fw.tasks.values()) tasks.set(`${fw.id}/${t.task.taskId}`, t.task.state);
  }
  for (const fw of s.frameworks.values()) frameworks.set(fw.id, { active: fw.active, connected: fw.connected });
  return { tasks, agents: new Set(s.agents.keys()), frameworks, removed: new Set(s.completedFrameworks.map((f) => f.id)) };
}

test('replaying the operator events gives the master’s tasks, agents and frameworks after every kind of change', async (t) => {
  const sim = await SimCluster.start({ agents: 3, masterFlags: { agentPingTimeoutMs: 5000, maxAgentPingTimeouts: 2 } });
  t.teardown(() => sim.stop());
  const check = (step: string) => {
    const leader = sim.leader()!;
    const events = sim.operatorEvents.filter((e) => e.master === leader.runId).map((e) => e.event);
    const got = replay(events);
    const want = fromState(sim);
    t.deepEqual(Object.fromEntries(got.tasks), Object.fromEntries(want.tasks), `${step}: tasks`);
    t.deepEqual([...got.agents].sort(), [...want.agents].sort(), `${step}: agents`);
    t.deepEqual(Object.fromEntries(got.frameworks), Object.fromEntries(want.frameworks), `${step}: frameworks`);
    t.deepEqual([...got.removed].sort(), [...want.removed].sort(), `${step}: removed frameworks`);
  };
  check('agents registered');

  const aware = new RecordingScheduler();
  const a = sim.driver(aware, { name: 'aware', capabilities: ['PARTITION_AWARE'] });
  const plain = new RecordingScheduler();
  const p = sim.driver(plain, { name: 'plain', failoverTimeoutSeconds: 3600 });
  await sim.settle();
  check('frameworks subscribed');

  // Each framework launches on each offer: a long task, one that finishes, one that fails.
  const launchAll = (sched: RecordingScheduler, d: typeof a, prefix: string) => {
    for (const [i, o] of sched.takeOffers().entries()) {
      d.launchTasks([o.id], [
        commandTask(o, `${prefix}-long-${i}`, 'sleep 1000', 'cpus:0.5;mem:64'),
        commandTask(o, `${prefix}-ok-${i}`, 'exit 0', 'cpus:0.25;mem:32'),
        commandTask(o, `${prefix}-bad-${i}`, 'exit 3', 'cpus:0.25;mem:32'),
      ]);
    }
  };
  launchAll(aware, a, 'a');
  launchAll(plain, p, 'p');
  await sim.settle();
  check('tasks launched, finished and failed');

  const victim = aware.updates.find((u) => u.taskId.startsWith('a-long-') && u.state === 'TASK_RUNNING')!;
  a.killTask(victim.taskId);
  await sim.settle();
  check('a task killed');

  // An agent cut off until unreachable, then healed: it re-registers with its tasks.
  const cut = sim.agents[0]!;
  const heal = sim.partition(cut.pid);
  await sim.advance(20_000, 500);
  check('an agent unreachable');
  heal();
  await sim.advance(30_000, 500);
  check('the agent back');

  // An agent leaves for good.
  await sim.agents[1]!.leave(30_000);
  await sim.settle();
  check('an agent unregistered');

  // A framework's scheduler goes silent and comes back; another is torn down.
  const restore = sim.partition(p.pid);
  await sim.advance(120_000, 1000);
  check('a framework disconnected');
  restore();
  await sim.advance(30_000, 1000);
  check('the framework back');
  await a.stop();
  await sim.settle();
  check('a framework torn down');
  t.true(sim.operatorEvents.length > 20);
});
