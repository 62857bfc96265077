; debugregs.asm: DR0-DR3 instruction breakpoints and data watchpoints, the DR7 enable,
; R/W and LEN fields, the DR6 status bits, EFLAGS.RF, and the DR4/DR5 aliases.
;
; Instruction breakpoints are faults: #DB before the instruction runs, the pushed EIP is
; the instruction's, and returning without RF = 1 hits the same breakpoint again. Data
; breakpoints are traps: #DB after the access, the pushed EIP is the next instruction.
;
; References: Intel SDM vol. 3, chapter "Debug, Branch Profile, TSC, and Intel RDT
; Features" (its chapter number differs between editions, so sections are cited by title):
; "Debug Registers" with "Debug Status Register (DR6)", "Debug Control Register (DR7)" and
; "Breakpoint Field Recognition"; "Debug Exception (#DB)" with "Instruction-Breakpoint
; Exception Condition", "Data Memory and I/O Breakpoint Exception Conditions" and
; "Single-Step Exception Condition"; and 2.5 (CR4.DE).

%define PROGRAM_NAME "debugregs"
%include "boot.inc"
%include "report.inc"
%include "pm32.inc"

; DR7 fields ("Debug Control Register (DR7)")
DR7_L0 equ 1 << 0
DR7_G0 equ 1 << 1
DR7_L1 equ 1 << 2
DR7_L2 equ 1 << 4
DR7_L3 equ 1 << 6
DR7_LE_GE equ 3 << 8
%define DR7_RW(n, v)  ((v) << (16 + 4 * (n)))
%define DR7_LEN(n, v) ((v) << (18 + 4 * (n)))
RW_EXEC  equ 0
RW_WRITE equ 1
RW_RDWR  equ 3
LEN_1 equ 0
LEN_2 equ 1
LEN_4 equ 3
; DR6 ("Debug Status Register (DR6)")
DR6_B  equ 0x000F
DR6_BS equ 1 << 14

MAX_HITS equ 4
RUNAWAY_HITS equ 16

; DBG_ARM no_rf_first: forget earlier hits; if no_rf_first = 1 the handler returns from
; the first #DB with RF as the CPU pushed it (0), otherwise it always sets RF.
%macro DBG_ARM 1
        mov dword [db_hits], 0
        mov dword [db_no_rf_first], %1
%endmacro

        bits 16
main:
        ENTER_PM32
        call idt_setup
        mov dword [exc_hook], debug_hook

; ---- 1. An instruction breakpoint (DR7 R/W = 00, LEN = 00) is a fault ("Instruction-
;         Breakpoint Exception Condition"): the #DB arrives before the instruction runs,
;         with EIP = the instruction and DR6.B0.
test_exec:
        BEGIN 'dr0-exec'
        DBG_ARM 1
        mov dword [bp_counter], 0
        mov eax, bp_target
        mov dr0, eax
        mov eax, DR7_L0 | DR7_RW(0, RW_EXEC) | DR7_LEN(0, LEN_1)
        mov dr7, eax
        call bp_routine
        xor eax, eax
        mov dr7, eax
        EXPECT [db_eip + 0], bp_target, 'pushed EIP of the first hit'
        mov eax, [db_dr6 + 0]
        and eax, DR6_B | DR6_BS
        EXPECT eax, 1, 'DR6 B0-B3 and BS'
        EXPECT [db_value + 0], 0, 'counter at the first hit (the instruction has not run)'
        END

; ---- 2. RF (same section): returning without RF re-executes into the same breakpoint; with
;         RF = 1 the instruction completes and RF then clears, so the breakpoint works
;         again next time.
test_rf:
        BEGIN 'rf-resume'
        EXPECT [db_hits], 2, 'hits: first return without RF, second with RF'
        EXPECT [db_eip + 4], bp_target, 'pushed EIP of the second hit'
        EXPECT [bp_counter], 1, 'counter after the routine'
        DBG_ARM 0
        mov eax, DR7_L0
        mov dr7, eax
        call bp_routine
        call bp_routine
        xor eax, eax
        mov dr7, eax
        EXPECT [db_hits], 2, 'hits over two more calls, RF set each time'
        EXPECT [bp_counter], 3, 'counter after two more calls'
        END

; ---- 3. Enable bits (DR7 L0..L3, G0..G3): with L0 = G0 = 0 a matching DR0 does nothing; G0 alone
;         enables it.
test_enable:
        BEGIN 'dr7-enable'
        DBG_ARM 0
        xor eax, eax
        mov dr7, eax
        call bp_routine
        EXPECT [db_hits], 0, 'hits with DR7 = 0'
        mov eax, DR7_G0
        mov dr7, eax
        call bp_routine
        xor eax, eax
        mov dr7, eax
        EXPECT [db_hits], 1, 'hits with G0 = 1'
        END

; ---- 4. A write watchpoint (R/W = 01) on a dword (LEN = 11): reads do not trigger, the
;         write does, as a trap after it (EIP = next instruction, the value already
;         written), DR6.B1; a write to the next dword does not.
test_write:
        BEGIN 'dr1-write'
        DBG_ARM 0
        mov dword [watch_ptr], wvar
        mov eax, wvar
        mov dr1, eax
        mov eax, DR7_L1 | DR7_LE_GE | DR7_RW(1, RW_WRITE) | DR7_LEN(1, LEN_4)
        mov dr7, eax
        mov eax, [wvar]
        mov dword [wvar + 4], 1
        mov dword [wvar], 0x1234
.next:  nop
        xor eax, eax
        mov dr7, eax
        EXPECT [db_hits], 1, 'hits'
        EXPECT [db_eip + 0], .next, 'pushed EIP'
        mov eax, [db_dr6 + 0]
        and eax, DR6_B | DR6_BS
        EXPECT eax, 2, 'DR6 B0-B3 and BS'
        EXPECT [db_value + 0], 0x1234, 'watched dword at the #DB'
        END

; ---- 5. A read/write watchpoint (R/W = 11) on a word (LEN = 01): a word read, a read of
;         its second byte and a byte write hit; the bytes just outside do not
;         ("Breakpoint Field Recognition").
test_rdwr:
        BEGIN 'dr2-rdwr-len2'
        DBG_ARM 0
        mov eax, rvar
        mov dr2, eax
        mov eax, DR7_L2 | DR7_LE_GE | DR7_RW(2, RW_RDWR) | DR7_LEN(2, LEN_2)
        mov dr7, eax
        mov ax, [rvar]
.n1:    mov al, [rvar + 1]
.n2:    mov al, [rvar + 2]
        mov al, [rvar - 1]
        mov byte [rvar], 7
.n3:    nop
        xor eax, eax
        mov dr7, eax
        EXPECT [db_hits], 3, 'hits'
        EXPECT [db_eip + 0], .n1, 'pushed EIP, word read'
        EXPECT [db_eip + 4], .n2, 'pushed EIP, read of the second byte'
        EXPECT [db_eip + 8], .n3, 'pushed EIP, byte write'
        mov eax, [db_dr6 + 8]
        and eax, DR6_B | DR6_BS
        EXPECT eax, 4, 'DR6 B0-B3 and BS'
        END

; ---- 6. Overlap ("Breakpoint Field Recognition"): a dword write watchpoint at A
;         (LEN = 11) is hit by a misaligned dword write at A + 2 and a byte write at
;         A + 3, not by a write at A + 4 or A - 4. DR6.B3.
test_overlap:
        BEGIN 'dr3-overlap'
        DBG_ARM 0
        mov eax, uvar
        mov dr3, eax
        mov eax, DR7_L3 | DR7_LE_GE | DR7_RW(3, RW_WRITE) | DR7_LEN(3, LEN_4)
        mov dr7, eax
        mov dword [uvar + 2], 0x11111111
.n1:    mov byte [uvar + 3], 0x22
.n2:    mov dword [uvar + 4], 0x33333333
        mov dword [uvar - 4], 0x44444444
        xor eax, eax
        mov dr7, eax
        EXPECT [db_hits], 2, 'hits'
        EXPECT [db_eip + 0], .n1, 'pushed EIP, write at A + 2'
        EXPECT [db_eip + 4], .n2, 'pushed EIP, write at A + 3'
        mov eax, [db_dr6 + 0]
        and eax, DR6_B | DR6_BS
        EXPECT eax, 8, 'DR6 B0-B3 and BS'
        END

; ---- 7. Single-step ("Single-Step Exception Condition"): TF set by POPF traps after
;         the next instruction, with DR6.BS and no B bits.
test_bs:
        BEGIN 'dr6-bs'
        DBG_ARM 0
        pushfd
        or dword [esp], EFL_TF
        popfd
        nop
.next:  nop
        EXPECT [db_hits], 1, 'hits'
        EXPECT [db_eip + 0], .next, 'pushed EIP'
        mov eax, [db_dr6 + 0]
        and eax, DR6_B | DR6_BS
        EXPECT eax, DR6_BS, 'DR6 B0-B3 and BS'
        END

; ---- 8. DR4 and DR5 ("Debug Registers"; 2.5, CR4.DE): with CR4.DE = 0 they are DR6
;         and DR7; with CR4.DE = 1 using them is #UD.
test_alias:
        BEGIN 'dr4-dr5'
        mov eax, DR7_L2 | DR7_RW(2, RW_RDWR) | DR7_LEN(2, LEN_2)
        mov dr7, eax
        mov eax, dr4
        mov ebx, dr6
        EXPECT eax, ebx, 'DR4 reads as DR6'
        mov eax, dr5
        mov ebx, dr7
        EXPECT eax, ebx, 'DR5 reads as DR7'
        xor eax, eax
        mov dr7, eax
        mov eax, cr4
        or eax, CR4_DE
        mov cr4, eax
        ARM .after
.fault: mov eax, dr4
.after: mov eax, cr4
        and eax, ~CR4_DE
        mov cr4, eax
        EXPECT_EXC 6, 0, .fault
        END

        FINISH

; The breakpoint target: an instruction with a visible effect.
bp_routine:
        nop
bp_target:
        inc dword [bp_counter]
        ret

; exc_hook for #DB: record the hit and return (CF = 0); anything else goes to the default.
debug_hook:
        cmp dword [ebp + F_VEC], 1
        jne .pass
        mov ecx, [db_hits]
        inc dword [db_hits]
        cmp ecx, RUNAWAY_HITS           ; a breakpoint that keeps firing (RF ignored?):
        jb .counting                    ; turn the breakpoints off so the check can fail
        xor eax, eax
        mov dr7, eax
.counting:
        cmp ecx, MAX_HITS
        jae .recorded
        mov eax, [ebp + F_EIP]
        mov [db_eip + ecx * 4], eax
        mov eax, [exc_dr6]
        mov [db_dr6 + ecx * 4], eax
        mov eax, [bp_counter]
        mov edx, [watch_ptr]
        test edx, edx
        jz .value
        mov eax, [edx]
.value: mov [db_value + ecx * 4], eax
.recorded:
        and dword [ebp + F_EFL], ~EFL_TF
        test ecx, ecx
        jnz .set_rf
        cmp dword [db_no_rf_first], 0
        jne .done
.set_rf:
        or dword [ebp + F_EFL], EFL_RF
.done:  clc
        ret
.pass:  stc
        ret

        PM32_SUPPORT

        align 4
bp_counter:     dd 0
watch_ptr:      dd 0
db_hits:        dd 0
db_no_rf_first: dd 0
db_eip:         times MAX_HITS dd 0
db_dr6:         times MAX_HITS dd 0
db_value:       times MAX_HITS dd 0
        align 16
                dd 0
wvar:           dd 0, 0
        align 16
                dd 0
rvar:           dd 0
        align 16
                dd 0
uvar:           dd 0, 0

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
