/**
 * Asking actors questions over the bus as an operator: a PID of kind `operator` with its own
 * inbox, a request sent to an actor, and the first answer of the expected type from that actor.
 * What `mesos` tools and benchmarks use to read a master's metrics or an agent's container
 * statistics.
 */
import { randomUUID } from 'node:crypto';
import { Codec, envelope } from '../protocols/envelope.ts';
import type { Body, Message, MessageType } from '../protocols/messages.ts';
import { inboxOf, parsePid, pid as makePid, subjectFrom, type Pid } from '../protocols/pid.ts';
import type { Subscription, Transport } from './types.ts';

interface Waiter {
  from: string;
  type: MessageType;
  resolve: (body: unknown) => void;
}

/** An operator on the bus. */
export class OperatorClient {
  readonly pid: string;
  readonly #codec = new Codec();
  readonly #sub: Subscription;
  readonly #waiters = new Set<Waiter>();
  readonly #self: Pid;
  #seq = 0;

  constructor(private readonly transport: Transport, cluster: string, id = `op-${randomUUID().slice(0, 8)}`, principal?: string) {
    this.pid = makePid(cluster, 'operator', id, principal);
    this.#self = parsePid(this.pid)!;
    this.#sub = transport.subscribe(inboxOf(this.pid), (subject, data) => {
      const d = this.#codec.decode(data, this.pid, subject);
      if (!d.ok) return;
      for (const w of this.#waiters) {
        if (w.from !== d.envelope.from || w.type !== d.envelope.type) continue;
        this.#waiters.delete(w);
        w.resolve(d.envelope.body);
        return;
      }
    });
  }

  /**
   * Sends `msg` to `to` and resolves with the body of its first `reply` from `to`; rejects after
   * `timeoutMs` without one.
   */
  async request<T extends MessageType>(to: string, msg: Message, reply: T, timeoutMs = 10_000): Promise<Body<T>> {
    await this.transport.flush(); // the inbox subscription is in place before anyone answers
    return new Promise<Body<T>>((resolve, reject) => {
      const w: Waiter = { from: to, type: reply, resolve: (b) => { clearTimeout(timer); resolve(b as Body<T>); } };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error(`no ${reply} from ${to} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(w);
      this.transport.publish(subjectFrom(to, msg.type, this.#self), this.#codec.encode(envelope(this.pid, `${this.pid}-${++this.#seq}`, msg)));
    });
  }

  /** Stops listening (the transport stays open: it is the caller's). */
  close(): void {
    this.#sub.unsubscribe();
  }
}
