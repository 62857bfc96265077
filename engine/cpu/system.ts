// System instructions and registers: I/O permission checks (SDM vol. 1 §18.5), CPUID,
// MSRs, the time-stamp counter (derived from icount), MOV to/from control and debug
// registers, SYSENTER/SYSEXIT.

import type { CPU } from './cpu.ts';
import { CR0, CR4, F, S, V } from './constants.ts';

/**
 * CPUID.1:EDX features this CPU really implements: an x87 FPU (with FCMOV/FCOMI, which CMOV
 * implies when FPU is set), no MMX/SSE/FXSR, no VME, no APIC until one is wired.
 */
export const CPUID_FEATURES_EDX =
  (1 << 0) | // FPU
  (1 << 1) | // VME? no: bit 1 is VME; cleared below
  (1 << 3) | // PSE
  (1 << 4) | // TSC
  (1 << 5) | // MSR
  (1 << 6) | // PAE
  (1 << 8) | // CX8
  (1 << 11) | // SEP (SYSENTER/SYSEXIT)
  (1 << 12) | // MTRR
  (1 << 13) | // PGE
  (1 << 15) | // CMOV (and FCMOV, with FPU)
  (1 << 2); // DE (debugging extensions: CR4.DE)
const FEATURES = CPUID_FEATURES_EDX & ~(1 << 1);


export function cpuid(cpu: CPU): void {
  const r = cpu.regs;
  const leaf = r[0] >>> 0;
  switch (leaf) {
    case 0:
      r[0] = 2;
      // "GenuineIntel"
      r[3] = 0x756e6547; // EBX "Genu"
      r[2] = 0x49656e69; // EDX "ineI"
      r[1] = 0x6c65746e; // ECX "ntel"
      return;
    case 1:
      r[0] = 0x00000663; // family 6, model 6, stepping 3
      r[3] = 0;
      r[1] = 0;
      r[2] = FEATURES | (cpu.hasApic ? 1 << 9 : 0);
      return;
    case 2:
      // Cache descriptors: none reported beyond the null descriptor.
      r[0] = 0x00000001;
      r[3] = 0;
      r[1] = 0;
      r[2] = 0;
      return;
    case 0x80000000:
      r[0] = 0x80000000;
      r[3] = r[1] = r[2] = 0;
      return;
    default:
      // Leaves above the maximum return the highest basic leaf's data (Intel behaviour).
      r[0] = 0x00000001;
      r[3] = 0;
      r[1] = 0;
      r[2] = 0;
  }
}
// CPUID.1: EAX=version, EBX=brand/cache/apic id, ECX=features(ext), EDX=features.
// Registers array order is EAX ECX EDX EBX, so index 2 is EDX and 1 is ECX.

export function rdtsc(cpu: CPU): number {
  return cpu.clock.icount + cpu.tscOffset;
}

const MSR_TSC = 0x10, MSR_APIC_BASE = 0x1b, MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176;
const MSR_MTRRCAP = 0xfe, MSR_PLATFORM_ID = 0x17, MSR_BIOS_SIGN = 0x8b, MSR_MCG_CAP = 0x179, MSR_MCG_STATUS = 0x17a;

function isMtrr(msr: number): boolean {
  return (msr >= 0x200 && msr <= 0x20f) || msr === 0x250 || msr === 0x258 || msr === 0x259 || (msr >= 0x268 && msr <= 0x26f) || msr === 0x2ff;
}

export function rdmsr(cpu: CPU): void {
  if (cpu.cpl !== 0) cpu.raise(V.GP, 0);
  const msr = cpu.regs[1] >>> 0;
  let lo = 0, hi = 0;
  switch (msr) {
    case MSR_TSC: {
      const t = rdtsc(cpu);
      lo = t >>> 0;
      hi = Math.floor(t / 4294967296) | 0;
      break;
    }
    case MSR_APIC_BASE: lo = cpu.apicBase; break;
    case MSR_SYSENTER_CS: lo = cpu.sysenterCs; break;
    case MSR_SYSENTER_ESP: lo = cpu.sysenterEsp; break;
    case MSR_SYSENTER_EIP: lo = cpu.sysenterEip; break;
    case MSR_MTRRCAP: lo = 0x508; break; // 8 variable ranges, fixed ranges, write-combining
    case MSR_PLATFORM_ID: case MSR_BIOS_SIGN: case MSR_MCG_CAP: case MSR_MCG_STATUS: break;
    default:
      if (isMtrr(msr)) {
        lo = cpu.mtrr.get(msr * 2) ?? 0;
        hi = cpu.mtrr.get(msr * 2 + 1) ?? 0;
        break;
      }
      cpu.raise(V.GP, 0);
  }
  cpu.regs[0] = lo;
  cpu.regs[2] = hi;
}

export function wrmsr(cpu: CPU): void {
  if (cpu.cpl !== 0) cpu.raise(V.GP, 0);
  const msr = cpu.regs[1] >>> 0;
  const lo = cpu.regs[0], hi = cpu.regs[2];
  switch (msr) {
    case MSR_TSC: cpu.tscOffset = (hi >>> 0) * 4294967296 + (lo >>> 0) - cpu.clock.icount; return;
    case MSR_APIC_BASE: cpu.apicBase = (lo & 0xfffff900) | 0; return;
    case MSR_SYSENTER_CS: cpu.sysenterCs = lo & 0xffff; return;
    case MSR_SYSENTER_ESP: cpu.sysenterEsp = lo; return;
    case MSR_SYSENTER_EIP: cpu.sysenterEip = lo; return;
    case MSR_BIOS_SIGN: case MSR_MCG_STATUS: return;
    default:
      if (isMtrr(msr)) {
        cpu.mtrr.set(msr * 2, lo);
        cpu.mtrr.set(msr * 2 + 1, hi);
        return;
      }
      cpu.raise(V.GP, 0);
  }
}

/**
 * I/O permission (SDM vol. 1 §18.5.2): in protected mode with CPL > IOPL, and always in
 * virtual-8086 mode, every byte of the access must be allowed by the TSS I/O bitmap.
 */
export function checkIoPermission(cpu: CPU, port: number, size: number): void {
  if (!cpu.pe) return;
  const vm = (cpu.flags & F.VM) !== 0;
  if (!vm && cpu.cpl <= ((cpu.flags & F.IOPL) >> 12)) return;
  // Only a 32-bit TSS has a bitmap.
  if ((cpu.trAR & 0xf) !== 0x9 && (cpu.trAR & 0xf) !== 0xb) cpu.raise(V.GP, 0);
  if (cpu.trLimit < 0x67) cpu.raise(V.GP, 0);
  const mapBase = cpu.rdSys16((cpu.trBase + 0x66) | 0);
  const byte = mapBase + (port >> 3);
  if (byte + 1 > cpu.trLimit) cpu.raise(V.GP, 0);
  const bits = cpu.rdSys16((cpu.trBase + byte) | 0);
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) cpu.raise(V.GP, 0);
}

export function movFromCR(cpu: CPU, n: number): number {
  switch (n) {
    case 0: return cpu.cr0;
    case 2: return cpu.cr2;
    case 3: return cpu.cr3;
    case 4: return cpu.cr4;
    default: cpu.raise(V.UD);
  }
}

export function movToCR(cpu: CPU, n: number, v: number): void {
  switch (n) {
    case 0: cpu.setCR0(v); break;
    case 2: cpu.cr2 = v; break;
    case 3: cpu.setCR3(v); break;
    case 4: cpu.setCR4(v); break;
    default: cpu.raise(V.UD);
  }
  cpu.leaveBlock = true;
}

export function movFromDR(cpu: CPU, n: number): number {
  if ((n === 4 || n === 5) && cpu.cr4 & CR4.DE) cpu.raise(V.UD);
  checkGD(cpu);
  if (n === 4) n = 6;
  if (n === 5) n = 7;
  if (n === 6) return cpu.dr[6] | 0xffff0ff0;
  if (n === 7) return (cpu.dr[7] & ~0xd800) | 0x400;
  return cpu.dr[n];
}

export function movToDR(cpu: CPU, n: number, v: number): void {
  if ((n === 4 || n === 5) && cpu.cr4 & CR4.DE) cpu.raise(V.UD);
  checkGD(cpu);
  if (n === 4) n = 6;
  if (n === 5) n = 7;
  if (n === 6) cpu.dr[6] = (v & 0xe00f) | 0xffff0ff0;
  else if (n === 7) cpu.dr[7] = (v & ~0xd800) | 0x400;
  else cpu.dr[n] = v;
  cpu.updateAccessMode();
  cpu.leaveBlock = true;
}

/** DR7.GD: any debug-register access raises #DB (a fault) with DR6.BD. */
function checkGD(cpu: CPU): void {
  if (cpu.dr[7] & 0x2000) {
    cpu.dr[6] |= 0x2000;
    cpu.dr[7] &= ~0x2000;
    cpu.raise(V.DB);
  }
}

/** SYSENTER (SDM vol. 2): flat CPL 0 code/stack from the SYSENTER MSRs. */
export function sysenter(cpu: CPU): void {
  if (!cpu.pe) cpu.raise(V.GP, 0);
  const cs = cpu.sysenterCs & 0xfffc;
  if (cs === 0) cpu.raise(V.GP, 0);
  cpu.flags &= ~(F.VM | F.IF | F.RF);
  cpu.cpl = 0;
  cpu.setSegRaw(S.CS, cs, 0, 0xffffffff, 0xc09b);
  cpu.setSegRaw(S.SS, (cs + 8) & 0xfffc, 0, 0xffffffff, 0xc093);
  cpu.updateAccessMode();
  cpu.regs[4] = cpu.sysenterEsp;
  cpu.nextEip = cpu.sysenterEip;
  cpu.leaveBlock = true;
}

export function sysexit(cpu: CPU): void {
  const cs = cpu.sysenterCs & 0xfffc;
  if (!cpu.pe || cpu.flags & F.VM || cpu.cpl !== 0 || cs === 0) cpu.raise(V.GP, 0);
  cpu.cpl = 3;
  cpu.setSegRaw(S.CS, (cs + 16) | 3, 0, 0xffffffff, 0xc0fb);
  cpu.setSegRaw(S.SS, (cs + 24) | 3, 0, 0xffffffff, 0xc0f3);
  cpu.updateAccessMode();
  cpu.regs[4] = cpu.regs[1];
  cpu.nextEip = cpu.regs[2];
  cpu.leaveBlock = true;
}

/** CLTS, LMSW: CR0 edits that keep the other bits. */
export function clts(cpu: CPU): void {
  if (cpu.cpl !== 0) cpu.raise(V.GP, 0);
  cpu.cr0 &= ~CR0.TS;
}

export function lmsw(cpu: CPU, v: number): void {
  if (cpu.cpl !== 0) cpu.raise(V.GP, 0);
  // LMSW can set PE but not clear it; it touches only PE MP EM TS.
  const nv = (cpu.cr0 & ~0xe) | (v & 0xe) | (cpu.cr0 & 1) | (v & 1);
  cpu.setCR0(nv);
  cpu.leaveBlock = true;
}
