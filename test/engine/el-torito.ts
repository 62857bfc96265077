// A minimal El Torito CD image for boot tests, built without external tools.

/**
 * An ISO 9660 image with an El Torito boot catalog (El Torito 1.0, ch. 2) whose default entry
 * is a no-emulation boot of `boot` loaded at 0000:7C00: primary volume descriptor (sector 16),
 * boot record (17), terminator (18), catalog (19), the boot image from sector 20.
 */
export function elToritoIso(boot: Uint8Array): Uint8Array {
  const S = 2048;
  const iso = new Uint8Array(S * (20 + Math.ceil(boot.length / S)));
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < s.length; i++) iso[at + i] = s.charCodeAt(i);
  };
  const le = (at: number, v: number, n: number) => {
    for (let i = 0; i < n; i++) iso[at + i] = (v >>> (8 * i)) & 0xff;
  };
  const descriptor = (sector: number, type: number) => {
    iso[sector * S] = type;
    ascii(sector * S + 1, 'CD001');
    iso[sector * S + 6] = 1;
  };
  descriptor(16, 1);
  le(16 * S + 80, iso.length / S, 4); // volume space size (both-endian; SeaBIOS reads neither)
  descriptor(17, 0);
  ascii(17 * S + 7, 'EL TORITO SPECIFICATION');
  le(17 * S + 0x47, 19, 4); // boot catalog sector
  descriptor(18, 255);
  const cat = 19 * S;
  iso[cat] = 1; // validation entry: header ID, platform 0 (80x86)
  iso[cat + 0x1e] = 0x55;
  iso[cat + 0x1f] = 0xaa;
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum += iso[cat + i] | (iso[cat + i + 1] << 8);
  le(cat + 0x1c, -sum & 0xffff, 2); // the words of the entry sum to zero
  iso[cat + 0x20] = 0x88; // bootable, no emulation
  le(cat + 0x26, Math.ceil(boot.length / 512), 2); // 512-byte sectors to load
  le(cat + 0x28, 20, 4);
  iso.set(boot, 20 * S);
  return iso;
}
