// Cheap, deterministic state hashing: 64-bit FNV-1a-style mixing over 32-bit words, kept
// as two 32-bit halves so it runs on plain numbers (no BigInt in the loop).

export class StateHasher {
  private h1 = 0x811c9dc5 | 0;
  private h2 = 0x01000193 | 0;

  word(v: number): this {
    this.h1 = Math.imul(this.h1 ^ (v | 0), 0x01000193);
    this.h2 = Math.imul(this.h2 ^ ((v | 0) >>> 16 | (v << 16)), 0x5bd1e995) ^ (this.h1 >>> 13);
    return this;
  }

  num(v: number): this {
    // Doubles (icounts beyond 2^32) as two words.
    this.word(v >>> 0);
    return this.word(Math.floor(v / 4294967296));
  }

  bytes(b: Uint8Array): this {
    const n4 = b.length & ~3;
    if ((b.byteOffset & 3) === 0) {
      const w = new Int32Array(b.buffer, b.byteOffset, n4 >> 2);
      for (let i = 0; i < w.length; i++) this.word(w[i]);
    } else {
      for (let i = 0; i < n4; i += 4) this.word(b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
    }
    for (let i = n4; i < b.length; i++) this.word(b[i]);
    return this.word(b.length);
  }

  str(s: string): this {
    for (let i = 0; i < s.length; i++) this.word(s.charCodeAt(i));
    return this.word(s.length);
  }

  /** Any plain-data value: numbers, strings, booleans, typed arrays, arrays, objects (sorted keys). */
  value(v: unknown): this {
    if (v === null || v === undefined) return this.word(0x6e756c6c);
    if (typeof v === 'number') return this.word(1).num(v);
    if (typeof v === 'boolean') return this.word(v ? 3 : 2);
    if (typeof v === 'string') return this.word(4).str(v);
    if (v instanceof Uint8Array) return this.word(5).bytes(v);
    if (ArrayBuffer.isView(v)) {
      return this.word(6).bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    }
    if (Array.isArray(v)) {
      this.word(7).word(v.length);
      for (const x of v) this.value(x);
      return this;
    }
    if (typeof v === 'object') {
      const keys = Object.keys(v as object).sort();
      this.word(8).word(keys.length);
      for (const k of keys) this.str(k).value((v as Record<string, unknown>)[k]);
      return this;
    }
    throw new Error(`state hash: cannot hash a ${typeof v}`);
  }

  /** The low 32 bits of the hash. */
  low(): number {
    return (this.h1 ^ this.h2) >>> 0;
  }

  hex(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }
}

export function hashState(v: unknown): string {
  return new StateHasher().value(v).hex();
}
