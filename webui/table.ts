/**
 * A virtualised table: however many rows it holds, only those in view (and a few around them)
 * are in the DOM, each at its place in a body as tall as all the rows would be. Rows have one
 * fixed height, so a row's place is its index times that height.
 */
import { h } from './dom.ts';

/** A column: its title, and how to render a row's cell. */
export interface Column<T> {
  title: string;
  /** Text, or an element. */
  cell: (row: T) => string | Node;
  /** A CSS width (`8em`, `20%`); the rest share what is left. */
  width?: string;
  /** Class of its cells. */
  class?: string;
}

/** Rows drawn beyond each edge of the view. */
const OVERSCAN = 8;

export class VirtualTable<T> {
  readonly el: HTMLElement;
  readonly #body: HTMLElement;
  readonly #empty: HTMLElement;
  #rows: readonly T[] = [];
  #frame = 0;
  #template: string;

  constructor(
    readonly columns: Column<T>[],
    readonly opts: { rowHeight?: number; key: (row: T) => string; onClick?: (row: T) => void; name: string; empty?: string },
  ) {
    this.#template = columns.map((c) => c.width ?? 'minmax(0, 1fr)').join(' ');
    const head = h('div', { class: 'vt-head', role: 'row' }, ...columns.map((c) => h('div', { class: 'vt-cell', role: 'columnheader' }, c.title)));
    head.style.gridTemplateColumns = this.#template;
    this.#body = h('div', { class: 'vt-body' });
    this.#empty = h('div', { class: 'vt-empty' }, opts.empty ?? 'Nothing to show');
    this.el = h('div', { class: 'vt', role: 'table', 'data-table': opts.name, onscroll: () => this.#schedule() }, head, this.#body, this.#empty);
  }

  get rowHeight(): number {
    return this.opts.rowHeight ?? 28;
  }

  /** Shows `rows` (redrawing only what is in view). */
  setRows(rows: readonly T[]): void {
    this.#rows = rows;
    this.#body.style.height = `${rows.length * this.rowHeight}px`;
    this.el.dataset.rows = String(rows.length);
    this.#empty.hidden = rows.length > 0;
    this.#draw();
  }

  #schedule(): void {
    if (this.#frame) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#draw();
    });
  }

  #draw(): void {
    const rh = this.rowHeight;
    const view = this.el.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.el.scrollTop / rh) - OVERSCAN);
    const last = Math.min(this.#rows.length, Math.ceil((this.el.scrollTop + view) / rh) + OVERSCAN);
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const row = this.#rows[i]!;
      const tr = h('div', { class: 'vt-row', role: 'row', 'data-id': this.opts.key(row) });
      tr.style.top = `${i * rh}px`;
      tr.style.height = `${rh}px`;
      tr.style.gridTemplateColumns = this.#template;
      if (this.opts.onClick) {
        tr.classList.add('clickable');
        tr.addEventListener('click', () => this.opts.onClick!(row));
      }
      for (const c of this.columns) {
        const v = c.cell(row);
        const td = h('div', { class: `vt-cell${c.class ? ` ${c.class}` : ''}`, role: 'cell' }, v);
        if (typeof v === 'string') td.title = v;
        tr.append(td);
      }
      frag.append(tr);
    }
    this.#body.replaceChildren(frag);
  }
}
