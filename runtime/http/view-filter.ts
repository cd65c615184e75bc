/**
 * What one reader of the HTTP endpoints may see: the `view_*` ACLs, asked once per object and
 * remembered by the object's user (a state of 100,000 tasks has a handful of users).
 *
 * The state documents take a {@link ViewFilter}; {@link VISIBLE_ALL} is the reader who may see
 * everything (no ACLs, or no `view_*` rules and `permissive`), whose documents are written once
 * and shared by every such reader. Any other reader's documents are written for its principal.
 *
 * Objects are judged as Mesos' local authorizer does: a framework (`view_frameworks`) and its
 * tasks (`view_tasks`) by the framework's `user`; an executor (`view_executors`) by its command's
 * user, else the framework's; a role (`view_roles`) by its name; the flags (`view_flags`) as a
 * whole. A reader without a principal (no authentication) is judged as the subject ANY.
 *
 * @see Mesos `docs/authorization.md` (`VIEW_FRAMEWORK`, `VIEW_TASK`, `VIEW_EXECUTOR`, `VIEW_ROLE`,
 * `VIEW_FLAGS`).
 */
import { authorized, type AclAction, type Acls } from '../../actors/master/acls.ts';
import type { OperatorEvent } from '../../actors/master/state.ts';

/** The part of a framework's info a view is judged by. */
export interface ViewedFramework {
  user?: string;
}

/** The part of an executor a view is judged by. */
export interface ViewedExecutor {
  command?: { user?: string };
}

/** What a reader may see. */
export interface ViewFilter {
  /** True when the reader may see everything: its documents are everyone's. */
  readonly unrestricted: boolean;
  /** `view_frameworks`: the framework, by its user. */
  framework(fw: ViewedFramework | undefined): boolean;
  /** `view_tasks`: a task of the framework, by the framework's user. */
  task(fw: ViewedFramework | undefined): boolean;
  /** `view_executors`: an executor of the framework, by its command's user or else the framework's. */
  executor(fw: ViewedFramework | undefined, executor: ViewedExecutor | undefined): boolean;
  /** `view_roles`: the role. */
  role(role: string): boolean;
  /** `view_flags`: the flags (`/master/flags`, `GET_FLAGS`). */
  flags(): boolean;
}

const yes = () => true;

/** The reader who sees everything. */
export const VISIBLE_ALL: ViewFilter = Object.freeze({
  unrestricted: true,
  framework: yes,
  task: yes,
  executor: yes,
  role: yes,
  flags: yes,
});

/** The actions a view is filtered by. */
export const VIEW_ACTIONS = ['view_frameworks', 'view_tasks', 'view_executors', 'view_roles', 'view_flags'] as const satisfies readonly AclAction[];

/** Whether `acls` restrict anyone's view at all (else every reader is {@link VISIBLE_ALL}). */
export function restrictsViews(acls: Acls): boolean {
  return !acls.permissive || VIEW_ACTIONS.some((a) => (acls.rules[a]?.length ?? 0) > 0);
}

/** The view of `principal` (`undefined`: an unauthenticated reader) under `acls`. */
export function viewFilter(acls: Acls, principal: string | undefined): ViewFilter {
  if (!restrictsViews(acls)) return VISIBLE_ALL;
  /** One answer per action and object, asked once. */
  const memo = new Map<string, boolean>();
  const may = (action: AclAction, object: string | undefined): boolean => {
    const key = `${action}\0${object ?? '\0any'}`;
    let ok = memo.get(key);
    if (ok === undefined) memo.set(key, (ok = authorized(acls, action, principal, object)));
    return ok;
  };
  const user = (fw: ViewedFramework | undefined) => fw?.user ?? '';
  return {
    unrestricted: false,
    framework: (fw) => may('view_frameworks', user(fw)),
    task: (fw) => may('view_tasks', user(fw)),
    executor: (fw, e) => may('view_executors', e?.command?.user ?? user(fw)),
    role: (role) => may('view_roles', role),
    flags: () => may('view_flags', undefined),
  };
}

/**
 * The view of each reader under `acls`, one {@link ViewFilter} per principal made once (the
 * principals are those the server authenticates, a bounded set).
 */
export function viewFilters(acls: Acls): (principal: string | undefined) => ViewFilter {
  if (!restrictsViews(acls)) return () => VISIBLE_ALL;
  const byPrincipal = new Map<string | undefined, ViewFilter>();
  return (principal) => {
    let f = byPrincipal.get(principal);
    if (!f) byPrincipal.set(principal, (f = viewFilter(acls, principal)));
    return f;
  };
}

/**
 * Whether a `SUBSCRIBE`r with `view` is told `event`: a framework's events when it may see the
 * framework, a task's when it may see the framework's tasks (the framework looked up by id with
 * `frameworkOf`; one the master no longer knows is judged by an empty user), agents' always.
 */
export function eventVisible(event: OperatorEvent, view: ViewFilter, frameworkOf: (frameworkId: string) => ViewedFramework | undefined): boolean {
  if (view.unrestricted) return true;
  switch (event.kind) {
    case 'TASK_ADDED':
    case 'TASK_UPDATED':
      return view.task(frameworkOf(event.task.frameworkId));
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED':
    case 'FRAMEWORK_REMOVED':
      return view.framework(event.framework.info);
    default:
      return true;
  }
}
