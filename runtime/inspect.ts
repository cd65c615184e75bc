/**
 * `--inspect`: stream a process's machines to the XState inspector.
 *
 * - `--inspect` or `--inspect=sky`: the Stately Sky inspector (needs internet; fails harmlessly offline);
 * - `--inspect=ws://host:port`: the `@statelyai/inspect` WebSocket inspector server;
 * - `--inspect=log`: every inspection record (events, snapshots) written to the log at info level —
 *   works offline, and `jq` turns it into a timeline.
 */
import { createSkyInspector, createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Observer } from 'xstate';
import type { Logger } from './log.ts';

/** An inspection observer to pass to `createActor(…, { inspect })`, or `undefined` when off. */
export type Inspect = Observer<InspectionEvent> | ((e: InspectionEvent) => void) | undefined;

/** Builds the inspector the `--inspect` flag value asks for. */
export function createInspect(flag: string | boolean | undefined, logger: Logger): Inspect {
  if (flag === undefined || flag === false || flag === '') return undefined;
  if (flag === 'log') {
    return (e: InspectionEvent) => {
      const actor = (e.actorRef as { id?: string }).id;
      if (e.type === '@xstate.event') logger.info({ inspect: 'event', actor, event: e.event.type, source: (e.sourceRef as { id?: string } | undefined)?.id }, 'inspect event');
      else if (e.type === '@xstate.snapshot') logger.info({ inspect: 'snapshot', actor, value: (e.snapshot as { value?: unknown }).value }, 'inspect snapshot');
    };
  }
  try {
    if (typeof flag === 'string' && flag.startsWith('ws')) return createWebSocketInspector({ url: flag }).inspect;
    return createSkyInspector({ onerror: (err) => logger.warn({ err: err.message }, 'inspector unavailable') }).inspect;
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'inspector could not start');
    return undefined;
  }
}
