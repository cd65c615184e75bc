/**
 * Keeps the UI subscribed to the leading master's operator events: `POST /api/v1 SUBSCRIBE`, the
 * RecordIO body read as it arrives into the store, and again after the stream ends or goes quiet
 * for two heartbeats (a master failover). A master that stands by sends the browser to the
 * leader's UI, as Mesos' web UI does: the stream itself cannot follow its redirect to another
 * origin.
 */
import { readRecordIO } from './recordio.ts';
import type { ClusterStore } from './store.ts';

/** What the master that serves the UI says about leadership (`/webui/leader`). */
export interface LeaderAnswer {
  leading: boolean;
  /** The leader's HTTP address (`host:port`), when one is known. */
  leader?: string;
  /** This master's own address as it advertises it. */
  self?: string;
}

/** The connection's state, for the header. */
export interface ConnectionStatus {
  state: 'connecting' | 'connected' | 'reconnecting';
  leader?: string;
  /** The master that answers this page. */
  answering: string;
  since?: number;
  error?: string;
}

const RETRY_MS = [250, 500, 1000, 2000, 4000];

/** Asks the page's master who leads; `undefined` when it does not answer. */
export async function askLeader(): Promise<LeaderAnswer | undefined> {
  try {
    const r = await fetch('/webui/leader', { cache: 'no-store' });
    return r.ok ? ((await r.json()) as LeaderAnswer) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs until the page goes: subscribes, feeds `store`, reports through `onStatus` and calls
 * `onChange` after each batch of records.
 */
export async function stayConnected(store: ClusterStore, onStatus: (s: ConnectionStatus) => void, onChange: () => void): Promise<never> {
  let attempt = 0;
  const status: ConnectionStatus = { state: 'connecting', answering: location.host };
  const tell = (patch: Partial<ConnectionStatus>) => {
    Object.assign(status, patch);
    onStatus({ ...status });
  };
  for (;;) {
    const who = await askLeader();
    if (who) {
      tell({ leader: who.leader });
      if (!who.leading && who.leader && who.leader !== location.host) {
        // A standby: the leader's UI is the live one.
        location.replace(`${location.protocol}//${who.leader}/${location.hash}`);
      }
    }
    const ac = new AbortController();
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => ac.abort(), 2 * store.heartbeatSeconds * 1000 + 5000);
    };
    try {
      arm();
      const r = await fetch('/api/v1', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ type: 'SUBSCRIBE' }), signal: ac.signal, cache: 'no-store' });
      if (r.status !== 200 || !r.body) throw new Error(`SUBSCRIBE answered ${r.status}`);
      let pending = false;
      for await (const record of readRecordIO(r.body)) {
        arm();
        store.apply(record, Date.now());
        if ((record as { type?: string }).type === 'SUBSCRIBED') {
          attempt = 0;
          tell({ state: 'connected', since: Date.now(), error: undefined });
        }
        if ((record as { type?: string }).type === 'HEARTBEAT') {
          // The stream may outlive this master's leadership: ask at each heartbeat.
          const now = await askLeader();
          if (now && !now.leading) break;
        }
        if (!pending) {
          pending = true;
          queueMicrotask(() => {
            pending = false;
            onChange();
          });
        }
      }
      tell({ state: 'reconnecting', error: 'the event stream ended' });
    } catch (e) {
      tell({ state: 'reconnecting', error: (e as Error).message });
    } finally {
      clearTimeout(quiet);
      ac.abort();
    }
    onChange();
    await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)]));
  }
}
