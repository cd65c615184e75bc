/**
 * `--inspect`: where a process's machines are shown, besides the local statechart view that the
 * master and the agent always serve (`/inspect`, `inspection.ts`).
 *
 * - `--inspect` on its own, or `--inspect=ui`: that local view only; a master or agent logs its URL.
 *   Never a hosted service;
 * - `--inspect=log`: every inspection record (events, snapshots) also written to the log at info
 *   level — works offline, and `jq` turns it into a timeline;
 * - `--inspect=ws://host:port`: the `@statelyai/inspect` WebSocket inspector server; while it
 *   cannot be reached a warning is logged (once per outage) and records wait, a bounded number;
 * - `--inspect=sky`: Stately's hosted Sky inspector, only when asked for by name (needs internet;
 *   fails harmlessly offline).
 */
import { createSkyInspector, createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import type { Logger } from './log.ts';

/** An inspection observer to pass to `createActor(…, { inspect })`, or `undefined` when off. */
export type Inspect = Observer<InspectionEvent> | ((e: InspectionEvent) => void) | undefined;

/** The help of the `--inspect` flag. */
export const INSPECT_HELP = 'where to show the machines: ui (what --inspect alone means: the local statechart view at /inspect, logged at start), log (records in the log), ws://host:port (a @statelyai/inspect server), or sky (Stately\'s hosted viewer, needs internet)';

/** What is wrong with an `--inspect` value, or `undefined` when it is one {@link createInspect} takes. */
export function inspectValueProblem(value: string): string | undefined {
  if (value === 'ui' || value === 'log' || value === 'sky') return undefined;
  if (/^wss?:\/\//i.test(value)) {
    try {
      if (new URL(value).hostname !== '') return undefined;
    } catch {
      // not a URL: refused below
    }
  }
  return 'expected ui, log, ws://host:port or sky';
}

/** Builds the inspector the `--inspect` flag value asks for. */
export function createInspect(flag: string | boolean | undefined, logger: Logger): Inspect {
  // The local view needs nothing more: the master's and agent's hubs are always on.
  if (flag === undefined || flag === false || flag === '' || flag === true || flag === 'ui') return undefined;
  if (flag === 'log') {
    return (e: InspectionEvent) => {
      const actor = (e.actorRef as { id?: string }).id;
      if (e.type === '@xstate.event') logger.info({ inspect: 'event', actor, event: e.event.type, source: (e.sourceRef as { id?: string } | undefined)?.id }, 'inspect event');
      else if (e.type === '@xstate.snapshot') logger.info({ inspect: 'snapshot', actor, value: (e.snapshot as { value?: unknown }).value }, 'inspect snapshot');
    };
  }
  try {
    if (/^wss?:\/\//i.test(flag)) return webSocketInspector(flag, logger).inspect;
    return createSkyInspector({ onerror: (err) => logger.warn({ err: err.message }, 'inspector unavailable') }).inspect;
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'inspector could not start');
    return undefined;
  }
}

/** The part of a WebSocket the inspector's sockets are watched through. */
interface WatchedSocket {
  addEventListener(type: 'open' | 'error', listener: (e: { message?: string; error?: { code?: string; message?: string } }) => void): void;
  close(): void;
}

/**
 * A `@statelyai/inspect` WebSocket inspector sending to `url`, whose sockets are watched: when
 * one cannot connect a warning is logged (once until a socket opens again, since the inspector
 * tries every few seconds), and an info line when one opens after that. `stop` closes it.
 */
export function webSocketInspector(url: string, logger: Logger): { inspect: NonNullable<Inspect>; stop(): void } {
  const inspector = createWebSocketInspector({ url, autoStart: false });
  // The adapter opens a new socket (`ws`) on every attempt and says nothing when one fails: an
  // accessor on that field sees each socket as it is made.
  let down = false;
  let stopped = false;
  let socket: WatchedSocket | undefined;
  Object.defineProperty(inspector.adapter, 'ws', {
    configurable: true,
    enumerable: true,
    get: () => socket,
    set: (ws: WatchedSocket | undefined) => {
      if (stopped && ws) {
        // The adapter retries even after `stop()`: close the new socket and hand the adapter an
        // inert stand-in, so nothing keeps the process alive.
        ws.addEventListener('error', () => {});
        ws.close();
        socket = { addEventListener: () => {}, close: () => {} };
        return;
      }
      socket = ws;
      ws?.addEventListener('error', (e) => {
        if (down) return;
        down = true;
        logger.warn({ url, err: e.error?.code ?? e.error?.message ?? e.message }, 'inspector unreachable: inspection records wait (a bounded number) until it answers');
      });
      ws?.addEventListener('open', () => {
        if (down) logger.info({ url }, 'inspector connected');
        down = false;
      });
    },
  });
  inspector.start();
  return {
    inspect: inspector.inspect,
    stop: () => {
      stopped = true;
      inspector.stop();
    },
  };
}
