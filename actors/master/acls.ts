/**
 * Authorization with ACLs, in Mesos' `--acls` JSON format: which principal may do what to which
 * object. Pure: the master asks, before it acts.
 *
 * ```json
 * { "permissive": false,
 *   "register_frameworks": [{ "principals": { "values": ["alice"] }, "roles": { "values": ["analytics"] } }],
 *   "run_tasks":           [{ "principals": { "type": "ANY" }, "users": { "values": ["nobody"] } }],
 *   "teardown_frameworks": [{ "principals": { "values": ["ops"] }, "framework_principals": { "type": "ANY" } }] }
 * ```
 *
 * An entity is `{ "values": [...] }`, `{ "type": "ANY" }` or `{ "type": "NONE" }`. The ACLs of an
 * action are read in order; the first whose subject and object both *match* the request decides,
 * and it allows the request only if both also *allow* it (so `NONE` as an object is how a
 * principal is denied everything). When none matches, `permissive` (default true) decides.
 * A request without a principal (no authentication) has the subject ANY.
 *
 * @see Mesos `docs/authorization.md`, `src/authorizer/local/authorizer.cpp` (`matches`, `allows`).
 */

/** The actions ACLs can govern, with the JSON names of their subject and object. */
export const ACL_ACTIONS = {
  register_frameworks: { subject: 'principals', object: 'roles' },
  run_tasks: { subject: 'principals', object: 'users' },
  teardown_frameworks: { subject: 'principals', object: 'framework_principals' },
  update_quotas: { subject: 'principals', object: 'roles' },
  get_quotas: { subject: 'principals', object: 'roles' },
  update_weights: { subject: 'principals', object: 'roles' },
  view_frameworks: { subject: 'principals', object: 'users' },
  view_tasks: { subject: 'principals', object: 'users' },
  view_executors: { subject: 'principals', object: 'users' },
  view_roles: { subject: 'principals', object: 'roles' },
  view_flags: { subject: 'principals', object: 'flags' },
  access_sandboxes: { subject: 'principals', object: 'users' },
  mark_agents_gone: { subject: 'principals', object: 'agents' },
} as const;
/** One of {@link ACL_ACTIONS}. */
export type AclAction = keyof typeof ACL_ACTIONS;

/** An ACL entity: some values, anything, or nothing. */
export type AclEntity = { type: 'SOME'; values: readonly string[] } | { type: 'ANY' } | { type: 'NONE' };

/** One rule: who (subject) may act on what (object). */
export interface Acl {
  subject: AclEntity;
  object: AclEntity;
}

/** Parsed ACLs. */
export interface Acls {
  permissive: boolean;
  rules: Partial<Record<AclAction, readonly Acl[]>>;
}

/** Everything allowed: no ACLs given. */
export const PERMISSIVE_ACLS: Acls = { permissive: true, rules: {} };

/** ACLs that cannot be used, and why. */
export class AclError extends Error {
  override name = 'AclError';
}

function entity(raw: unknown, where: string): AclEntity {
  if (raw === undefined) return { type: 'ANY' };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AclError(`${where}: expected an object with 'values' or 'type'`);
  const r = raw as { type?: unknown; values?: unknown };
  if (r.values !== undefined) {
    if (!Array.isArray(r.values) || !r.values.every((v) => typeof v === 'string')) throw new AclError(`${where}.values: expected an array of strings`);
    return { type: 'SOME', values: r.values as string[] };
  }
  if (r.type === 'ANY' || r.type === 'NONE') return { type: r.type };
  throw new AclError(`${where}: 'type' must be ANY or NONE (or give 'values')`);
}

/** Parses `--acls` JSON (text or parsed); throws {@link AclError} naming the bad part. */
export function parseAcls(input: string | unknown): Acls {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw new AclError(`not JSON: ${(e as Error).message}`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AclError('expected a JSON object');
  const obj = raw as Record<string, unknown>;
  const out: Acls = { permissive: true, rules: {} };
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'permissive') {
      if (typeof value !== 'boolean') throw new AclError("'permissive' must be true or false");
      out.permissive = value;
      continue;
    }
    const spec = (ACL_ACTIONS as Record<string, { subject: string; object: string }>)[key];
    if (!spec) throw new AclError(`unknown action '${key}' (known: permissive, ${Object.keys(ACL_ACTIONS).join(', ')})`);
    if (!Array.isArray(value)) throw new AclError(`'${key}' must be an array of ACLs`);
    out.rules[key as AclAction] = value.map((acl, i) => {
      if (typeof acl !== 'object' || acl === null) throw new AclError(`${key}[${i}]: expected an object`);
      const a = acl as Record<string, unknown>;
      for (const k of Object.keys(a)) {
        if (k !== spec.subject && k !== spec.object) throw new AclError(`${key}[${i}]: unknown field '${k}' (expected '${spec.subject}' and '${spec.object}')`);
      }
      return { subject: entity(a[spec.subject], `${key}[${i}].${spec.subject}`), object: entity(a[spec.object], `${key}[${i}].${spec.object}`) };
    });
  }
  return out;
}

/** Whether the request's entity falls under the ACL's (the ACL applies to it). */
function matches(request: AclEntity, acl: AclEntity): boolean {
  if (request.type === 'NONE') return acl.type === 'NONE';
  if (request.type === 'ANY') return acl.type === 'ANY' || acl.type === 'NONE';
  if (acl.type !== 'SOME') return true;
  return request.values.every((v) => acl.values.includes(v));
}

/** Whether the ACL's entity grants the request's. */
function allows(request: AclEntity, acl: AclEntity): boolean {
  if (request.type !== 'SOME') return acl.type === 'ANY';
  if (acl.type === 'ANY') return true;
  if (acl.type === 'NONE') return false;
  return request.values.every((v) => acl.values.includes(v));
}

/**
 * Whether `principal` (undefined: not authenticated) may do `action` on `object` (undefined: on
 * anything, as a request for ANY).
 */
export function authorized(acls: Acls, action: AclAction, principal: string | undefined, object: string | undefined): boolean {
  const subject: AclEntity = principal === undefined ? { type: 'ANY' } : { type: 'SOME', values: [principal] };
  const target: AclEntity = object === undefined ? { type: 'ANY' } : { type: 'SOME', values: [object] };
  for (const acl of acls.rules[action] ?? []) {
    if (matches(subject, acl.subject) && matches(target, acl.object)) return allows(subject, acl.subject) && allows(target, acl.object);
  }
  return acls.permissive;
}
