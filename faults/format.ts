// How a fault output event reads on a terminal.

import type { FaultEvent } from './injector.ts';

/** One line for an output event of kind 'fault': `fault @6412345 bad-mbr (read-error): hda sector 0 read: fails with UNC`. */
export function formatFaultEvent(icount: number, data: number | string): string {
  if (typeof data !== 'string') return `fault @${icount}: ${data}`;
  let e: FaultEvent;
  try {
    e = JSON.parse(data) as FaultEvent;
  } catch {
    return `fault @${icount}: ${data}`;
  }
  return `fault @${icount} ${e.rule} (${e.kind}): ${e.did}`;
}
