/**
 * Sorters order the clients an allocation pass visits: roles (hierarchically, `a/b` below `a`)
 * and, within a role, frameworks. Three policies share one tree:
 *
 * - `drf` — dominant resource fairness: a client's share is its largest fraction of any scalar
 *   resource in the pool, divided by its weight (so weight 2 means "entitled to twice as much");
 * - `priority` — strict priority: higher weight always first, DRF among equal weights;
 * - `random` — a weighted random order on every visit, from a seeded generator.
 *
 * Ties break by the number of allocations a client has had (it only ever grows), then by name.
 * Siblings are ordered by the share of their whole subtree, and each subtree is visited in full
 * before the next (hierarchical DRF).
 *
 * The order is kept incrementally: an allocation repositions only the clients on its path, so an
 * allocation pass over many agents never re-sorts from scratch. A change of the pool total or of a
 * weight re-sorts everything once, on the next visit.
 *
 * @see Mesos `DRFSorter` (`src/master/allocator/mesos/sorter/drf/sorter.cpp`) and `RandomSorter`.
 */
import { addInto, type Quantities } from './quantities.ts';
import { SortedList } from './sorted-list.ts';

/** Sorting policies. @see `--role_sorter`, `--framework_sorter` */
export const SORTER_POLICIES = ['drf', 'priority', 'random'] as const;
/** One of {@link SORTER_POLICIES}. */
export type SorterPolicy = (typeof SORTER_POLICIES)[number];

interface Node {
  /** Full path (`a/b`), or the client name in a flat sorter; `a/.` for a virtual leaf. */
  path: string;
  /** The client this leaf stands for (`a` for the virtual leaf `a/.`). */
  client?: string;
  parent?: Node;
  /** Sorted internal nodes and active leaves. */
  children: SortedList<Node>;
  /** Inactive leaves, in no order. */
  inactive: Set<Node>;
  active: boolean;
  allocation: Quantities;
  count: number;
  /**
   * The sort key the node was last placed with among its siblings: its share and allocation count
   * then. Siblings stay sorted by these until the node is repositioned, so it can be found by
   * binary search even after its allocation (and so its real share) changed.
   */
  share: number;
  placedCount: number;
  /** Listed in the sorter's `moved` (charged during a visit, not yet repositioned). */
  moved: boolean;
}

/**
 * A sorter over clients. Role sorters are `hierarchical` (paths split on `/`); framework sorters
 * are flat.
 */
export class Sorter {
  private readonly byKey = (a: Node, b: Node): number => this.compare(a, b);
  private readonly root: Node = this.newNode('');
  private readonly leaves = new Map<string, Node>();
  /** Number of active leaves. */
  private active = 0;
  private readonly weights = new Map<string, number>();
  private readonly total: Quantities = new Map();
  private dirty = false;
  /** Nesting depth of {@link visit} calls in progress. */
  private visiting = 0;
  /** Changes made during a visit, applied when the outermost visit ends. */
  private readonly deferred: Array<() => void> = [];
  /** Leaves whose allocation changed during a visit, repositioned when the outermost visit ends. */
  private readonly moved: Array<Node | undefined> = [];
  /**
   * How many of `moved` are in use. The array is emptied by clearing its slots, not by setting
   * its length to 0, which would drop its storage and make the next visit allocate it again.
   */
  private movedCount = 0;

  constructor(
    readonly policy: SorterPolicy = 'drf',
    private readonly hierarchical = false,
    /** Uniform random numbers in [0, 1) for the `random` policy (seeded by the caller). */
    private readonly random: () => number = () => 0,
  ) {}

  /** Adds an (inactive) client. */
  add(client: string): void {
    if (this.leaves.has(client)) return;
    const segments = this.hierarchical ? client.split('/') : [client];
    let parent = this.root;
    let path = '';
    for (let i = 0; i < segments.length - 1; i++) {
      path = path ? `${path}/${segments[i]}` : segments[i]!;
      parent = this.internalChild(parent, path);
    }
    const existing = this.findChild(parent, client);
    if (existing) {
      // `client` is already an internal node (it has subroles): the client lives in a virtual leaf.
      const leaf = this.newNode(`${client}/.`, existing, client);
      existing.inactive.add(leaf);
      this.leaves.set(client, leaf);
    } else {
      const leaf = this.newNode(client, parent, client);
      parent.inactive.add(leaf);
      this.leaves.set(client, leaf);
    }
    this.dirty = true;
  }

  /** Removes a client and its allocation. */
  remove(client: string): void {
    const leaf = this.leaves.get(client);
    if (!leaf) return;
    this.leaves.delete(client);
    for (let n = leaf.parent; n && n !== this.root; n = n.parent) addInto(n.allocation, leaf.allocation, -1);
    const parent = leaf.parent!;
    if (leaf.active) {
      parent.children.remove(leaf);
      this.active -= 1;
    } else {
      parent.inactive.delete(leaf);
    }
    this.prune(parent);
    this.dirty = true;
  }

  /** True when `client` was added. */
  contains(client: string): boolean {
    return this.leaves.has(client);
  }

  /** Number of clients. */
  count(): number {
    return this.leaves.size;
  }

  /** Number of active clients. */
  activeCount(): number {
    return this.active;
  }

  /** Makes a client visible to {@link visit}. */
  activate(client: string): void {
    if (this.visiting > 0) {
      this.deferred.push(() => this.activate(client));
      return;
    }
    const leaf = this.leaves.get(client);
    if (!leaf || leaf.active) return;
    leaf.active = true;
    this.active += 1;
    leaf.parent!.inactive.delete(leaf);
    leaf.share = this.shareOf(leaf);
    this.insertSorted(leaf.parent!, leaf);
  }

  /** Hides a client from {@link visit}; its allocation and count stay. */
  deactivate(client: string): void {
    if (this.visiting > 0) {
      this.deferred.push(() => this.deactivate(client));
      return;
    }
    const leaf = this.leaves.get(client);
    if (!leaf || !leaf.active) return;
    leaf.active = false;
    this.active -= 1;
    leaf.parent!.children.remove(leaf);
    leaf.parent!.inactive.add(leaf);
  }

  /** True when the client is active. */
  isActive(client: string): boolean {
    return this.leaves.get(client)?.active ?? false;
  }

  /** Sets the weight of a path (may precede the client's existence). Default 1. */
  updateWeight(path: string, weight: number): void {
    if (weight === 1) this.weights.delete(path);
    else this.weights.set(path, weight);
    this.dirty = true;
  }

  /** The weight of a path. */
  weight(path: string): number {
    return this.weights.get(path) ?? 1;
  }

  /** Adds resources to the pool the shares are measured against. */
  addTotal(q: Quantities): void {
    addInto(this.total, q);
    this.dirty = true;
  }

  /** Removes resources from the pool. */
  removeTotal(q: Quantities): void {
    addInto(this.total, q, -1);
    this.dirty = true;
  }

  /** Charges `q` to `client` (and its ancestors); every call counts as one allocation. */
  allocated(client: string, q: Quantities): void {
    const leaf = this.leaves.get(client);
    if (!leaf) return;
    for (let n: Node | undefined = leaf; n && n !== this.root; n = n.parent) {
      addInto(n.allocation, q);
      n.count += 1;
    }
    this.reposition(leaf);
  }

  /** Gives `q` back from `client` (and its ancestors); the allocation count stays. */
  unallocated(client: string, q: Quantities): void {
    const leaf = this.leaves.get(client);
    if (!leaf) return;
    for (let n: Node | undefined = leaf; n && n !== this.root; n = n.parent) addInto(n.allocation, q, -1);
    this.reposition(leaf);
  }

  /** The quantities charged to `client`. */
  allocation(client: string): Quantities {
    return this.leaves.get(client)?.allocation ?? new Map();
  }

  /** The weighted share of a client. */
  share(client: string): number {
    const leaf = this.leaves.get(client);
    return leaf ? this.shareOf(leaf) : 0;
  }

  /**
   * Visits active clients in order until `fn` returns `true` (found). Returns whether it did.
   * Cheap to call per agent: no array is built.
   */
  visit(fn: (client: string) => boolean): boolean {
    if (this.dirty) this.resort();
    // The order a visit walks stays as it was when the visit began (as Mesos' allocator walks a
    // sorted copy): clients charged or changed by `fn` are repositioned once the visit ends.
    this.visiting += 1;
    try {
      return this.visitNode(this.root, fn);
    } finally {
      this.visiting -= 1;
      if (this.visiting === 0 && this.deferred.length > 0) {
        const ops = this.deferred.splice(0);
        for (const op of ops) op();
      }
      if (this.visiting === 0 && this.movedCount > 0) {
        // Repositioning cannot add to `moved` (no visit is in progress now).
        for (let k = 0; k < this.movedCount; k++) {
          const leaf = this.moved[k]!;
          this.moved[k] = undefined;
          leaf.moved = false;
          this.reposition(leaf);
        }
        this.movedCount = 0;
      }
    }
  }

  /** Active clients in order (for tests and inspection). */
  sort(): string[] {
    const out: string[] = [];
    this.visit((c) => {
      out.push(c);
      return false;
    });
    return out;
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────

  private visitNode(node: Node, fn: (client: string) => boolean): boolean {
    const chunks = this.policy === 'random' ? [this.shuffled(node.children)] : node.children.chunks();
    for (const chunk of chunks) {
      for (let k = 0; k < chunk.length; k++) {
        const child = chunk[k]!;
        if (child.client !== undefined ? fn(child.client) : this.visitNode(child, fn)) return true;
      }
    }
    return false;
  }

  /** A weighted random order (Efraimidis–Spirakis keys). */
  private shuffled(nodes: Iterable<Node>): Node[] {
    return [...nodes]
      .map((n) => ({ n, k: Math.pow(this.random() || Number.MIN_VALUE, 1 / this.weightOf(n)) }))
      .sort((a, b) => b.k - a.k)
      .map((x) => x.n);
  }

  private weightOf(n: Node): number {
    // A virtual leaf `a/.` keeps weight 1; its parent `a` carries the role's weight.
    return n.path.endsWith('/.') ? 1 : this.weights.get(n.path) ?? 1;
  }

  private shareOf(n: Node): number {
    let max = 0;
    // By keys, not entries: no array per entry (see `Quantities`).
    for (const name of this.total.keys()) {
      const total = this.total.get(name)!;
      if (total <= 0) continue;
      const f = (n.allocation.get(name) ?? 0) / total;
      if (f > max) max = f;
    }
    return this.policy === 'priority' ? max : max / this.weightOf(n);
  }

  /** Total order: policy key, then share, then allocation count, then path. */
  private compare(a: Node, b: Node): number {
    if (this.policy === 'priority') {
      const w = this.weightOf(b) - this.weightOf(a);
      if (w !== 0) return w;
    }
    return a.share - b.share || a.placedCount - b.placedCount || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  }

  private insertSorted(parent: Node, node: Node): void {
    node.placedCount = node.count;
    parent.children.insert(node);
  }

  /** Moves the nodes on `leaf`'s path to their new places after its allocation changed. */
  private reposition(leaf: Node): void {
    if (this.dirty) return;
    if (this.visiting > 0) {
      if (!leaf.moved) {
        leaf.moved = true;
        this.moved[this.movedCount++] = leaf;
      }
      return;
    }
    for (let n: Node | undefined = leaf; n && n !== this.root; n = n.parent) {
      // Found under the key it was placed with, then moved (if need be) under its new one.
      const siblings = n.parent!.children;
      const at = n.client === undefined || n.active ? siblings.find(n) : -1;
      n.share = this.shareOf(n);
      n.placedCount = n.count;
      if (at >= 0) siblings.settle(at, n);
    }
  }

  /** Recomputes every share and sorts every level. */
  private resort(): void {
    const walk = (node: Node) => {
      const children = [...node.children];
      for (const c of children) {
        c.share = this.shareOf(c);
        c.placedCount = c.count;
        if (c.client === undefined) walk(c);
      }
      node.children.replace(children);
    };
    walk(this.root);
    this.dirty = false;
  }

  private findChild(parent: Node, path: string): Node | undefined {
    for (const c of parent.children) if (c.path === path) return c;
    for (const c of parent.inactive) if (c.path === path) return c;
    return undefined;
  }

  /** The internal node `path` under `parent`, created (or converted from a leaf) as needed. */
  private internalChild(parent: Node, path: string): Node {
    const existing = this.findChild(parent, path);
    if (existing && existing.client === undefined) return existing;
    const internal = this.newNode(path, parent);
    if (existing) {
      // A leaf client `a` gains subroles: it becomes internal and its client moves to `a/.`.
      if (existing.active) parent.children.remove(existing);
      else parent.inactive.delete(existing);
      existing.parent = internal;
      existing.path = `${path}/.`;
      if (existing.active) internal.children.insert(existing);
      else internal.inactive.add(existing);
      addInto(internal.allocation, existing.allocation);
      internal.count = existing.count;
    }
    parent.children.insert(internal);
    this.dirty = true;
    return internal;
  }

  private newNode(path: string, parent?: Node, client?: string): Node {
    // Every field is set here (a field added later would live in a second object).
    const n: Node = {
      path,
      client,
      parent,
      children: new SortedList(this.byKey),
      inactive: new Set(),
      active: false,
      allocation: new Map(),
      count: 0,
      share: 0,
      placedCount: 0,
      moved: false,
    };
    return n;
  }

  /** Removes internal nodes left without clients; folds a lone virtual leaf back. */
  private prune(node: Node): void {
    while (node !== this.root && node.children.length === 0 && node.inactive.size === 0) {
      const parent = node.parent!;
      parent.children.remove(node);
      node = parent;
    }
    if (node !== this.root && node.client === undefined && node.children.length + node.inactive.size === 1) {
      const only = node.children.first() ?? [...node.inactive][0]!;
      if (only.path === `${node.path}/.`) {
        const parent = node.parent!;
        parent.children.remove(node);
        if (only.active) node.children.remove(only);
        only.path = node.path;
        only.parent = parent;
        if (only.active) parent.children.insert(only);
        else parent.inactive.add(only);
      }
    }
  }
}


