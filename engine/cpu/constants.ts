// Architectural constants of IA-32 (Intel SDM vol. 1 ch. 3, vol. 3 ch. 2-6).

/** EFLAGS bits (SDM vol. 1 §3.4.3). */
export const enum F {
  CF = 0x1,
  PF = 0x4,
  AF = 0x10,
  ZF = 0x40,
  SF = 0x80,
  TF = 0x100,
  IF = 0x200,
  DF = 0x400,
  OF = 0x800,
  IOPL = 0x3000,
  NT = 0x4000,
  RF = 0x10000,
  VM = 0x20000,
  AC = 0x40000,
  VIF = 0x80000,
  VIP = 0x100000,
  ID = 0x200000,
}
/** The six status flags computed lazily. */
export const OSZAPC = 0x8d5;
/** Bits of EFLAGS that exist on a P6 (others read as 0; bit 1 reads as 1). */
export const EFLAGS_IMPL = 0x3f7fd5;

/** Segment register numbers as encoded in instructions. */
export const enum S {
  ES = 0,
  CS = 1,
  SS = 2,
  DS = 3,
  FS = 4,
  GS = 5,
}

/** Exception vectors (SDM vol. 3 §6.3.1). */
export const enum V {
  DE = 0,
  DB = 1,
  NMI = 2,
  BP = 3,
  OF = 4,
  BR = 5,
  UD = 6,
  NM = 7,
  DF = 8,
  TS = 10,
  NP = 11,
  SS = 12,
  GP = 13,
  PF = 14,
  MF = 16,
  AC = 17,
  MC = 18,
}

/** CR0 bits (SDM vol. 3 §2.5). */
export const enum CR0 {
  PE = 0x1,
  MP = 0x2,
  EM = 0x4,
  TS = 0x8,
  ET = 0x10,
  NE = 0x20,
  WP = 0x10000,
  AM = 0x40000,
  NW = 0x20000000,
  CD = 0x40000000,
  PG = 0x80000000,
}

/** CR4 bits. */
export const enum CR4 {
  VME = 0x1,
  PVI = 0x2,
  TSD = 0x4,
  DE = 0x8,
  PSE = 0x10,
  PAE = 0x20,
  MCE = 0x40,
  PGE = 0x80,
  PCE = 0x100,
}

/** Segment attribute bits as kept in segAR: descriptor bits 40-47 and 52-55, shifted down by 8. */
export const enum AR {
  TYPE = 0xf,
  ACCESSED = 0x1,
  /** data: writable; code: readable */
  RW = 0x2,
  /** data: expand-down; code: conforming */
  DC = 0x4,
  CODE = 0x8,
  S = 0x10,
  DPL = 0x60,
  P = 0x80,
  AVL = 0x1000,
  DB = 0x4000,
  G = 0x8000,
}

/** 8-bit register number -> byte index into the register file (AL CL DL BL AH CH DH BH). */
export const REG8 = new Uint8Array([0, 4, 8, 12, 1, 5, 9, 13]);

export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = (b & 1) === 0 ? F.PF : 0;
}
