; paging.asm: 32-bit paging with 4 KiB and 4 MiB pages, PAE paging with 4 KiB and 2 MiB
; pages, accessed/dirty bits, CR0.WP, TLB invalidation by INVLPG and by a CR3 reload, and
; page faults with their error code and CR2.
;
; References: Intel SDM vol. 3, chapter 4: 4.3 (32-bit paging), 4.4 (PAE paging), 4.6
; (access rights, CR0.WP), 4.7 (page-fault exceptions), 4.8 (accessed and dirty flags),
; 4.10.4 (invalidation of TLBs).

%define PROGRAM_NAME "paging"
%include "boot.inc"
%include "report.inc"
%include "pm32.inc"

; 32-bit paging structures
PD_BASE   equ 0x20000
PT0_BASE  equ 0x21000                   ; identity map of linear 0..4 MiB (supervisor)
PTA_BASE  equ 0x22000                   ; page table for linear 40000000h..403FFFFFh
; PAE paging structures
PDPT_BASE equ 0x24000                   ; 4 entries, 32-byte aligned
PDP0_BASE equ 0x25000                   ; directory for linear 0..1 GiB
PDP1_BASE equ 0x26000                   ; directory for linear 1..2 GiB
PTP_BASE  equ 0x27000                   ; table for linear 40000000h..401FFFFFh

ALIAS     equ 0x40000000
PAGE_A    equ 0x40000                   ; physical pages, each with a marker at +10h
PAGE_B    equ 0x41000
PAGE_C    equ 0x42000
PAGE_D    equ 0x43000
PAGE_E    equ 0x44000
PAGE_F    equ 0x45000
MARKER    equ 0x10
BIG4M     equ 0x400000                  ; physical 4 MiB frame for the PSE page
BIG2M     equ 0x800000                  ; physical 2 MiB frame for the PAE large page
PSE_LIN   equ 0x80000000

; the 32-bit PTE / PDE slots that the checks change
PTE_A     equ PTA_BASE + 0 * 4          ; ALIAS + 0000h -> PAGE_A
PTE_B     equ PTA_BASE + 1 * 4          ; ALIAS + 1000h -> PAGE_B (accessed/dirty)
PTE_C     equ PTA_BASE + 2 * 4          ; ALIAS + 2000h -> PAGE_C (read-only)
PTE_D     equ PTA_BASE + 3 * 4          ; ALIAS + 3000h -> PAGE_D or PAGE_E (TLB)
PDE_ALIAS equ PD_BASE + (ALIAS >> 22) * 4
PDE_PSE   equ PD_BASE + (PSE_LIN >> 22) * 4

        bits 16
main:
        ENTER_PM32
        call idt_setup

        ; markers: page X holds AAAA0000h + n at +10h; the big frames hold their own
        mov dword [PAGE_A + MARKER], 0xAAAA000A
        mov dword [PAGE_B + MARKER], 0xAAAA000B
        mov dword [PAGE_C + MARKER], 0xAAAA000C
        mov dword [PAGE_D + MARKER], 0xAAAA000D
        mov dword [PAGE_E + MARKER], 0xAAAA000E
        mov dword [PAGE_F + MARKER], 0xAAAA000F
        mov dword [PAGE_C + 0x40], 0
        mov dword [PAGE_C + 0x44], 0
        mov dword [BIG4M + 0x1234], 0x4444EEEE
        mov dword [BIG2M + 0x345], 0x2222EEEE

        ; 32-bit paging: directory + identity table + alias table
        mov edi, PD_BASE
        xor eax, eax
        mov ecx, 3 * 1024
        rep stosd
        mov dword [PD_BASE], PT0_BASE | PG_P | PG_RW
        mov dword [PDE_ALIAS], PTA_BASE | PG_P | PG_RW
        mov edi, PT0_BASE
        mov eax, PG_P | PG_RW
        mov ecx, 1024
.identity:
        stosd
        add eax, 0x1000
        loop .identity
        mov dword [PTE_A], PAGE_A | PG_P | PG_RW
        mov dword [PTE_B], PAGE_B | PG_P | PG_RW        ; A = D = 0
        mov dword [PTE_C], PAGE_C | PG_P                ; read-only
        mov dword [PTE_D], PAGE_D | PG_P | PG_RW

; ---- 1. Paging on, identity-mapped code and data keep working (4.3).
test_identity:
        BEGIN 'paging-identity'
        mov eax, PD_BASE
        mov cr3, eax
        mov eax, cr0
        or eax, CR0_PG
        mov cr0, eax
        mov eax, cr0
        and eax, CR0_PG
        EXPECT eax, CR0_PG, 'CR0.PG'
        EXPECT [PAGE_A + MARKER], 0xAAAA000A, 'marker read through the identity map'
        END

; ---- 2. A second linear address for the same frame.
test_alias:
        BEGIN 'paging-alias'
        EXPECT [ALIAS + MARKER], 0xAAAA000A, 'PAGE_A marker read through the alias'
        mov dword [ALIAS + 0x20], 0x5EE5A11A
        EXPECT [PAGE_A + 0x20], 0x5EE5A11A, 'dword written through the alias, read direct'
        END

; ---- 3. The CPU sets A on the first access and D on the first write (4.8), in the
;         PTE; the PDE gets A.
test_accessed_dirty:
        BEGIN 'accessed-dirty'
        mov eax, [PTE_B]
        and eax, PG_A | PG_D
        EXPECT eax, 0, 'PTE A and D before any access'
        mov eax, [ALIAS + 0x1000 + MARKER]
        EXPECT eax, 0xAAAA000B, 'PAGE_B marker'
        mov eax, [PTE_B]
        and eax, PG_A | PG_D
        EXPECT eax, PG_A, 'PTE A and D after a read'
        mov dword [ALIAS + 0x1000 + 0x20], 1
        mov eax, [PTE_B]
        and eax, PG_A | PG_D
        EXPECT eax, PG_A | PG_D, 'PTE A and D after a write'
        mov eax, [PDE_ALIAS]
        and eax, PG_A
        EXPECT eax, PG_A, 'PDE A'
        END

; ---- 4. CR0.WP (4.6): with WP = 0 a supervisor write to a read-only page succeeds;
;         with WP = 1 it is #PF with error code P | W = 3 and CR2 = the address.
test_wp:
        BEGIN 'wp'
        ARM .after0
        mov dword [ALIAS + 0x2000 + 0x40], 0x0000C0DE
.after0:
        EXPECT_NO_EXC
        EXPECT [PAGE_C + 0x40], 0x0000C0DE, 'dword written with WP = 0'
        mov eax, cr0
        or eax, CR0_WP
        mov cr0, eax
        ARM .after
.fault: mov dword [ALIAS + 0x2000 + 0x44], 0x0000BAD0
.after: mov eax, cr0
        and eax, ~CR0_WP
        mov cr0, eax
        EXPECT_EXC 14, 3, .fault
        EXPECT [exc_cr2], ALIAS + 0x2000 + 0x44, 'CR2'
        EXPECT [PAGE_C + 0x44], 0, 'dword not written with WP = 1'
        END

; ---- 5. INVLPG (4.10.4.1): after the PTE is pointed at another frame, INVLPG of that
;         page makes the next access use the new PTE. (Without it the old translation
;         may or may not still be used, so that is not checked.)
test_invlpg:
        BEGIN 'invlpg'
        EXPECT [ALIAS + 0x3000 + MARKER], 0xAAAA000D, 'PAGE_D marker (fills the TLB)'
        mov dword [PTE_D], PAGE_E | PG_P | PG_RW
        invlpg [ALIAS + 0x3000]
        EXPECT [ALIAS + 0x3000 + MARKER], 0xAAAA000E, 'PAGE_E marker after INVLPG'
        END

; ---- 6. MOV to CR3 flushes every non-global translation (4.10.4.1).
test_cr3_reload:
        BEGIN 'cr3-reload'
        mov dword [PTE_D], PAGE_D | PG_P | PG_RW
        mov eax, cr3
        mov cr3, eax
        EXPECT [ALIAS + 0x3000 + MARKER], 0xAAAA000D, 'PAGE_D marker after the CR3 reload'
        END

; ---- 7. #PF for a not-present PTE: error code 0 on a read, 2 (W) on a write; CR2 is the
;         faulting linear address and the pushed EIP the faulting instruction (4.7).
test_pf_pte:
        BEGIN 'pf-pte-notpresent'
        ARM .after
.fault: mov eax, [ALIAS + 0x5ABC]
.after: EXPECT_EXC 14, 0, .fault
        EXPECT [exc_cr2], ALIAS + 0x5ABC, 'CR2 (read)'
        ARM .after_w
.fault_w:
        mov [ALIAS + 0x5DEF], eax
.after_w:
        EXPECT_EXC 14, 2, .fault_w
        EXPECT [exc_cr2], ALIAS + 0x5DEF, 'CR2 (write)'
        END

; ---- 8. #PF for a not-present PDE.
test_pf_pde:
        BEGIN 'pf-pde-notpresent'
        ARM .after
.fault: mov eax, [PSE_LIN + 0x1234]
.after: EXPECT_EXC 14, 0, .fault
        EXPECT [exc_cr2], PSE_LIN + 0x1234, 'CR2'
        END

; ---- 9. CR4.PSE: a PDE with PS = 1 maps a 4 MiB page (4.3, Table 4-4); A and D live in
;         that PDE.
test_pse:
        BEGIN 'pse-4m'
        mov eax, cr4
        or eax, CR4_PSE
        mov cr4, eax
        mov dword [PDE_PSE], BIG4M | PG_PS | PG_P | PG_RW
        EXPECT [PSE_LIN + 0x1234], 0x4444EEEE, 'marker through the 4 MiB page'
        mov eax, [PDE_PSE]
        and eax, PG_A | PG_D
        EXPECT eax, PG_A, 'PDE A and D after a read'
        mov dword [PSE_LIN + 0x3FF000], 0x4444D0D0
        mov eax, [PDE_PSE]
        and eax, PG_A | PG_D
        EXPECT eax, PG_A | PG_D, 'PDE A and D after a write'
        mov eax, cr0                    ; check the write landed at the right frame offset
        and eax, ~CR0_PG
        mov cr0, eax
        mov eax, [BIG4M + 0x3FF000]
        mov ebx, cr0
        or ebx, CR0_PG
        mov cr0, ebx
        EXPECT eax, 0x4444D0D0, 'dword written at 4 MiB page offset 3FF000h'
        END

; ---- 10. PAE paging (4.4): CR4.PAE = 1 with CR0.PG = 0, CR3 -> a 32-byte aligned PDPT
;          of 4 entries, 512-entry directories and tables of 8-byte entries. A PDPTE has
;          only P and the address (bits 1, 2, 5-8 are reserved in PAE PDPTEs).
test_pae_4k:
        BEGIN 'pae-4k'
        mov edi, PDPT_BASE
        xor eax, eax
        mov ecx, 4 * 1024
        rep stosd
        mov dword [PDPT_BASE + 0 * 8], PDP0_BASE | PG_P
        mov dword [PDPT_BASE + 1 * 8], PDP1_BASE | PG_P
        mov edi, PDP0_BASE              ; 0..16 MiB identity in 2 MiB pages
        mov eax, PG_PS | PG_P | PG_RW
.identity:
        mov [edi], eax
        add eax, 0x200000
        add edi, 8
        cmp edi, PDP0_BASE + 8 * 8
        jb .identity
        mov dword [PDP1_BASE + 0 * 8], PTP_BASE | PG_P | PG_RW          ; 40000000h: table
        mov dword [PDP1_BASE + 1 * 8], BIG2M | PG_PS | PG_P | PG_RW     ; 40200000h: 2 MiB
        mov dword [PTP_BASE + 5 * 8], PAGE_F | PG_P | PG_RW             ; 40005000h
        mov eax, cr0
        and eax, ~CR0_PG
        mov cr0, eax
        mov eax, cr4
        or eax, CR4_PAE
        mov cr4, eax
        mov eax, PDPT_BASE
        mov cr3, eax
        mov eax, cr0
        or eax, CR0_PG
        mov cr0, eax
        EXPECT [ALIAS + 0x5000 + MARKER], 0xAAAA000F, 'PAGE_F marker through a PAE 4 KiB page'
        mov eax, [PTP_BASE + 5 * 8]
        and eax, PG_A | PG_D
        EXPECT eax, PG_A, 'PAE PTE A and D after a read'
        END

; ---- 11. A PAE 2 MiB page: a PDE with PS = 1 (4.4.2, Table 4-9).
test_pae_2m:
        BEGIN 'pae-2m'
        EXPECT [ALIAS + 0x200000 + 0x345], 0x2222EEEE, 'marker through the 2 MiB page'
        mov dword [ALIAS + 0x200000 + 0x1FF000], 0x2222D0D0
        mov eax, [PDP1_BASE + 1 * 8]
        and eax, PG_A | PG_D
        EXPECT eax, PG_A | PG_D, 'PAE PDE A and D after a write'
        EXPECT [BIG2M + 0x1FF000], 0x2222D0D0, 'dword written at 2 MiB page offset 1FF000h'
        END

; ---- 12. #PF under PAE: a not-present PTE in an 8-byte table.
test_pae_pf:
        BEGIN 'pae-pf'
        ARM .after
.fault: mov eax, [ALIAS + 0x6000 + 0x78]
.after: EXPECT_EXC 14, 0, .fault
        EXPECT [exc_cr2], ALIAS + 0x6000 + 0x78, 'CR2'
        END

        FINISH

        PM32_SUPPORT

        align 8
gdt:
        STD_GDT_ENTRIES
gdt_end:
gdt_ptr:
        dw gdt_end - gdt - 1
        dd gdt

        TSS_MAIN

%include "report_code.inc"
%include "end.inc"
