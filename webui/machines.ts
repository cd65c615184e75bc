/**
 * The "Machines" page: the live statecharts of the master's and agents' machines, drawn by the
 * renderer module `statechart.ts` from the `/inspect` endpoints. The module is resolved through
 * the `@webui/statechart` path (`tsconfig.json`): `statechart.ts` when it is there, else a
 * placeholder that says the view is not part of this build.
 */
import { h } from './dom.ts';
import * as statechart from '@webui/statechart';

/** Whether this build has the renderer (the placeholder marks itself). */
export const hasStatechart = !('placeholder' in statechart);

export function machinesPage(): { el: HTMLElement; dispose: () => void } {
  const view = h('div', { class: 'statechart', 'data-statechart': hasStatechart ? 'mounted' : 'missing' });
  const el = h('section', {}, h('h2', {}, 'Machines'), view);
  const unmount = statechart.mountStatechart(view, location.origin);
  return { el, dispose: unmount };
}
