/**
 * `mesos-ts/resources`: resources in Mesos' text form (`cpus:0.5;mem:128;ports:[31000-31010]`)
 * and exact arithmetic on them, for sizing tasks against offers.
 *
 * @see Mesos `include/mesos/resources.hpp`.
 */
export {
  add,
  contains,
  equals,
  formatResources,
  isEmpty,
  parseResources,
  rangesOf,
  scalar,
  setOf,
  subtract,
  subtractSaturating,
  ResourceError,
  ResourceParseError,
  type Range,
  type Resource,
  type Resources,
} from '../protocols/resources.ts';
