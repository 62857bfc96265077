// The input door and the output sink (DESIGN.md, contracts 2 and 3).
//
// InputDoor: everything from outside the machine enters here, stamped with the icount at
// which it takes effect. The machine delivers due events at instruction boundaries; the
// recorder listens at the door and the replayer feeds it. Nothing else may change guest state.
//
// OutputSink: everything the guest shows the world leaves here, stamped with icount.

export type Payload = number | string | Uint8Array | readonly number[] | Record<string, unknown>;

export interface InputEvent {
  icount: number;
  source: string;
  payload: Payload;
}

export type InputHandler = (payload: Payload, icount: number) => void;

/** A device refused an input event's payload (a front end's bug, or a damaged recording). */
export class InputRefused extends Error {
  constructor(
    readonly source: string,
    readonly icount: number,
    why: string,
  ) {
    super(`input '${source}' at instruction ${icount} was refused: ${why}`);
  }
}

export class InputDoor {
  /** Pending events in delivery order (icount ascending, then arrival order). */
  private queue: InputEvent[] = [];
  private readonly handlers = new Map<string, InputHandler>();
  private readonly listeners: ((e: InputEvent) => void)[] = [];
  /** icount of the earliest pending event, or Infinity. */
  next = Number.POSITIVE_INFINITY;

  /** A device (or the machine) declares that it accepts input from `source`. */
  handle(source: string, fn: InputHandler): void {
    this.handlers.set(source, fn);
  }

  /** Some device accepts input from `source`. */
  accepts(source: string): boolean {
    return this.handlers.has(source);
  }

  /** Watch every event as it is delivered (the recorder). */
  listen(fn: (e: InputEvent) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Queue an event to take effect at `icount`. An icount already past is moved to `now`:
   * input can never change the past.
   */
  push(icount: number, source: string, payload: Payload, now: number): void {
    if (!this.handlers.has(source)) throw new Error(`input door: no device accepts input from '${source}'`);
    const at = Math.max(icount, now);
    const e: InputEvent = { icount: at, source, payload };
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1].icount > at) i--;
    this.queue.splice(i, 0, e);
    this.next = this.queue[0].icount;
  }

  /** Deliver every event due at or before `icount`. Called by the machine at boundaries. */
  deliverDue(icount: number): void {
    while (this.queue.length > 0 && this.queue[0].icount <= icount) {
      const e = this.queue.shift()!;
      this.next = this.queue.length > 0 ? this.queue[0].icount : Number.POSITIVE_INFINITY;
      for (const l of this.listeners) l(e);
      try {
        this.handlers.get(e.source)!(e.payload, e.icount);
      } catch (err) {
        throw new InputRefused(e.source, e.icount, err instanceof Error ? err.message : String(err));
      }
    }
  }

  get pending(): readonly InputEvent[] {
    return this.queue;
  }

  save(): InputEvent[] {
    return this.queue.map((e) => ({ ...e }));
  }

  load(q: InputEvent[]): void {
    this.queue = q.map((e) => ({ ...e }));
    this.next = this.queue.length > 0 ? this.queue[0].icount : Number.POSITIVE_INFINITY;
  }
}

/** What the guest shows the world. `data` is a byte, a code or a short string. */
export type OutputKind =
  | 'debugcon' // port 0xE9 / 0x402 byte
  | 'serial' // UART TX byte; `channel` is the COM index
  | 'post' // POST code written to port 0x80
  | 'exit' // isa-debug-exit: data = value written; status = (value << 1) | 1
  | 'reset' // the machine reset: data = reason ('triple-fault', 'keyboard', 'port-cf9', ...)
  | 'shutdown' // the guest powered off or halted for good
  | 'fault' // an injected fault fired (later: faults/)
  | 'vga';

export interface OutputEvent {
  icount: number;
  kind: OutputKind;
  data: number | string;
  channel?: number;
}

export class OutputSink {
  private readonly listeners: ((e: OutputEvent) => void)[] = [];
  /** Bounded in-memory log of recent events (for tests and divergence checks). */
  readonly log: OutputEvent[] = [];
  logLimit = 1 << 20;

  listen(fn: (e: OutputEvent) => void): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(icount: number, kind: OutputKind, data: number | string, channel?: number): void {
    const e: OutputEvent = channel === undefined ? { icount, kind, data } : { icount, kind, data, channel };
    if (this.log.length < this.logLimit) this.log.push(e);
    for (const l of this.listeners) l(e);
  }

  /** Bytes of one byte-stream kind, as a string (Latin-1). */
  text(kind: OutputKind, channel?: number): string {
    let s = '';
    for (const e of this.log) {
      if (e.kind === kind && (channel === undefined || e.channel === channel) && typeof e.data === 'number') {
        s += String.fromCharCode(e.data);
      }
    }
    return s;
  }
}
