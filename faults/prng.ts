// The fault plan's only source of randomness: xoshiro128** (Blackman and Vigna, "Scrambled
// linear pseudorandom number generators", 2018) seeded through splitmix32. Its state is four
// 32-bit words, saved with the machine, so a restored snapshot continues the same sequence.

export class Prng {
  private s = new Uint32Array(4);

  constructor(seed: number) {
    this.reseed(seed);
  }

  /** Seed from any whole number (the low 53 bits count). */
  reseed(seed: number): void {
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) | 0, 0x9e3779b9);
    for (let i = 0; i < 4; i++) {
      // splitmix32: one step per state word, so even seed 0 gives a non-zero state
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = z ^ (z >>> 16);
    }
  }

  /** The next 32 random bits, as an unsigned number. */
  next(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform number in [0, 1) with 32 bits of resolution. */
  unit(): number {
    return this.next() / 4294967296;
  }

  /** A uniform whole number in [lo, hi] (inclusive; spans up to 2^53). */
  between(lo: number, hi: number): number {
    const span = hi - lo + 1;
    if (span <= 4294967296) return lo + Math.floor(this.unit() * span);
    return lo + Math.floor((this.next() * 4294967296 + this.next()) / 18446744073709551616 * span);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    if (p >= 1) return true;
    if (p <= 0) return false;
    return this.unit() < p;
  }

  save(): number[] {
    return Array.from(this.s);
  }

  load(s: readonly number[]): void {
    if (!Array.isArray(s) || s.length !== 4) throw new Error('fault injector: malformed PRNG state in snapshot');
    this.s.set(s);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
