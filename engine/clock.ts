// The one clock of the machine: retired instructions (DESIGN.md, contract 1).
//
// Devices never tick. Each owns named timers created once at construction; a timer is armed
// for an absolute icount and fires when the CPU reaches it, at an instruction boundary.
// Because timers are created up front and only their deadlines change, the clock's state is
// plain data (icount + each timer's deadline) and a restored snapshot re-arms them exactly.
//
// A fixed nominal rate turns icount into guest time: NOMINAL_HZ instructions per second.

/** Instructions retired per guest second. 100 MIPS; every time-based device derives from it. */
export const NOMINAL_HZ = 100_000_000;
/** Guest nanoseconds per retired instruction, as an exact ratio: 10 ns. */
export const NS_PER_INSN = 1e9 / NOMINAL_HZ;

const NEVER = Number.POSITIVE_INFINITY;

export class Timer {
  /** Absolute icount at which this timer fires, or Infinity when disarmed. */
  deadline = NEVER;
  constructor(
    readonly clock: Clock,
    readonly name: string,
    readonly fire: (icount: number) => void,
  ) {}
  /** Arm (or re-arm) for an absolute icount. A deadline in the past fires at the next boundary. */
  arm(icount: number): void {
    this.deadline = icount;
    this.clock.reschedule();
  }
  cancel(): void {
    if (this.deadline === NEVER) return;
    this.deadline = NEVER;
    this.clock.reschedule();
  }
  get armed(): boolean {
    return this.deadline !== NEVER;
  }
}

export interface ClockState {
  icount: number;
  timers: Record<string, number>;
}

export class Clock {
  /** Retired instructions since power-on. The only notion of time in the engine. */
  icount = 0;
  /** The earliest armed deadline over all timers (Infinity when none). */
  next = NEVER;
  private readonly timers: Timer[] = [];
  private readonly byName = new Map<string, Timer>();

  /** Create a named timer. Names are unique per machine; they key the saved state. */
  timer(name: string, fire: (icount: number) => void): Timer {
    if (this.byName.has(name)) throw new Error(`clock: timer ${name} created twice`);
    const t = new Timer(this, name, fire);
    this.timers.push(t);
    this.byName.set(name, t);
    return t;
  }

  /**
   * The icount the CPU is currently running up to. A timer armed earlier than this (by a
   * device the guest just programmed) calls `onEarlierEvent`, so the CPU stops in time.
   */
  runLimit = NEVER;
  onEarlierEvent: (() => void) | null = null;

  reschedule(): void {
    let n = NEVER;
    const ts = this.timers;
    for (let i = 0; i < ts.length; i++) if (ts[i].deadline < n) n = ts[i].deadline;
    this.next = n;
    if (n < this.runLimit && this.onEarlierEvent !== null) this.onEarlierEvent();
  }

  /**
   * Fire every timer whose deadline is <= icount, earliest first (ties in creation order, so
   * the order is deterministic). A timer may re-arm itself or others while firing.
   */
  fireDue(): void {
    while (this.next <= this.icount) {
      let best: Timer | undefined;
      const ts = this.timers;
      for (let i = 0; i < ts.length; i++) {
        const t = ts[i];
        if (t.deadline <= this.icount && (best === undefined || t.deadline < best.deadline)) best = t;
      }
      if (best === undefined) break;
      const at = best.deadline;
      best.deadline = NEVER;
      this.reschedule();
      best.fire(at);
    }
  }

  /** Guest nanoseconds at the current icount. */
  get nanoseconds(): number {
    return this.icount * NS_PER_INSN;
  }

  save(): ClockState {
    const timers: Record<string, number> = {};
    for (const t of this.timers) if (t.armed) timers[t.name] = t.deadline;
    return { icount: this.icount, timers };
  }

  load(s: ClockState): void {
    this.icount = s.icount;
    for (const t of this.timers) t.deadline = s.timers[t.name] ?? NEVER;
    this.reschedule();
  }
}
