// Fault injection as deterministic, recorded data (issue 6). A plan (YAML or JSON) plus a
// seed decides every injection; see faults/README.md for the schema and how it maps onto
// QEMU blkdebug, dm-dust, dm-flakey and ARCHIE.
//
//   parseFaultPlan(text, file)  the plan, checked, as plain JSON-serialisable data
//   parseFaultRule(text)        one rule as a user types it (GDB `monitor fault ...`)
//   attachFaults(pc, plan, seed) the injector, a machine component ('faults')
//   guestHash(machine)          the state hash without the injector's own state

export {
  parseFaultPlan,
  parseFaultRule,
  planFromData,
  normaliseRule,
  ruleLabel,
  FaultPlanError,
  FAULT_KINDS,
  type FaultPlan,
  type FaultRule,
  type FaultKind,
} from './plan.ts';
export {
  attachFaults,
  guestHash,
  faultEvents,
  FaultInjector,
  FAULT_SOURCE,
  FAULT_COMPONENT,
  type FaultEvent,
  type InjectorState,
} from './injector.ts';
export { formatFaultEvent } from './format.ts';
