/**
 * Identifier helpers. Ids are opaque strings on the wire; these build the ones the system assigns.
 * Randomness never enters here: callers pass the entropy (a run id made by the runtime).
 *
 * @see Mesos `FrameworkID` (`<master-id>-<seq>`), `SlaveID` (`<master-id>-S<seq>`), `OfferID` (`<master-id>-O<seq>`).
 */

/** Framework id number `seq` assigned by the master run `masterRunId`. */
export function frameworkIdFor(masterRunId: string, seq: number): string {
  return `${masterRunId}-${String(seq).padStart(4, '0')}`;
}

/** Agent id number `seq` assigned by the master run `masterRunId`. */
export function agentIdFor(masterRunId: string, seq: number): string {
  return `${masterRunId}-S${seq}`;
}

/** Offer id number `seq` made by the master run `masterRunId`. */
export function offerIdFor(masterRunId: string, seq: number): string {
  return `${masterRunId}-O${seq}`;
}
