; v86.asm: virtual-8086 mode under a small 32-bit monitor.
;
; The kernel enters v86 mode with IRETD (EFLAGS.VM = 1 in the popped image) and a TSS
; whose ESP0/SS0 give the ring-0 stack for every way back. Two runs:
;   IOPL = 0: CLI, STI, PUSHF, POPF, INT n and IRET are IOPL-sensitive and raise #GP(0);
;             the monitor emulates them with a virtual IF and reflects INT n through the
;             real-mode IVT, like a DOS extender or EMM386 would. IN/OUT are decided by the
;             TSS I/O permission bitmap instead: port E9h is allowed, port 80h is not.
;   IOPL = 3: the same instructions run directly; INT n goes through the IDT to a ring-0
;             handler, which sees the v86 segment registers pushed on its stack.
; HLT is privileged at any IOPL: the monitor treats it as "end of this run".
;
; References: Intel SDM vol. 3, chapter "8086 Emulation": "Virtual-8086 Mode", "Sensitive
; Instructions", "Interrupt and Exception Handling in Virtual-8086 Mode"; vol. 1, chapter
; "Input/Output": "I/O Permission Bit Map" (cited by title: the chapter numbers differ
; between editions).

%define PROGRAM_NAME "v86"
%define TSS_MAIN_IOMAP 0x68
%define TSS_MAIN_LIMIT (0x68 + 32)      ; bitmap for ports 0..FFh, then the FFh end byte
%include "boot.inc"
%include "report.inc"
%include "pm32.inc"

V86_CS     equ ORIGIN >> 4              ; 07C0h: offsets are image offsets
V86_SS     equ 0x0500
V86_SP     equ 0x1000
%define V86OFF(x) ((x) - image_start)
MON_LOG_MAX equ 16

        bits 16
main:
        ENTER_PM32
        call idt_setup
        mov ax, TSS_SEL
        ltr ax
        mov eax, 0x43                   ; INT 43h may be used from v86 mode (DPL 3 gate)
        mov bl, GATE_INT3
        call set_gate_type
        mov dword [exc_hook], v86_hook
        mov byte [0x12345], 0x5A
        mov word [0x42 * 4], V86OFF(v86_int42)   ; the v86 program's own IVT entry
        mov word [0x42 * 4 + 2], V86_CS

        mov esi, run1_frame
        call run_v86

; ---- 1. v86 mode addresses like real mode: DS = 1234h, offset 5 is linear 12345h.
test_enter:
        BEGIN 'v86-enter'
        movzx eax, byte [res_seg_byte]
        EXPECT eax, 0x5A, 'byte read at 1234:0005'
        movzx eax, word [res_cs]
        EXPECT eax, V86_CS, 'CS seen by the v86 code'
        END

; ---- 2. INT 42h with IOPL = 0 traps to the monitor, which reflects it to the v86
;         handler from the IVT (ADD AX, 2222h; IRET); the IRET traps too.
test_int_reflect:
        BEGIN 'v86-int-reflect'
        movzx eax, word [res_int_ax]
        EXPECT eax, 0x3333, 'AX after INT 42h (1111h + 2222h)'
        movzx eax, byte [mon_log + 0]
        EXPECT eax, 0xCD, 'first trapped opcode'
        movzx eax, byte [mon_log + 1]
        EXPECT eax, 0xCF, 'second trapped opcode'
        END

; ---- 3. The #GP frame for INT n in v86 mode ("Interrupt and Exception Handling in
;         Virtual-8086 Mode"): error code 0, CS:EIP of the INT
;         instruction itself (a fault), EFLAGS.VM = 1 and IOPL = 0 in the pushed EFLAGS.
test_gp_frame:
        BEGIN 'v86-gp-frame'
        EXPECT [mon_int_err], 0, 'error code'
        EXPECT [mon_int_cs], V86_CS, 'pushed CS'
        EXPECT [mon_int_ip], V86OFF(v86_run1.int), 'pushed EIP'
        mov eax, [mon_int_eflags]
        and eax, EFL_VM | EFL_IOPL
        EXPECT eax, EFL_VM, 'pushed EFLAGS VM and IOPL'
        END

; ---- 4. With IOPL = 0 every sensitive instruction traps, in program order, with
;         error code 0 ("Sensitive Instructions").
test_iopl0:
        BEGIN 'v86-iopl0-sensitive'
        EXPECT [mon_log_len], 8, 'number of #GP traps'
        EXPECT [mon_log + 0], 0xFBFACFCD, 'opcodes 1-4 (INT, IRET, CLI, STI)'
        EXPECT [mon_log + 4], 0xF4E69D9C, 'opcodes 5-8 (PUSHF, POPF, OUT 80h, HLT)'
        EXPECT [mon_err_or], 0, 'OR of the error codes'
        END

; ---- 5. The I/O bitmap ("I/O Permission Bit Map"): the OUTs to port E9h ran (their
;         text is above), the OUT to port 80h trapped.
test_iobitmap:
        BEGIN 'v86-iobitmap'
        EXPECT [mon_out_count], 1, 'OUT instructions trapped'
        EXPECT [mon_out_port], 0x80, 'port of the trapped OUT'
        END

        ; second run, IOPL = 3
        mov dword [mon_log_len], 0
        mov dword [mon_log], 0
        mov dword [exc_count], 0
        mov esi, run2_frame
        call run_v86

; ---- 6. IOPL = 3: PUSHF shows IOPL = 3, CLI/STI change IF directly, POPF changes IF
;         but cannot change IOPL (vol. 2 POPF, v86 mode).
test_iopl3_flags:
        BEGIN 'v86-iopl3-flags'
        movzx eax, word [res_flags_initial]
        and eax, EFL_IOPL | EFL_IF
        EXPECT eax, EFL_IOPL, 'PUSHF at entry: IOPL, IF'
        movzx eax, word [res_flags_sti]
        and eax, EFL_IOPL | EFL_IF
        EXPECT eax, EFL_IOPL | EFL_IF, 'PUSHF after STI: IOPL, IF'
        movzx eax, word [res_flags_cli]
        and eax, EFL_IOPL | EFL_IF
        EXPECT eax, EFL_IOPL, 'PUSHF after CLI: IOPL, IF'
        movzx eax, word [res_flags_popf]
        and eax, EFL_IOPL
        EXPECT eax, EFL_IOPL, 'IOPL after POPF of 0'
        END

; ---- 7. IOPL = 3: IRET is a real-mode style 16-bit IRET, no trap.
test_iopl3_iret:
        BEGIN 'v86-iopl3-iret'
        movzx eax, word [res_iret]
        EXPECT eax, 0x1E1E, 'marker written after the IRET target'
        END

; ---- 8. IOPL = 3: INT 43h goes through the IDT to a ring-0 handler ("Handling an
;         Interrupt or Exception Through a Protected-Mode Trap or Interrupt Gate"): the
;         frame holds GS, FS, DS, ES, SS, ESP, EFLAGS (VM = 1), CS, EIP of the next
;         instruction; DS, ES, FS, GS are null inside the handler.
test_iopl3_int:
        BEGIN 'v86-iopl3-int'
        EXPECT [int43_count], 1, 'handler entries'
        EXPECT [int43_eip], V86OFF(v86_run2.int) + 2, 'pushed EIP'
        EXPECT [int43_cs], V86_CS, 'pushed CS'
        mov eax, [int43_eflags]
        and eax, EFL_VM
        EXPECT eax, EFL_VM, 'pushed EFLAGS.VM'
        EXPECT [int43_esp], V86_SP, 'pushed ESP'
        EXPECT [int43_ss], V86_SS, 'pushed SS'
        EXPECT [int43_es], 0x2222, 'pushed ES'
        EXPECT [int43_ds], 0x3333, 'pushed DS'
        EXPECT [int43_fs], 0x4444, 'pushed FS'
        EXPECT [int43_gs], 0x5555, 'pushed GS'
        EXPECT [int43_nulls], 0, 'OR of DS, ES, FS, GS in the handler'
        END

; ---- 9. IRETD from ring 0 with VM = 1 in the popped EFLAGS reloads the v86 segment
;         registers; the run ends with the HLT trap only.
test_iopl3_return:
        BEGIN 'v86-iopl3-return'
        EXPECT [res_after_es], 0x2222, 'ES after the handler returned'
        EXPECT [res_after_ds], 0x3333, 'DS after the handler returned'
        EXPECT [res_after_fs], 0x4444, 'FS after the handler returned'
        EXPECT [res_after_gs], 0x5555, 'GS after the handler returned'
        EXPECT [mon_log_len], 1, 'number of #GP traps'
        movzx eax, byte [mon_log]
        EXPECT eax, 0xF4, 'trapped opcode (HLT)'
        END

        FINISH

; ---- the v86 programs ------------------------------------------------------------------

        bits 16
v86_run1:
        mov ax, 0x1234
        mov ds, ax
        mov al, [0x0005]
        mov [cs:V86OFF(res_seg_byte)], al
        mov ax, cs
        mov [cs:V86OFF(res_cs)], ax
        mov ax, 0x1111
.int:   int 0x42
        mov [cs:V86OFF(res_int_ax)], ax
        cli
        sti
        pushf
        popf
        mov si, V86OFF(v86_text)
.print: mov al, [cs:si]
        test al, al
        jz .printed
        out DEBUGCON_PORT, al
        inc si
        jmp .print
.printed:
        out 0x80, al
        hlt

v86_int42:
        add ax, 0x2222
        iret

v86_run2:
        pushf
        pop ax
        mov [cs:V86OFF(res_flags_initial)], ax
        sti
        pushf
        pop ax
        mov [cs:V86OFF(res_flags_sti)], ax
        cli
        pushf
        pop ax
        mov [cs:V86OFF(res_flags_cli)], ax
        push word 0
        popf
        pushf
        pop ax
        mov [cs:V86OFF(res_flags_popf)], ax
        pushf
        push cs
        push word V86OFF(.after_iret)
        iret
        mov word [cs:V86OFF(res_iret)], 0xDEAD
.after_iret:
        mov word [cs:V86OFF(res_iret)], 0x1E1E
        mov ax, 0x2222
        mov es, ax
        mov ax, 0x3333
        mov ds, ax
        mov ax, 0x4444
        mov fs, ax
        mov ax, 0x5555
        mov gs, ax
.int:   int 0x43
        mov [cs:V86OFF(res_after_es)], es
        mov [cs:V86OFF(res_after_ds)], ds
        mov [cs:V86OFF(res_after_fs)], fs
        mov [cs:V86OFF(res_after_gs)], gs
        hlt

v86_text: db "  (this line comes from v86 code through the TSS I/O bitmap)", 10, 0

; ---- the monitor -----------------------------------------------------------------------

        bits 32
; esi -> {EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS}. Returns when the monitor sees HLT.
run_v86:
        pushad
        mov [guest_saved_esp], esp
        push dword [esi + 32]
        push dword [esi + 28]
        push dword [esi + 24]
        push dword [esi + 20]
        push dword [esi + 16]
        push dword [esi + 12]
        mov eax, [esi + 8]
        or eax, EFL_VM | 2
        push eax
        push dword [esi + 4]
        push dword [esi]
        iretd

; exc_hook: EBP = frame. CF = 0 when handled.
v86_hook:
        cmp dword [ebp + F_VEC], 0x43
        je .int43
        cmp dword [ebp + F_VEC], 13
        jne .pass
        test dword [ebp + F_EFL], EFL_VM
        jz .pass
        movzx esi, word [ebp + F_CS]
        shl esi, 4
        movzx eax, word [ebp + F_EIP]
        add esi, eax                    ; linear CS:IP of the trapping instruction
        movzx eax, byte [esi]
        mov ecx, [mon_log_len]
        cmp ecx, MON_LOG_MAX
        jae .logged
        mov [mon_log + ecx], al
        inc dword [mon_log_len]
.logged:
        mov edx, [ebp + F_ERR]
        or [mon_err_or], edx
        cmp al, 0xF4
        je guest_return
        cmp al, 0xCD
        je .int
        cmp al, 0xCF
        je .iret
        cmp al, 0xFA
        je .cli
        cmp al, 0xFB
        je .sti
        cmp al, 0x9C
        je .pushf
        cmp al, 0x9D
        je .popf
        cmp al, 0xE6
        je .out
.pass:  stc
        ret

.int:   cmp dword [mon_int_cs], 0       ; remember the first INT's frame
        jne .reflect
        mov eax, [ebp + F_ERR]
        mov [mon_int_err], eax
        mov eax, [ebp + F_CS]
        mov [mon_int_cs], eax
        mov eax, [ebp + F_EIP]
        mov [mon_int_ip], eax
        mov eax, [ebp + F_EFL]
        mov [mon_int_eflags], eax
.reflect:                               ; like a real-mode INT: FLAGS, CS, IP, then IVT
        movzx edx, byte [esi + 1]
        call flags_image
        call v86_push16
        mov eax, [ebp + F_CS]
        call v86_push16
        mov eax, [ebp + F_EIP]
        add eax, 2
        call v86_push16
        mov dword [mon_vif], 0
        and dword [ebp + F_EFL], ~EFL_TF
        movzx eax, word [edx * 4]
        mov [ebp + F_EIP], eax
        movzx eax, word [edx * 4 + 2]
        mov [ebp + F_CS], eax
        clc
        ret
.iret:  call v86_pop16
        mov [ebp + F_EIP], eax
        call v86_pop16
        mov [ebp + F_CS], eax
        call v86_pop16
        call set_flags_image
        clc
        ret
.cli:   mov dword [mon_vif], 0
        inc dword [ebp + F_EIP]
        clc
        ret
.sti:   mov dword [mon_vif], EFL_IF
        inc dword [ebp + F_EIP]
        clc
        ret
.pushf: call flags_image
        call v86_push16
        inc dword [ebp + F_EIP]
        clc
        ret
.popf:  call v86_pop16
        call set_flags_image
        inc dword [ebp + F_EIP]
        clc
        ret
.out:   inc dword [mon_out_count]
        movzx eax, byte [esi + 1]
        mov [mon_out_port], eax
        add dword [ebp + F_EIP], 2      ; skip it
        clc
        ret

.int43: inc dword [int43_count]
        mov eax, [ebp + F_EIP]
        mov [int43_eip], eax
        mov eax, [ebp + F_CS]
        mov [int43_cs], eax
        mov eax, [ebp + F_EFL]
        mov [int43_eflags], eax
        mov eax, [ebp + F_ESP]
        mov [int43_esp], eax
        mov eax, [ebp + F_SS]
        mov [int43_ss], eax
        movzx eax, word [ebp + F_V86ES]
        mov [int43_es], eax
        movzx eax, word [ebp + F_V86DS]
        mov [int43_ds], eax
        movzx eax, word [ebp + F_V86FS]
        mov [int43_fs], eax
        movzx eax, word [ebp + F_V86GS]
        mov [int43_gs], eax
        mov ax, [ebp + F_DS]
        or ax, [ebp + F_ES]
        or ax, [ebp + F_FS]
        or ax, [ebp + F_GS]
        movzx eax, ax
        mov [int43_nulls], eax
        clc
        ret

; eax = the 16-bit FLAGS the v86 program should see: real flags with the virtual IF
flags_image:
        mov eax, [ebp + F_EFL]
        and eax, 0xFFFF & ~EFL_IF
        or eax, [mon_vif]
        ret

; ax = 16-bit FLAGS popped by the v86 program: IF goes to the virtual IF, the arithmetic
; flags and DF to the real EFLAGS
set_flags_image:
        mov ecx, eax
        and ecx, EFL_IF
        mov [mon_vif], ecx
        and eax, 0x0CD5                 ; OF DF SF ZF AF PF CF
        and dword [ebp + F_EFL], ~0x0CD5
        or [ebp + F_EFL], eax
        ret

; push ax on the v86 stack (SS:SP from the frame, SP wraps at 64 KiB)
v86_push16:
        push ebx
        push ecx
        movzx ebx, word [ebp + F_ESP]
        sub bx, 2
        mov [ebp + F_ESP], ebx
        movzx ecx, word [ebp + F_SS]
        shl ecx, 4
        mov [ecx + ebx], ax
        pop ecx
        pop ebx
        ret

; pop the v86 stack into eax (zero-extended)
v86_pop16:
        push ebx
        push ecx
        movzx ebx, word [ebp + F_ESP]
        movzx ecx, word [ebp + F_SS]
        shl ecx, 4
        movzx eax, word [ecx + ebx]
        add bx, 2
        mov [ebp + F_ESP], ebx
        pop ecx
        pop ebx
        ret

        PM32_SUPPORT

        align 4
;                 EIP                  CS      EFLAGS    ESP     SS      ES DS FS GS
run1_frame: dd V86OFF(v86_run1), V86_CS, 0,        V86_SP, V86_SS, 0, 0, 0, 0
run2_frame: dd V86OFF(v86_run2), V86_CS, EFL_IOPL, V86_SP, V86_SS, 0, 0, 0, 0
mon_log:        times MON_LOG_MAX db 0
mon_log_len:    dd 0
mon_err_or:     dd 0
mon_vif:        dd 0
mon_int_err:    dd 0
mon_int_cs:     dd 0
mon_int_ip:     dd 0
mon_int_eflags: dd 0
mon_out_count:  dd 0
mon_out_port:   dd 0
int43_count:    dd 0
int43_eip:      dd 0
int43_cs:       dd 0
int43_eflags:   dd 0
int43_esp:      dd 0
int43_ss:       dd 0
int43_es:       dd 0
int43_ds:       dd 0
int43_fs:       dd 0
int43_gs:       dd 0
int43_nulls:    dd 0
res_seg_byte:   db 0
res_cs:         dw 0
res_int_ax:     dw 0
res_flags_initial: dw 0
res_flags_sti:  dw 0
res_flags_cli:  dw 0
res_flags_popf: dw 0
res_iret:       dw 0
        align 4
res_after_es:   dd 0
res_after_ds:   dd 0
res_after_fs:   dd 0
res_after_gs:   dd 0

        align 8
gdt:
        STD_GDT_ENTRIES
gdt_end:
gdt_ptr:
        dw gdt_end - gdt - 1
        dd gdt

        TSS_MAIN
; I/O permission bitmap for ports 0..FFh: every port denied except E9h (byte 1Dh, bit 1)
%assign i 0
%rep 32
  %if i == (DEBUGCON_PORT >> 3)
        db 0xFF & ~(1 << (DEBUGCON_PORT & 7))
  %else
        db 0xFF
  %endif
  %assign i i + 1
%endrep
        db 0xFF

%include "report_code.inc"
%include "end.inc"
