/**
 * Failover at scale (`npm run bench:failover -- --agents 10000 --tasks 100000`): an agent swarm
 * (`test/helpers/agent-swarm.ts`, many emulated agents on the real wire protocol) registers with a
 * leading `mesos-master` process while a second one stands by; a framework in this process
 * launches `--tasks` tasks across the agents; then the leader is SIGKILLed.
 *
 * Prints one JSON line: `electedMs` (SIGKILL → the standby is seen to lead), `allReregisteredMs`
 * (SIGKILL → every agent answered by the new leader), `reregisteredAfterElectionMs`,
 * `firstOfferMs` (SIGKILL → the framework's first offer from the new leader), the new leader's RSS
 * and worst event-loop stall (from its metrics), and `leaseKept` (no election happened in the
 * `--watch` seconds after everything came back).
 *
 * `--boot-storm`: instead, `--agents` agents (50,000 by default) register with one leader at
 * once: `allRegisteredMs`, the leader's worst stall, `leaseKept`, then a new framework's
 * `firstOfferMs` and how many agents it was offered.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { allRunning, cpuSeconds, mb, ScaleCluster, sayer, waitFor, wholeNumber } from './scale-cluster.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string' },
    tasks: { type: 'string' },
    'boot-storm': { type: 'boolean', default: false },
    watch: { type: 'string', default: '10' },
    'master-flags': { type: 'string', default: '' },
  },
});
const bootStorm = values['boot-storm'];
const agentCount = wholeNumber('failover', 'agents', values.agents, bootStorm ? 50_000 : 10_000);
const taskCount = wholeNumber('failover', 'tasks', values.tasks, bootStorm ? 0 : 100_000);
const watchMs = wholeNumber('failover', 'watch', values.watch, 10) * 1000;
const say = sayer('failover');
const c = await ScaleCluster.start({ bench: 'failover', agents: agentCount, masterFlags: values['master-flags'].split(' ').filter(Boolean) });
const { swarm, server } = c;
/** A master that waits for every agent after a failover, however long the swarm takes. */
const master = (label: string) => c.startMaster(label, ['--agent_reregister_timeout=10mins']);
await c.run(say, async () => {
  if (bootStorm) {
    const m = await master('master');
    c.yieldToMasters();
    const l = await c.leaderOtherThan();
    say(`leader ${l.pid}; ${agentCount} agents register at once`);
    const t0 = performance.now();
    await swarm.registered();
    const allRegisteredMs = performance.now() - t0;
    say(`all registered after ${Math.round(allRegisteredMs)} ms`);
    const settled = performance.now();
    await waitFor(watchMs); // the measurement window: did the leader keep its lease under the storm?
    const fw = c.framework(0, 0);
    const s0 = performance.now();
    fw.driver.start();
    while (fw.offers < agentCount && performance.now() - s0 < 120_000) await waitFor(100);
    const metrics = await c.metricsOf(l.pid);
    return {
      mode: 'boot-storm',
      agents: agentCount,
      allRegisteredMs: Math.round(allRegisteredMs),
      registrationsSent: swarm.stats().registrationsSent,
      leaseKept: c.leaseKept(t0) && m.proc.running,
      firstOfferMs: Math.round(fw.firstOfferAt - s0),
      agentsOffered: fw.offers,
      leaderRssMb: mb(metrics['system/mem_rss_bytes']),
      worstStallMs: Math.round(metrics['master/event_loop_delay_max_ms'] ?? -1),
      stallP99Ms: Math.round(metrics['master/event_loop_delay_p99_ms'] ?? -1),
      settledAt: Math.round(settled - t0),
      swarmNice: c.swarmNice,
    };
  } else {
    const a = await master('master-a');
    const la = await c.leaderOtherThan();
    const b = await master('master-b');
    c.yieldToMasters();
    say(`leader ${la.pid}, standby ${b.pid}; registering ${agentCount} agents`);
    const r0 = performance.now();
    await swarm.registered();
    say(`all registered after ${Math.round(performance.now() - r0)} ms; launching ${taskCount} tasks`);
    const fw = c.framework(taskCount, Math.ceil(taskCount / agentCount));
    const l0 = performance.now();
    fw.driver.start();
    await allRunning(fw, taskCount, say);
    say(`${taskCount} tasks running after ${Math.round(performance.now() - l0)} ms; SIGKILL the leader`);
    fw.resetOffers();
    swarm.prepare();
    const cpu0 = { master: cpuSeconds(b.proc.pid), bench: cpuSeconds(process.pid), nats: cpuSeconds(server.pid) };
    const sent0 = swarm.stats().registrationsSent;
    const killAt = performance.now();
    a.proc.signal('SIGKILL');
    const lb = await c.leaderOtherThan(la.pid);
    const electedAt = performance.now();
    say(`new leader ${lb.pid} after ${Math.round(electedAt - killAt)} ms`);
    await swarm.registered();
    const allAt = swarm.lastAnsweredAt();
    const cpu = {
      master: +(cpuSeconds(b.proc.pid) - cpu0.master).toFixed(2),
      benchAndSwarm: +(cpuSeconds(process.pid) - cpu0.bench).toFixed(2),
      nats: +(cpuSeconds(server.pid) - cpu0.nats).toFixed(2),
    };
    say(`all re-registered ${Math.round(allAt - killAt)} ms after the kill`);
    const o0 = performance.now();
    while (fw.firstOfferAt === 0 && performance.now() - o0 < 60_000) await waitFor(50);
    await waitFor(watchMs); // the measurement window: does the new leader keep its lease?
    const metrics = await c.metricsOf(lb.pid);
    // From the new leader's own log: when it won, when its registry was read.
    const logTime = (msg: RegExp) => {
      const j = b.proc.json().find((x) => typeof x.msg === 'string' && msg.test(x.msg));
      return typeof j?.time === 'number' ? j.time : undefined;
    };
    const wonAt = logTime(/^elected leading master$/);
    const readAt = logTime(/^Recovered the registry/);
    const servingAt = logTime(/^Serving: /);
    return {
      mode: 'failover',
      agents: agentCount,
      tasks: taskCount,
      electedMs: Math.round(electedAt - killAt),
      allReregisteredMs: Math.round(allAt - killAt),
      reregisteredAfterElectionMs: Math.round(allAt - electedAt),
      firstOfferMs: fw.firstOfferAt > 0 ? Math.round(fw.firstOfferAt - killAt) : null,
      reregistrationsSent: swarm.stats().registrationsSent - sent0,
      leaseKept: c.leaseKept(electedAt + 1) && b.proc.running,
      leaderRssMb: mb(metrics['system/mem_rss_bytes']),
      worstStallMs: Math.round(metrics['master/event_loop_delay_max_ms'] ?? -1),
      stallP99Ms: Math.round(metrics['master/event_loop_delay_p99_ms'] ?? -1),
      tasksRunningAtNewLeader: metrics['master/tasks_running'],
      registryReadMs: wonAt !== undefined && readAt !== undefined ? readAt - wonAt : null,
      servingAfterElectionMs: wonAt !== undefined && servingAt !== undefined ? servingAt - wonAt : null,
      retriesAnsweredFromCache: metrics['master/slave_reregistration_retries'] ?? 0,
      repeatsAnsweredUnread: metrics['bus/repeats_answered'] ?? 0,
      cpuSecondsUntilAllReregistered: cpu,
      deferred: metrics['master/messages_deferred'] ?? 0,
      swarmNice: c.swarmNice,
    };
  }
});
