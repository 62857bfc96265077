; exceptions.asm: the IA-32 exceptions in 32-bit protected mode. Each check provokes one
; exception and compares the vector, the error code (0 for vectors without one; the stub
; pushes 0) and the pushed EIP: a fault pushes the address of the faulting instruction,
; a trap the address of the next one.
;
; References: Intel SDM vol. 3, chapter 6 (6.3 sources, 6.5 fault/trap/abort, 6.13 error
; code, 6.15 the per-vector reference), 4.7 (page-fault error code), 5.x (protection).

%define PROGRAM_NAME "exceptions"
%include "boot.inc"
%include "report.inc"
%include "pm32.inc"

TSS_BAD_SEL      equ 0x40           ; TSS with a limit below 67h
NP_DATA_SEL      equ 0x48           ; data segment, not present
SS_NP_SEL        equ 0x50           ; writable data segment, not present
SMALL_DATA_SEL   equ 0x58           ; data, base 50000h, limit FFFh (byte granular)
SMALL_CODE_SEL   equ 0x60           ; code, limit FFFh
USTACK_SMALL_SEL equ 0x68           ; DPL3 expand-down stack, limit FFFh: offsets 1000h..FFFFFFFFh

PD_BASE   equ 0x20000               ; page directory
PT0_BASE  equ 0x21000               ; page table for linear 0..4 MiB
NP_PAGE   equ 0x44000               ; not present
RO_PAGE   equ 0x45000               ; present, user, read-only
SUP_PAGE  equ 0x46000               ; present, supervisor, read/write
AC_BUF    equ 0x47000               ; user read/write

        bits 16
main:
        ENTER_PM32
        call idt_setup
        mov ax, TSS_SEL
        ltr ax

; ---- #DE, vector 0, fault (SDM vol. 3, 6.15 "Interrupt 0")
test_de:
        BEGIN 'de-divide'
        ARM .after
        mov eax, 1
        xor edx, edx
        xor ecx, ecx
.fault: div ecx
.after: EXPECT_EXC 0, 0, .fault
        END

; A quotient that does not fit is #DE too: 80000000h / -1 (vol. 2, IDIV).
test_de_overflow:
        BEGIN 'de-overflow'
        ARM .after
        mov eax, 0x80000000
        cdq
        mov ecx, -1
.fault: idiv ecx
.after: EXPECT_EXC 0, 0, .fault
        END

; ---- #DB, vector 1, single-step trap (6.15 "Interrupt 1"; "Single-Step Exception
; Condition" in the debug chapter): no trap after the
; POPF that sets TF, one trap after the instruction that follows it; DR6.BS = 1.
test_db:
        BEGIN 'db-single-step'
        ARM .after
        pushfd
        or dword [esp], EFL_TF
        popfd
        nop
.trap:  nop
.after: EXPECT_EXC 1, 0, .trap
        mov eax, [exc_dr6]
        and eax, 0x400F
        EXPECT eax, 0x4000, 'DR6 BS and B0-B3'
        END

; ---- #BP, vector 3, trap: INT3 pushes the address after itself (6.15 "Interrupt 3")
test_bp:
        BEGIN 'bp-int3'
        ARM .after
        int3
.trap:  nop
.after: EXPECT_EXC 3, 0, .trap
        END

; ---- #OF, vector 4, trap: INTO with OF = 1 (6.15 "Interrupt 4")
test_of:
        BEGIN 'of-into'
        ARM .after
        mov al, 0x7F
        add al, 1
        into
.trap:  nop
.after: EXPECT_EXC 4, 0, .trap
        END

; ---- #BR, vector 5, fault: BOUND with the index above the upper bound (6.15 "Interrupt 5")
test_br:
        BEGIN 'br-bound'
        ARM .after
        mov eax, 11
.fault: bound eax, [bound_pair]
.after: EXPECT_EXC 5, 0, .fault
        END

; ---- #UD, vector 6, fault (6.15 "Interrupt 6")
test_ud:
        BEGIN 'ud-ud2'
        ARM .after
.fault: ud2
.after: EXPECT_EXC 6, 0, .fault
        END

; ---- #NM, vector 7, fault: an x87 instruction with CR0.EM = 1 (6.15 "Interrupt 7",
; 2.5 Table 2-2). No FPU is needed: EM = 1 means "emulate", so every ESC opcode faults.
test_nm_em:
        BEGIN 'nm-em'
        mov eax, cr0
        or eax, CR0_EM
        mov cr0, eax
        ARM .after
.fault: fld1
.after: mov eax, cr0
        and eax, ~CR0_EM
        mov cr0, eax
        EXPECT_EXC 7, 0, .fault
        END

; WAIT with CR0.MP = 1 and CR0.TS = 1 is #NM too (Table 2-2).
test_nm_ts:
        BEGIN 'nm-ts-wait'
        mov eax, cr0
        or eax, CR0_TS | CR0_MP
        mov cr0, eax
        ARM .after
.fault: fwait
.after: clts
        mov eax, cr0
        and eax, ~CR0_MP
        mov cr0, eax
        EXPECT_EXC 7, 0, .fault
        END

; ---- #DF, vector 8, abort, error code 0 (6.15 "Interrupt 8", Table 6-5): #DE finds its
; IDT gate not present, which is #NP (contributory) while delivering #DE (contributory),
; so the CPU raises #DF instead. The saved CS:EIP of #DF is undefined: not checked.
test_df:
        BEGIN 'df'
        and byte [IDT_BASE + 0 * 8 + 5], 0x7F
        ARM .after
        mov eax, 1
        xor edx, edx
        xor ecx, ecx
.fault: div ecx
.after: or byte [IDT_BASE + 0 * 8 + 5], 0x80
        DISARM
        EXPECT [exc_count], 1, 'number of exceptions'
        EXPECT [exc_vector], 8, 'vector'
        EXPECT [exc_error], 0, 'error code'
        END

; ---- #TS, vector 10, fault: a task switch to a TSS whose limit is below 67h; the error
; code is the new TSS selector (7.3, Table 7-1; 6.15 "Interrupt 10").
test_ts:
        BEGIN 'ts'
        ARM .after
.fault: jmp TSS_BAD_SEL:0
.after: EXPECT_EXC 10, TSS_BAD_SEL, .fault
        END

; ---- #NP, vector 11, fault: loading DS with a not-present descriptor; error code = the
; selector (6.15 "Interrupt 11").
test_np:
        BEGIN 'np'
        ARM .after
        mov ax, NP_DATA_SEL
.fault: mov ds, ax
.after: EXPECT_EXC 11, NP_DATA_SEL, .fault
        END

; ---- #SS, vector 12, fault: loading SS with a not-present descriptor is #SS(selector),
; not #NP (6.15 "Interrupt 12"; vol. 2 MOV).
test_ss_np:
        BEGIN 'ss-notpresent'
        ARM .after
        mov ax, SS_NP_SEL
.fault: mov ss, ax
.after: EXPECT_EXC 12, SS_NP_SEL, .fault
        END

; A push below the bottom of an expand-down stack segment is #SS(0) (5.3, 6.15). Done at
; ring 3 so the CPU delivers the exception on the ring-0 stack from the TSS: at ring 0 it
; would push onto the very stack that faulted and end in #DF.
test_ss_limit:
        BEGIN 'ss-limit'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        xor ecx, ecx
        call run_ring3
        EXPECT_EXC 12, 0, .r3_fault
        cmp dword [exc_count], 1
        jne .skip
        EXPECT [exc_ss], USTACK_SMALL_SEL | 3, 'pushed SS'
        EXPECT [exc_esp], 0x1002, 'pushed ESP (unchanged by the faulting PUSH)'
.skip:  END
        jmp test_gp_null_ss
.r3:    mov ax, USTACK_SMALL_SEL | 3
        mov ss, ax
        mov esp, 0x1002                 ; PUSH would write offsets FFEh..1001h
.r3_fault:
        push eax
.r3_after:
        int 0x30

; ---- #GP, vector 13 (6.15 "Interrupt 13", 5.4-5.9)
; Loading SS with a null selector is #GP(0) (vol. 2 MOV).
test_gp_null_ss:
        BEGIN 'gp-null-ss'
        ARM .after
        xor eax, eax
.fault: mov ss, ax
.after: EXPECT_EXC 13, 0, .fault
        END

; A null selector may be loaded into DS; using it is #GP(0) (3.4.2).
test_gp_null_ds:
        BEGIN 'gp-null-ds'
        ARM .after
        xor eax, eax
        mov ds, ax
.fault: mov eax, [0x40000]
.after: mov ax, KDATA_SEL
        mov ds, ax
        EXPECT_EXC 13, 0, .fault
        END

; A selector whose index is beyond the GDT limit: #GP(selector) (vol. 2 MOV).
test_gp_gdt_limit:
        BEGIN 'gp-gdt-limit'
        ARM .after
        mov ax, 0xFFF8
.fault: mov es, ax
.after: EXPECT_EXC 13, 0xFFF8, .fault
        END

; A dword at offset FFDh of a segment whose limit is FFFh ends at 1000h: #GP(0) (5.3).
test_gp_data_limit:
        BEGIN 'gp-data-limit'
        mov ax, SMALL_DATA_SEL
        mov es, ax
        ARM .after
.fault: mov eax, [es:0xFFD]
.after: mov ax, KDATA_SEL
        mov es, ax
        EXPECT_EXC 13, 0, .fault
        END

; A far jump to an offset beyond the new CS limit: #GP(0), reported at the JMP (vol. 2
; JMP). SMALL_CODE's base is chosen so that, should the CPU not fault, offset 2000h
; lands on cs_limit_landing, which comes back here.
test_gp_cs_limit:
        BEGIN 'gp-cs-limit'
        ARM .after
.fault: jmp SMALL_CODE_SEL:0x2000
.after: EXPECT_EXC 13, 0, .fault
        END

; Ring 3 loading DS with a DPL0 data segment: #GP(selector) (5.6).
test_gp_priv_seg:
        BEGIN 'gp-priv-seg'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        xor ecx, ecx
        call run_ring3
        EXPECT_EXC 13, KDATA_SEL, .r3_fault
        EXPECT [exc_cs], UCODE_SEL | 3, 'pushed CS'
        END
        jmp test_gp_priv_insn
.r3:    mov ax, KDATA_SEL
.r3_fault:
        mov ds, ax
.r3_after:
        int 0x30

; HLT at ring 3: #GP(0) (5.9).
test_gp_priv_insn:
        BEGIN 'gp-priv-insn'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        xor ecx, ecx
        call run_ring3
        EXPECT_EXC 13, 0, .r3_fault
        END
        jmp test_gp_iopl
.r3:
.r3_fault:
        hlt
.r3_after:
        int 0x30

; CLI at ring 3 with IOPL = 0: #GP(0) (vol. 2 CLI).
test_gp_iopl:
        BEGIN 'gp-iopl'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        xor ecx, ecx
        call run_ring3
        EXPECT_EXC 13, 0, .r3_fault
        END
        jmp test_gp_int_dpl
.r3:
.r3_fault:
        cli
.r3_after:
        int 0x30

; INT 20h from ring 3 through a DPL0 gate: #GP with error code 20h * 8 + 2 (IDT bit) and
; the pushed EIP of the INT instruction (6.12.1.1, 6.13).
test_gp_int_dpl:
        BEGIN 'gp-int-dpl'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        xor ecx, ecx
        call run_ring3
        EXPECT_EXC 13, 0x20 * 8 + 2, .r3_fault
        END
        jmp test_pf_setup
.r3:
.r3_fault:
        int 0x20
.r3_after:
        int 0x30

; ---- #PF, vector 14 (4.7, 6.15 "Interrupt 14"): error code bit 0 P (protection vs not
; present), bit 1 W/R, bit 2 U/S; CR2 = the linear address.
; Identity paging for 0..4 MiB, everything user read/write except the three test pages.
test_pf_setup:
        mov edi, PD_BASE
        xor eax, eax
        mov ecx, 2 * 1024
        rep stosd                       ; clear the directory and the table
        mov dword [PD_BASE], PT0_BASE | PG_P | PG_RW | PG_US
        mov edi, PT0_BASE
        mov eax, PG_P | PG_RW | PG_US
        mov ecx, 1024
.pte:   stosd
        add eax, 0x1000
        loop .pte
        mov dword [PT0_BASE + (NP_PAGE >> 12) * 4], 0
        mov dword [PT0_BASE + (RO_PAGE >> 12) * 4], RO_PAGE | PG_P | PG_US
        mov dword [PT0_BASE + (SUP_PAGE >> 12) * 4], SUP_PAGE | PG_P | PG_RW
        mov dword [RO_PAGE + 8], 0
        mov dword [RO_PAGE + 12], 0
        mov eax, PD_BASE
        mov cr3, eax
        mov eax, cr0
        or eax, CR0_PG
        mov cr0, eax

test_pf_np_read:
        BEGIN 'pf-notpresent-read'
        ARM .after
.fault: mov eax, [NP_PAGE + 0x123]
.after: EXPECT_EXC 14, 0, .fault
        EXPECT [exc_cr2], NP_PAGE + 0x123, 'CR2'
        END

test_pf_np_write:
        BEGIN 'pf-notpresent-write'
        ARM .after
.fault: mov [NP_PAGE + 0x456], eax
.after: EXPECT_EXC 14, 2, .fault
        EXPECT [exc_cr2], NP_PAGE + 0x456, 'CR2'
        END

; Supervisor writes to a read-only page succeed with CR0.WP = 0 and fault with WP = 1
; (4.6.1): error code P | W = 3.
test_pf_wp:
        BEGIN 'pf-wp'
        ARM .after0
        mov dword [RO_PAGE + 8], 0x12345678
.after0:
        EXPECT_NO_EXC
        EXPECT [RO_PAGE + 8], 0x12345678, 'dword written with WP = 0'
        mov eax, cr0
        or eax, CR0_WP
        mov cr0, eax
        ARM .after
.fault: mov dword [RO_PAGE + 12], 0x87654321
.after: mov eax, cr0
        and eax, ~CR0_WP
        mov cr0, eax
        EXPECT_EXC 14, 3, .fault
        EXPECT [exc_cr2], RO_PAGE + 12, 'CR2'
        EXPECT [RO_PAGE + 12], 0, 'dword not written with WP = 1'
        END

; Ring 3 reading a supervisor page: P | U = 5.
test_pf_user_super:
        BEGIN 'pf-user-super'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        xor ecx, ecx
        call run_ring3
        EXPECT_EXC 14, 5, .r3_fault
        EXPECT [exc_cr2], SUP_PAGE + 0x10, 'CR2'
        END
        jmp test_pf_user_ro
.r3:
.r3_fault:
        mov eax, [SUP_PAGE + 0x10]
.r3_after:
        int 0x30

; Ring 3 writing a read-only user page: P | W | U = 7.
test_pf_user_ro:
        BEGIN 'pf-user-ro'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        xor ecx, ecx
        call run_ring3
        EXPECT_EXC 14, 7, .r3_fault
        EXPECT [exc_cr2], RO_PAGE + 0x20, 'CR2'
        END
        jmp test_pf_user_np
.r3:
.r3_fault:
        mov [RO_PAGE + 0x20], eax
.r3_after:
        int 0x30

; Ring 3 reading a not-present page: U = 4.
test_pf_user_np:
        BEGIN 'pf-user-notpresent'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        xor ecx, ecx
        call run_ring3
        EXPECT_EXC 14, 4, .r3_fault
        EXPECT [exc_cr2], NP_PAGE + 0x30, 'CR2'
        END
        jmp test_ac_cpl0
.r3:
.r3_fault:
        mov eax, [NP_PAGE + 0x30]
.r3_after:
        int 0x30

; ---- #AC, vector 17, fault, error code 0 (6.15 "Interrupt 17"): only with CR0.AM = 1,
; EFLAGS.AC = 1 and CPL = 3. At CPL 0 the same misaligned read is fine.
test_ac_cpl0:
        BEGIN 'ac-cpl0'
        mov eax, cr0
        or eax, CR0_AM
        mov cr0, eax
        ARM .after
        pushfd
        or dword [esp], EFL_AC
        popfd
        mov ebx, AC_BUF + 1
        mov eax, [ebx]
.after: pushfd
        and dword [esp], ~EFL_AC
        popfd
        EXPECT_NO_EXC
        END

test_ac:
        BEGIN 'ac'
        ARM .r3_after
        mov eax, .r3
        mov ebx, USTACK_TOP
        mov ecx, EFL_AC
        call run_ring3
        EXPECT_EXC 17, 0, .r3_fault
        END
        jmp done
.r3:    mov ebx, AC_BUF + 1
.r3_fault:
        mov eax, [ebx]
.r3_after:
        int 0x30

done:
        FINISH

; Only reached if the CPU ignores the CS limit in test_gp_cs_limit.
cs_limit_landing:
        jmp KCODE_SEL:test_gp_cs_limit.after

        PM32_SUPPORT

        align 4
bound_pair: dd 0, 10

        align 8
gdt:
        STD_GDT_ENTRIES
        GDT_ENTRY 0x40000, 0x50, ACC_TSS, 0                             ; 40h TSS_BAD_SEL
        GDT_ENTRY 0, 0xFFFFF, ACC_DATA0 & 0x7F, FLG_32                  ; 48h NP_DATA_SEL
        GDT_ENTRY 0, 0xFFFFF, ACC_DATA0 & 0x7F, FLG_32                  ; 50h SS_NP_SEL
        GDT_ENTRY 0x50000, 0xFFF, ACC_DATA0, 0x4                        ; 58h SMALL_DATA_SEL
        GDT_ENTRY ABS(cs_limit_landing) - 0x2000, 0xFFF, ACC_CODE0, 0x4 ; 60h SMALL_CODE_SEL
        GDT_ENTRY 0x50000, 0xFFF, 0xF6, 0x4                             ; 68h USTACK_SMALL_SEL
gdt_end:
gdt_ptr:
        dw gdt_end - gdt - 1
        dd gdt

        TSS_MAIN

%include "report_code.inc"
%include "end.inc"
