; modes.asm: real mode, 16-bit and 32-bit protected mode, the way back to real mode,
; unreal mode, far jumps and calls, segment loads, operand- and address-size prefixes.
;
; References: Intel SDM vol. 3, 9.9 (mode switching), 3.4 (segments and the hidden
; descriptor cache), "Real-Address Mode" in the "8086 Emulation" chapter, "Transferring
; Control Among Mixed-Size Code Segments" in the "Mixing 16-Bit and 32-Bit Code" chapter
; (cited by title: their chapter numbers differ between editions); vol. 1, 3.6 (operand
; and address size).
;
; Markers planted at the start: byte 5Ah at linear 12345h, byte A5h at linear 10002h.

%define PROGRAM_NAME "modes"
%include "boot.inc"
%include "report.inc"
%include "pm32.inc"

DATA_10000_SEL equ 0x40             ; 16-bit data, base 10000h, limit FFFFh
CACHE_SEL      equ 0x48             ; 16-bit data, base 12340h, limit FFFFh

        bits 16
main:
        call rm_install_traps
        mov ax, 0x1000
        mov es, ax
        mov byte [es:0x2345], 0x5A
        mov byte [es:0x0002], 0xA5
        xor ax, ax
        mov es, ax

; ---- 1. Real-mode addressing: linear = selector * 16 + offset, and 16-bit effective
;         addresses wrap at 64 KiB ("Address Translation in Real-Address Mode").
test_real_address:
        BEGIN 'real-address'
        mov ax, 0x1234
        mov fs, ax
        movzx eax, byte [fs:0x0005]
        EXPECT eax, 0x5A, 'byte at 1234:0005 (linear 12345h)'
        mov ax, 0x1000
        mov fs, ax
        mov bx, 0xFFFF
        mov si, 3
        movzx eax, byte [fs:bx + si]
        EXPECT eax, 0xA5, 'byte at 1000:(FFFF+3), which wraps to 1000:0002'
        END

; ---- 2. Operand-size (66h) and address-size (67h) prefixes in 16-bit code
;         (SDM vol. 1, 3.6): 32-bit arithmetic, a SIB address, push widths.
test_real_prefixes:
        BEGIN 'real-prefixes'
        mov eax, 0x12345678
        add eax, 0x11111111
        EXPECT eax, 0x23456789, '32-bit ADD under 66h'
        mov ax, 0x1000
        mov fs, ax
        mov ebx, 0x2000
        mov ecx, 0xD1
        movzx eax, byte [fs:ebx + ecx * 4 + 1]          ; 2000h + 344h + 1 = 2345h
        EXPECT eax, 0x5A, 'byte at [ebx+ecx*4+1] under 67h'
        mov edx, esp
        push ax
        mov ecx, edx
        sub ecx, esp
        pop ax
        EXPECT ecx, 2, 'bytes pushed by PUSH AX'
        mov edx, esp
        push eax
        mov ecx, edx
        sub ecx, esp
        pop eax
        EXPECT ecx, 4, 'bytes pushed by PUSH EAX (66h)'
        END

; ---- 3. 16-bit protected mode: CR0.PE and a far jump to a 16-bit code segment
;         (SDM vol. 3, 9.9.1); data loads use the descriptor base, not selector * 16.
test_pm16:
        BEGIN 'pm16'
        cli
        o32 lgdt [gdt_ptr]
        mov eax, cr0
        or eax, CR0_PE
        mov cr0, eax
        jmp KCODE16_SEL:.pm16
.pm16:
        mov ax, KDATA16_SEL
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov ax, cs
        movzx eax, ax
        EXPECT eax, KCODE16_SEL, 'CS selector'
        smsw ax
        and eax, 1
        EXPECT eax, 1, 'MSW.PE'
        mov ax, DATA_10000_SEL
        mov fs, ax
        movzx eax, byte [fs:0x2345]
        EXPECT eax, 0x5A, 'byte at FS:2345h with FS base 10000h'
        mov edx, esp
        push ax
        mov ecx, edx
        sub ecx, esp
        pop ax
        EXPECT ecx, 2, 'bytes pushed by PUSH AX on a 16-bit stack'
        END

; ---- 4. A 16-bit far call into a 32-bit code segment, which returns with a 16-bit RETF
;         (66h CB): the operand size of CALL decides what is pushed ("Transferring
;         Control Among Mixed-Size Code Segments").
test_far_call_16_to_32:
        BEGIN 'far-call-16-to-32'
        mov dword [far_seen_cs], 0
        mov edx, esp
        call KCODE_SEL:far32_proc
        mov ecx, edx
        sub ecx, esp
        EXPECT [far_seen_cs], KCODE_SEL, 'CS inside the 32-bit procedure'
        EXPECT [far_seen_depth], 4, 'bytes pushed by the 16-bit far call'
        EXPECT ecx, 0, 'stack balance after RETF'
        END

; ---- 5. 32-bit protected mode: default operand size 32, 66h selects 16, 67h selects
;         16-bit addressing (SDM vol. 1, 3.6).
test_pm32:
        BEGIN 'pm32'
        jmp dword KCODE_SEL:.pm32
        bits 32
.pm32:
        mov ax, KDATA_SEL
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, KSTACK_TOP
        mov ax, cs
        movzx eax, ax
        EXPECT eax, KCODE_SEL, 'CS selector'
        mov edx, esp
        push eax
        mov ecx, edx
        sub ecx, esp
        pop eax
        EXPECT ecx, 4, 'bytes pushed by PUSH EAX'
        mov edx, esp
        push ax
        mov ecx, edx
        sub ecx, esp
        pop ax
        EXPECT ecx, 2, 'bytes pushed by PUSH AX (66h)'
        mov bx, 0x2000
        mov si, 0x0345
        movzx eax, byte [fs:bx + si]                    ; FS still has base 10000h
        EXPECT eax, 0x5A, 'byte at FS:[bx+si] under 67h'
        END

; ---- 6. A20 is open: 100500h and 000500h are different bytes.
test_a20:
        BEGIN 'a20'
        mov dword [0x000500], 0x11111111
        mov dword [0x100500], 0xCAFEBABE
        EXPECT [0x000500], 0x11111111, 'dword at 500h'
        EXPECT [0x100500], 0xCAFEBABE, 'dword at 100500h'
        END

; ---- 7. A 32-bit far call into a 16-bit code segment, which returns with O32 RETF.
test_far_call_32_to_16:
        BEGIN 'far-call-32-to-16'
        mov dword [far_seen_cs], 0
        mov edx, esp
        call KCODE16_SEL:far16_proc
        mov ecx, edx
        sub ecx, esp
        EXPECT [far_seen_cs], KCODE16_SEL, 'CS inside the 16-bit procedure'
        EXPECT [far_seen_depth], 8, 'bytes pushed by the 32-bit far call'
        EXPECT ecx, 0, 'stack balance after O32 RETF'
        END

; ---- 8. JMP FAR through a 16:32 pointer in memory.
test_far_jmp_indirect:
        BEGIN 'far-jmp-indirect'
        mov eax, 1
        jmp far [far_jmp_ptr]
        mov eax, 2                                      ; skipped
.target:
        EXPECT eax, 1, 'instruction after the far jump skipped'
        mov ax, cs
        movzx eax, ax
        EXPECT eax, KCODE_SEL, 'CS after the far jump'
        END

; ---- 9. Back to real mode (SDM vol. 3, 9.9.2): through a 16-bit code segment with a
;         64 KiB limit, clear PE, far jump to a real-mode CS. Segment registers keep their
;         hidden descriptor cache until reloaded: DS keeps a 4 GiB limit (unreal mode), ES
;         a 64 KiB limit, GS base 12340h.
test_back_to_real:
        BEGIN 'back-to-real'
        mov ax, KDATA_SEL
        mov ds, ax
        mov ax, KDATA16_SEL
        mov es, ax
        mov fs, ax
        mov ax, CACHE_SEL
        mov gs, ax
        mov ax, KDATA16_SEL
        mov ss, ax
        mov esp, ORIGIN
        jmp KCODE16_SEL:.pm16
        bits 16
.pm16:
        mov eax, cr0
        and eax, ~CR0_PE
        mov cr0, eax
        jmp 0:.real
.real:
        xor ax, ax
        mov ss, ax
        mov esp, ORIGIN
        mov ax, cs
        movzx eax, ax
        EXPECT eax, 0, 'CS'
        smsw ax
        and eax, 1
        EXPECT eax, 0, 'MSW.PE'
        END

; ---- 10. Unreal mode: a real-mode load of DS sets base = selector * 16 but leaves the
;          4 GiB limit in the cache, so 32-bit offsets reach above 1 MiB.
test_unreal:
        BEGIN 'unreal'
        xor ax, ax
        mov ds, ax
        mov esi, 0x100500
        mov eax, [esi]
        EXPECT eax, 0xCAFEBABE, 'dword at DS:100500h written in protected mode'
        mov dword [esi + 4], 0x600DF00D
        mov eax, [esi + 4]
        EXPECT eax, 0x600DF00D, 'dword written and read back at DS:100504h'
        END

; ---- 11. ES kept its 64 KiB limit: offset 10000h is outside it and raises #GP, which
;          in real mode is interrupt 13 through the IVT with no error code ("Interrupt
;          and Exception Handling" under "Real-Address Mode"; vol. 2 MOV, "Real-Address
;          Mode Exceptions").
test_real_limit:
        BEGIN 'real-limit'
        mov dword [rm_count], 0
        mov word [rm_resume], .after
        mov esi, 0x10000
.fault:
        mov al, [es:esi]
.after:
        mov word [rm_resume], 0
        EXPECT [rm_count], 1, 'number of exceptions'
        cmp dword [rm_count], 1
        jne .done
        EXPECT [rm_vector], 13, 'vector'
        EXPECT [rm_ip], .fault, 'pushed IP'
.done:
        END

; ---- 12. The hidden base survives the switch: GS still addresses base 12340h although
;          its selector value is 48h (48h * 16 would be 480h). A real-mode reload then
;          applies selector * 16.
test_seg_cache:
        BEGIN 'seg-cache'
        mov ax, gs
        movzx eax, ax
        EXPECT eax, CACHE_SEL, 'GS selector value'
        movzx eax, byte [gs:0x0005]
        EXPECT eax, 0x5A, 'byte at GS:5 through the cached base 12340h'
        mov ax, 0x1000
        mov gs, ax
        movzx eax, byte [gs:0x2345]
        EXPECT eax, 0x5A, 'byte at GS:2345h after a real-mode reload of 1000h'
        END

; ---- 13. Far-pointer loads LFS/LGS/LES/LSS in real mode.
test_seg_loads:
        BEGIN 'seg-loads'
        lfs bx, [ptr_12345]
        movzx eax, byte [fs:bx]
        EXPECT eax, 0x5A, 'byte at the LFS pointer'
        lgs di, [ptr_10002]
        movzx eax, byte [gs:di]
        EXPECT eax, 0xA5, 'byte at the LGS pointer'
        mov gs, [zero_word]
        mov cx, ss
        mov edx, esp
        lss sp, [ptr_stack]
        mov ax, ss
        movzx eax, ax
        movzx ebx, sp
        mov ss, cx
        mov esp, edx
        EXPECT eax, 0x0050, 'SS after LSS'
        EXPECT ebx, 0x1234, 'SP after LSS'
        les si, [ptr_12345]
        mov ax, es
        movzx eax, ax
        EXPECT eax, 0x1234, 'ES after LES'
        xor ax, ax
        mov es, ax
        END

        FINISH

; ---- helpers --------------------------------------------------------------------------

        bits 32
; reached by a 16-bit far call: returns with a 16-bit far return
far32_proc:
        mov ax, cs
        movzx eax, ax
        mov [far_seen_cs], eax
        mov eax, edx
        sub eax, esp
        mov [far_seen_depth], eax
        o16 retf

        bits 16
; reached by a 32-bit far call: returns with a 32-bit far return
far16_proc:
        mov ax, cs
        movzx eax, ax
        mov [far_seen_cs], eax
        mov eax, edx
        sub eax, esp
        mov [far_seen_depth], eax
        o32 retf

; Real-mode exception vectors 0..31 point at rm_stubs. An expected exception resumes at
; rm_resume; anything else aborts the program with the vector and CS:IP.
rm_install_traps:
        xor di, di
        mov ax, rm_stubs
        mov cx, 32
.entry:
        mov [di], ax
        mov word [di + 2], 0
        add ax, 8
        add di, 4
        loop .entry
        ret

        align 8
rm_stubs:
%assign vec 0
%rep 32
        align 8
        push word vec
        jmp rm_exc_common
  %assign vec vec + 1
%endrep

rm_exc_common:                           ; [bp+2] vector, [bp+4] IP, [bp+6] CS
        push bp
        mov bp, sp
        push ax
        push ds
        xor ax, ax
        mov ds, ax
        inc dword [rm_count]
        movzx eax, word [bp + 2]
        mov [rm_vector], eax
        movzx eax, word [bp + 4]
        mov [rm_ip], eax
        movzx eax, word [bp + 6]
        mov [rm_cs], eax
        mov ax, [rm_resume]
        test ax, ax
        jz .unexpected
        mov [bp + 4], ax
        mov word [rm_resume], 0
        pop ds
        pop ax
        pop bp
        add sp, 2
        iret
.unexpected:
        call rpt_fail_prefix_16
        mov esi, rm_text_unexpected
        call rpt_puts_16
        mov eax, [rm_vector]
        call rpt_hex_16
        mov esi, exc_text_at
        call rpt_puts_16
        mov eax, [rm_cs]
        call rpt_hex_16
        mov al, ':'
        out DEBUGCON_PORT, al
        mov eax, [rm_ip]
        call rpt_hex_16
        mov al, 10
        out DEBUGCON_PORT, al
        call rpt_mark_failed_16
        jmp rpt_finish_16

        align 4
rm_count:    dd 0
rm_vector:   dd 0
rm_ip:       dd 0
rm_cs:       dd 0
rm_resume:   dw 0
far_seen_cs:    dd 0
far_seen_depth: dd 0
far_jmp_ptr: dd test_far_jmp_indirect.target
             dw KCODE_SEL
ptr_12345:   dw 0x0005, 0x1234
ptr_10002:   dw 0x0002, 0x1000
ptr_stack:   dw 0x1234, 0x0050
zero_word:   dw 0
rm_text_unexpected: db "unexpected real-mode exception, vector ", 0
exc_text_at:        db " at ", 0

        align 8
gdt:
        STD_GDT_ENTRIES
        GDT_ENTRY 0x10000, 0xFFFF, ACC_DATA0, FLG_16    ; 40h DATA_10000_SEL
        GDT_ENTRY 0x12340, 0xFFFF, ACC_DATA0, FLG_16    ; 48h CACHE_SEL
gdt_end:
gdt_ptr:
        dw gdt_end - gdt - 1
        dd gdt

        TSS_MAIN

%include "report_code.inc"
%include "end.inc"
