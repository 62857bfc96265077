; tasks.asm: hardware task switching. Task A is the kernel (TR = TSS_SEL after LTR).
;   JMP to TSS B          : B starts from the registers in its TSS, A's busy bit clears
;   B: JMP back to TSS A  : A resumes after its JMP with its registers, B's state saved
;   CALL to a task gate C : NT = 1 in C, C's back link = A, A stays busy
;   C: CALL to TSS A      : #GP(A) because A is busy (no recursion into a task)
;   C: IRET               : task return to A through the back link
;   INT 44h, a task gate  : task D, NT = 1, back link = A, IRET back
;
; References: Intel SDM vol. 3, chapter 7: 7.2 (TSS, TSS descriptor, task gate), 7.3
; (task switching, Table 7-1), 7.4 (task linking, Table 7-2: busy flag, NT flag, previous
; task link, CR0.TS).

%define PROGRAM_NAME "tasks"
%include "boot.inc"
%include "report.inc"
%include "pm32.inc"

TSS_B_SEL      equ 0x40
TSS_C_SEL      equ 0x48
TSS_D_SEL      equ 0x50
TASKGATE_C_SEL equ 0x58
TASK_INT       equ 0x44

B_EFLAGS       equ 0x0883               ; OF, SF, CF and the always-1 bit 1
B_STACK        equ 0x60000
C_STACK        equ 0x5F000
D_STACK        equ 0x5E000

; 32-bit TSS fields (7.2.1)
TSS_LINK  equ 0x00
TSS_EIP   equ 0x20
TSS_EFL   equ 0x24
TSS_EBX   equ 0x34
TSS_ESP   equ 0x38

; the access byte (type + present) of a GDT descriptor
%define TYPE_OF(sel) byte [gdt + (sel) + 5]

        bits 16
main:
        ENTER_PM32
        call idt_setup
        mov ax, TSS_SEL
        ltr ax
        ; IDT 44h: task gate to TSS D
        mov dword [IDT_BASE + TASK_INT * 8], TSS_D_SEL << 16
        mov dword [IDT_BASE + TASK_INT * 8 + 4], ACC_TASKGATE << 8

; ---- JMP to a TSS (7.3): task A's state goes to its TSS, B's comes from B's TSS.
        mov esi, 0xA5A5A5A5
        mov edi, 0x5A5A5A5A
        mov ebp, 0xA0A0A0A0
        mov dword [a_esp_before], esp
        stc
        jmp TSS_B_SEL:0
a_after_jmp:
        setc byte [a_cf_after]
        mov [a_esi_after], esi
        mov [a_edi_after], edi
        mov [a_ebp_after], ebp
        mov [a_esp_after], esp
        mov eax, cr0
        mov [a_cr0_after], eax
        clts

; ---- 1. B started with the registers and EFLAGS from its TSS, with TR = B.
test_jmp_load:
        BEGIN 'jmp-tss-load'
        EXPECT [b_regs + 0], 0xB0000001, 'EAX'
        EXPECT [b_regs + 4], 0xB0000002, 'ECX'
        EXPECT [b_regs + 8], 0xB0000003, 'EDX'
        EXPECT [b_regs + 12], 0xB0000004, 'EBX'
        EXPECT [b_regs + 16], B_STACK, 'ESP'
        EXPECT [b_regs + 20], 0xB0000006, 'EBP'
        EXPECT [b_regs + 24], 0xB0000007, 'ESI'
        EXPECT [b_regs + 28], 0xB0000008, 'EDI'
        EXPECT [b_eflags], B_EFLAGS, 'EFLAGS (NT = 0 after a JMP)'
        EXPECT [b_tr], TSS_B_SEL, 'TR'
        END

; ---- 2. Busy bits (Table 7-2): JMP clears the old task's and sets the new task's.
test_jmp_busy:
        BEGIN 'jmp-tss-busy'
        EXPECT [b_type_a], ACC_TSS, 'A while B runs (available)'
        EXPECT [b_type_b], ACC_TSS_BUSY, 'B while B runs (busy)'
        movzx eax, TYPE_OF(TSS_SEL)
        EXPECT eax, ACC_TSS_BUSY, 'A after the JMP back (busy)'
        movzx eax, TYPE_OF(TSS_B_SEL)
        EXPECT eax, ACC_TSS, 'B after the JMP back (available)'
        EXPECT [b_link], 0, 'B back link (JMP does not write it)'
        END

; ---- 3. Each task's state was saved in its own TSS at the switch away.
test_jmp_saved:
        BEGIN 'jmp-tss-saved'
        EXPECT [tss_b + TSS_EIP], task_b.resume, 'EIP saved in B'
        EXPECT [tss_b + TSS_EBX], 0x0B0B0B0B, 'EBX saved in B'
        EXPECT [tss_b + TSS_ESP], B_STACK, 'ESP saved in B'
        EXPECT [a_esi_after], 0xA5A5A5A5, 'A ESI restored'
        EXPECT [a_edi_after], 0x5A5A5A5A, 'A EDI restored'
        EXPECT [a_ebp_after], 0xA0A0A0A0, 'A EBP restored'
        EXPECT [a_esp_after], [a_esp_before], 'A ESP restored'
        EXPECT [tss_main + TSS_EIP], a_after_jmp, 'EIP saved in A'
        END

; ---- 4. EFLAGS is part of the saved state: A executed STC right before its JMP, so
;         CF = 1 in the EFLAGS saved in A's TSS and again in A after the JMP back. (An
;         emulator with lazy flags must materialize them before it writes the TSS.)
test_jmp_eflags:
        BEGIN 'jmp-tss-eflags'
        mov eax, [tss_main + TSS_EFL]
        and eax, EFL_CF
        EXPECT eax, EFL_CF, 'CF in the EFLAGS saved in A'
        movzx eax, byte [a_cf_after]
        EXPECT eax, 1, 'CF in A after the JMP back'
        END

; ---- 5. Every task switch sets CR0.TS (7.3, Table 7-2).
test_cr0_ts:
        BEGIN 'cr0-ts'
        mov eax, [a_cr0_after]
        and eax, CR0_TS
        EXPECT eax, CR0_TS, 'CR0.TS after the task switch'
        END

; ---- CALL through a task gate to C. C tries to CALL A (busy: #GP), then IRETs back.
        ARM task_c.after_busy
        call TASKGATE_C_SEL:0
a_after_call:
        DISARM
        pushfd
        pop dword [a_eflags_after_call]
        clts

; ---- 6. CALL (Table 7-2): C runs with NT = 1 and its back link = A; A stays busy.
test_call_gate:
        BEGIN 'call-taskgate'
        mov eax, [c_eflags]
        and eax, EFL_NT
        EXPECT eax, EFL_NT, 'NT in C'
        EXPECT [c_link], TSS_SEL, 'C back link'
        EXPECT [c_tr], TSS_C_SEL, 'TR in C'
        EXPECT [c_type_a], ACC_TSS_BUSY, 'A while C runs (busy)'
        EXPECT [c_type_c], ACC_TSS_BUSY, 'C while C runs (busy)'
        END

; ---- 7. A busy task cannot be called: #GP(selector), at the CALL (7.3; vol. 2
;         CALL "TASK-STATE-SEGMENT").
test_busy_reentry:
        BEGIN 'busy-reentry'
        EXPECT [c_gp_count], 1, 'number of exceptions'
        EXPECT [c_gp_vector], 13, 'vector'
        EXPECT [c_gp_error], TSS_SEL, 'error code'
        EXPECT [c_gp_eip], task_c.busy_call, 'pushed EIP'
        END

; ---- 8. IRET with NT = 1 returns to the back-linked task (7.4): C's busy bit clears,
;         A's stays, NT is cleared in the EFLAGS saved in C's TSS, A runs on after its
;         CALL with its own EFLAGS (NT = 0).
test_iret_return:
        BEGIN 'iret-task-return'
        movzx eax, TYPE_OF(TSS_C_SEL)
        EXPECT eax, ACC_TSS, 'C after the IRET (available)'
        movzx eax, TYPE_OF(TSS_SEL)
        EXPECT eax, ACC_TSS_BUSY, 'A after the IRET (busy)'
        mov eax, [tss_c + TSS_EFL]
        and eax, EFL_NT
        EXPECT eax, 0, 'NT in the EFLAGS saved in C'
        EXPECT [tss_c + TSS_EIP], task_c.resume, 'EIP saved in C'
        mov eax, [a_eflags_after_call]
        and eax, EFL_NT
        EXPECT eax, 0, 'NT in A after the return'
        END

; ---- 9. INT n through a task gate in the IDT (6.11, 7.3): a switch like CALL.
test_int_gate:
        BEGIN 'int-taskgate'
        mov edx, esp
        int TASK_INT
        mov ecx, edx
        sub ecx, esp
        clts
        EXPECT [d_count], 1, 'task D entries'
        mov eax, [d_eflags]
        and eax, EFL_NT
        EXPECT eax, EFL_NT, 'NT in D'
        EXPECT [d_link], TSS_SEL, 'D back link'
        EXPECT [d_tr], TSS_D_SEL, 'TR in D'
        EXPECT ecx, 0, 'bytes pushed on the stack of A'
        movzx eax, TYPE_OF(TSS_D_SEL)
        EXPECT eax, ACC_TSS, 'D after the IRET (available)'
        END

        FINISH

; ---- the other tasks --------------------------------------------------------------------

task_b:
        mov [b_regs + 0], eax
        mov [b_regs + 4], ecx
        mov [b_regs + 8], edx
        mov [b_regs + 12], ebx
        mov [b_regs + 16], esp
        mov [b_regs + 20], ebp
        mov [b_regs + 24], esi
        mov [b_regs + 28], edi
        pushfd
        pop dword [b_eflags]
        str ax
        movzx eax, ax
        mov [b_tr], eax
        movzx eax, TYPE_OF(TSS_SEL)
        mov [b_type_a], eax
        movzx eax, TYPE_OF(TSS_B_SEL)
        mov [b_type_b], eax
        movzx eax, word [tss_b + TSS_LINK]
        mov [b_link], eax
        mov ebx, 0x0B0B0B0B
        jmp TSS_SEL:0
.resume:
        jmp .resume                     ; nobody switches to B again

task_c:
        pushfd
        pop dword [c_eflags]
        movzx eax, word [tss_c + TSS_LINK]
        mov [c_link], eax
        str ax
        movzx eax, ax
        mov [c_tr], eax
        movzx eax, TYPE_OF(TSS_SEL)
        mov [c_type_a], eax
        movzx eax, TYPE_OF(TSS_C_SEL)
        mov [c_type_c], eax
.busy_call:
        call TSS_SEL:0
.after_busy:
        mov eax, [exc_count]
        mov [c_gp_count], eax
        mov eax, [exc_vector]
        mov [c_gp_vector], eax
        mov eax, [exc_error]
        mov [c_gp_error], eax
        mov eax, [exc_eip]
        mov [c_gp_eip], eax
        iretd
.resume:
        jmp .resume

task_d:
        inc dword [d_count]
        pushfd
        pop dword [d_eflags]
        movzx eax, word [tss_d + TSS_LINK]
        mov [d_link], eax
        str ax
        movzx eax, ax
        mov [d_tr], eax
        iretd
        jmp task_d                      ; a later INT 44h would start here

        PM32_SUPPORT

; TASK_TSS label, EIP, EFLAGS, ESP, first register value (EAX; the next ones count up)
%macro TASK_TSS 5
        align 16
%1:
        dd 0                            ; 00 previous task link
        dd 0, 0, 0, 0, 0, 0             ; 04 ESP0, SS0, ESP1, SS1, ESP2, SS2
        dd 0                            ; 1C CR3 (paging is off)
        dd %2                           ; 20 EIP
        dd %3                           ; 24 EFLAGS
        dd %5, %5 + 1, %5 + 2, %5 + 3   ; 28 EAX, ECX, EDX, EBX
        dd %4                           ; 38 ESP
        dd %5 + 5, %5 + 6, %5 + 7       ; 3C EBP, ESI, EDI
        dd KDATA_SEL, KCODE_SEL, KDATA_SEL, KDATA_SEL, KDATA_SEL, KDATA_SEL
                                        ; 48 ES, CS, SS, DS, FS, GS
        dd 0                            ; 60 LDT selector
        dw 0, 0x68                      ; 64 T, I/O map base (none)
%endmacro

        TASK_TSS tss_b, task_b, B_EFLAGS, B_STACK, 0xB0000001
        TASK_TSS tss_c, task_c, 2, C_STACK, 0
        TASK_TSS tss_d, task_d, 2, D_STACK, 0

        align 4
a_esp_before: dd 0
a_esp_after:  dd 0
a_esi_after:  dd 0
a_edi_after:  dd 0
a_ebp_after:  dd 0
a_cr0_after:  dd 0
a_eflags_after_call: dd 0
b_regs:       times 8 dd 0
b_eflags:     dd 0
b_tr:         dd 0
b_type_a:     dd 0
b_type_b:     dd 0
b_link:       dd 0
c_eflags:     dd 0
c_link:       dd 0
c_tr:         dd 0
c_type_a:     dd 0
c_type_c:     dd 0
c_gp_count:   dd 0
c_gp_vector:  dd 0
c_gp_error:   dd 0
c_gp_eip:     dd 0
d_count:      dd 0
d_eflags:     dd 0
d_link:       dd 0
d_tr:         dd 0
a_cf_after:   db 0

        align 8
gdt:
        STD_GDT_ENTRIES
        GDT_ENTRY ABS(tss_b), 0x67, ACC_TSS, 0          ; 40h TSS_B_SEL
        GDT_ENTRY ABS(tss_c), 0x67, ACC_TSS, 0          ; 48h TSS_C_SEL
        GDT_ENTRY ABS(tss_d), 0x67, ACC_TSS, 0          ; 50h TSS_D_SEL
        GDT_ENTRY TSS_C_SEL, 0, ACC_TASKGATE, 0         ; 58h task gate -> C
gdt_end:
gdt_ptr:
        dw gdt_end - gdt - 1
        dd gdt

        TSS_MAIN

%include "report_code.inc"
%include "end.inc"
