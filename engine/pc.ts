// The PC: QEMU's `pc` machine (i440FX + PIIX3) as SeaBIOS knows it, wired in one place.
//
//   00:00.0 i440FX host bridge (BIOS flash, PAM shadowing)   00:01.0 PIIX3 (port 0x92, 0xCF9)
//   00:01.1 PIIX IDE (hda primary master, cdrom secondary master)   00:02.0 VGA (-vga std)
//   ISA: PIC pair (through the local APIC's LINT0, virtual wire) and I/O APIC on every line,
//   PIT + port 0x61, RTC/CMOS, DMA + floppy controller, i8042 with keyboard and mouse,
//   COM1-COM4, fw_cfg, and the debug ports (0xE9/0x402 debugcon, 0x80 POST, 0xF4 exit).
// The VGA BIOS is handed to the firmware through fw_cfg as "pci1234,1111.rom", which SeaBIOS
// looks up for the VGA function before its ROM BAR. Disk images are never written: each
// writable medium sits under a CowOverlay that belongs to the run (and is saved with it).
// A20 comes from port 0x92 and the i8042 output port (the last one written wins, as on QEMU)
// and is enabled again by every reset.
// Leaves out: ACPI (no tables reach the guest: SeaBIOS takes them from QEMU's fw_cfg table
// loader, which is not modelled, so Linux finds no RSDP, uses the MP table, and halts instead of
// powering off), the PIIX4 power-management function and HPET, USB, network, SMP.

import { Machine } from './machine.ts';
import type { DeviceContext } from './devices/device.ts';
import { DebugPorts } from './devices/debug-ports.ts';
import { IrqRouter } from './irq.ts';
import { Lapic } from './devices/lapic.ts';
import { I8259Pic } from './devices/i8259-pic.ts';
import { Ioapic } from './devices/ioapic.ts';
import { I8254Pit } from './devices/i8254-pit.ts';
import { SystemControlPortB } from './devices/port61.ts';
import { Mc146818Rtc } from './devices/mc146818-rtc.ts';
import { I8237Dma } from './devices/i8237-dma.ts';
import { I82077aaFdc, floppyFormat, floppyMediaFromSectors } from './devices/i82077aa-fdc.ts';
import { I8042 } from './devices/i8042-kbc.ts';
import { Uart16550 } from './devices/uart-16550.ts';
import { I440fx } from './devices/i440fx.ts';
import { Piix3 } from './devices/piix3.ts';
import { PiixIde, type IdeDriveConfig } from './devices/piix-ide.ts';
import { Vga } from './devices/vga.ts';
import { FwCfg, splitBzImage } from './devices/fw-cfg.ts';
import { CowOverlay, RawImage, openImage, type BlockMedia } from './block.ts';

/** An image the front end read: its bytes (never modified) and a name for messages and snapshots. */
export interface PcImage {
  bytes: Uint8Array;
  name: string;
}

export interface PcConfig {
  /** Bytes of RAM (below the PCI hole). */
  ramSize: number;
  /** The system BIOS image (SeaBIOS bios.bin or bios-256k.bin), a multiple of 64 KiB. */
  bios: Uint8Array;
  /** The VGA BIOS (SeaBIOS vgabios-stdvga.bin); without it the screen stays blank. */
  vgaBios?: Uint8Array;
  /** Floppy A: (a standard floppy size). */
  fda?: PcImage;
  /** IDE primary master disk (raw or qcow2). */
  hda?: PcImage;
  /** IDE secondary master CD-ROM (raw ISO, 2048-byte sectors). */
  cdrom?: PcImage;
  /** Boot order as QEMU's -boot letters (default: c, a, d as QEMU's 'cad'). */
  boot?: ('a' | 'c' | 'd')[];
  /** Linux direct boot through fw_cfg; needs `linuxboot` (QEMU's linuxboot_dma.bin) to load it. */
  kernel?: { image: Uint8Array; initrd?: Uint8Array; cmdline?: string; linuxboot?: Uint8Array };
  /** Stop instead of resetting on a triple fault or a reset request (QEMU's -no-reboot). */
  noReboot?: boolean;
  /** RTC start time, seconds since 1970 (default: the RTC's fixed default). */
  rtcStart?: number;
}

export interface Pc {
  machine: Machine;
  router: IrqRouter;
  lapic: Lapic;
  pic: I8259Pic;
  ioapic: Ioapic;
  pit: I8254Pit;
  rtc: Mc146818Rtc;
  dma: I8237Dma;
  fdc: I82077aaFdc;
  kbc: I8042;
  uarts: Uart16550[];
  host: I440fx;
  piix3: Piix3;
  ide: PiixIde;
  vga: Vga;
  fwCfg: FwCfg;
  debug: DebugPorts;
  /** Why the machine last stopped on a reset request with noReboot ('port-92', 'port-cf9', 'i8042'). */
  resetRequest: string | null;
}

/** A medium's overlay as a machine component, so snapshots carry the guest's disk writes. */
function overlayState(name: string, o: CowOverlay) {
  return { name, save: () => o.save(), load: (s: unknown) => o.load(s) };
}

export function createPc(config: PcConfig): Pc {
  const ramSize = config.ramSize;
  const m = new Machine({ ramSize, noReboot: config.noReboot ?? false });
  const ctx: DeviceContext = { clock: m.clock, io: m.io, mem: m.mem, input: m.input, output: m.output };

  const debug = new DebugPorts(m.clock, m.output);
  debug.attach(m.io);
  debug.onExit = () => m.exit(debug.exitStatus!);
  m.addDevice({ name: 'debug-ports', save: () => debug.save(), load: (s) => debug.load(s as { exitStatus: number | null }) });

  // A20: enabled at power-on and by every reset (the CPU's reset state on QEMU).
  let a20 = true;
  const setA20 = (on: boolean) => {
    a20 = on;
    m.mem.a20Mask = on ? -1 : ~(1 << 20);
    m.cpu.a20Changed();
  };
  m.addDevice({
    name: 'a20',
    save: () => ({ enabled: a20 }),
    load: (s) => setA20((s as { enabled: boolean }).enabled),
    reset: () => setA20(true),
  });

  // The chipset and its BIOS flash.
  const host = m.addDevice(new I440fx(ctx, { bios: { offset: m.mem.addRom(config.bios), size: config.bios.length } }));
  host.attach();

  // Interrupts: every ISA line goes to both the PIC pair and the I/O APIC.
  const router = new IrqRouter(m.clock);
  m.addDevice({ name: 'irq-router', save: () => router.save(), load: (s) => router.load(s as ReturnType<IrqRouter['save']>) });
  const lapic = m.addDevice(new Lapic(ctx, m.cpu));
  lapic.attach();
  m.cpu.pic = lapic;
  const pic = m.addDevice(new I8259Pic(ctx, (level) => lapic.setLint0(level)));
  pic.attach();
  lapic.extIntAcknowledge = () => pic.acknowledge();
  router.addSink(pic);
  const ioapic = m.addDevice(new Ioapic(ctx));
  ioapic.attach();
  ioapic.bus = lapic;
  lapic.onEoi = (v) => ioapic.eoi(v);
  router.addSink(ioapic);

  let resetRequest: string | null = null;
  const requestReset = (why: string) => {
    if (m.noReboot) {
      resetRequest = why;
      m.requestStop('stopped');
    } else m.reset();
  };

  const piix3 = m.addDevice(new Piix3(ctx, { isaIrq: (n) => router.line(n) }));
  piix3.attach();
  host.addFunction(piix3);
  piix3.onA20 = setA20;
  piix3.onReset = (reason) => requestReset(reason);

  const pit = m.addDevice(new I8254Pit(ctx, router.line(0)));
  pit.attach();
  m.addDevice(new SystemControlPortB(ctx, pit)).attach();

  const rtc = m.addDevice(new Mc146818Rtc(ctx, router.line(8), config.rtcStart === undefined ? {} : { startTime: config.rtcStart }));
  rtc.attach();

  const dma = m.addDevice(new I8237Dma(ctx));
  dma.attach();
  let floppy: { media: ReturnType<typeof floppyMediaFromSectors>; name: string } | null = null;
  if (config.fda) {
    floppyFormat(config.fda.bytes.length, config.fda.name); // a clear error for a size no drive reads
    const overlay = new CowOverlay(new RawImage(config.fda.bytes, 512, config.fda.name), config.fda.name);
    m.addDevice(overlayState('fda-overlay', overlay));
    floppy = { media: floppyMediaFromSectors(overlay), name: config.fda.name };
  }
  const fdc = m.addDevice(new I82077aaFdc(ctx, router.line(6), dma.channel(2), { drives: [floppy ?? {}, null] }));
  dma.connect(2, fdc);
  fdc.attach();

  const kbc = m.addDevice(new I8042(ctx, router.line(1), router.line(12)));
  kbc.attach();
  kbc.onA20 = setA20;
  kbc.onReset = () => requestReset('i8042');

  const uarts = [4, 3, 4, 3].map((irq, i) => {
    const u = m.addDevice(new Uart16550(ctx, i, router.line(irq)));
    u.attach();
    return u;
  });

  // IDE: hda on the primary master, the CD-ROM on the secondary master.
  const drives: (IdeDriveConfig | null)[] = [null, null, null, null];
  if (config.hda) {
    const base: BlockMedia = openImage(config.hda.bytes, config.hda.name);
    const overlay = new CowOverlay(base, config.hda.name);
    m.addDevice(overlayState('hda-overlay', overlay));
    drives[0] = { kind: 'disk', media: overlay, name: 'hda' };
  }
  if (config.cdrom) {
    drives[2] = { kind: 'cdrom', media: new RawImage(config.cdrom.bytes, 2048, config.cdrom.name), name: 'cdrom' };
  }
  const ide = m.addDevice(new PiixIde(ctx, [router.line(14), router.line(15)], drives));
  ide.attach();
  host.addFunction(ide);

  const vga = m.addDevice(new Vga(ctx));
  vga.attach();
  host.addFunction(vga);

  const fwCfg = m.addDevice(new FwCfg(ctx, { ramSize }));
  fwCfg.attach();
  if (config.vgaBios) fwCfg.setFile('pci1234,1111.rom', config.vgaBios);
  if (config.kernel) {
    const { setup, kernel } = splitBzImage(config.kernel.image);
    fwCfg.setKernel({
      setup,
      kernel,
      initrd: config.kernel.initrd,
      cmdline: config.kernel.cmdline,
      optionRom: config.kernel.linuxboot ? { name: 'linuxboot_dma.bin', data: config.kernel.linuxboot } : undefined,
    });
  }

  rtc.fillPcCmos({
    ramBelow4G: ramSize,
    floppyTypes: [fdc.cmosDriveType(0), fdc.cmosDriveType(1)],
    bootOrder: (config.boot ?? ['c', 'a', 'd']).join(''),
  });

  return {
    machine: m,
    router,
    lapic,
    pic,
    ioapic,
    pit,
    rtc,
    dma,
    fdc,
    kbc,
    uarts,
    host,
    piix3,
    ide,
    vga,
    fwCfg,
    debug,
    get resetRequest() {
      return resetRequest;
    },
  };
}
