/**
 * Stands in for `statechart.ts` (the statechart renderer) in a build that does not have it: the
 * Machines page then says so instead of drawing.
 */

/** Marks this module as the stand-in. */
export const placeholder = true;

/** Says that the view is missing; returns how to unmount (nothing to do). */
export function mountStatechart(el: HTMLElement, _baseUrl: string): () => void {
  el.textContent = 'The statechart view is not part of this build.';
  return () => {};
}
