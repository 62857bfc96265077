; null.asm: the empty workload. It boots exactly like every other benchmark guest, enters
; protected mode, prints its checksum line and exits at once. The bench runs it to measure
; an emulator's own start-up, firmware and boot time, which it then subtracts.

%include "boot.inc"

        bits 32
pm_main:
        mov esi, result_text
        call put_string
        xor eax, eax
        call put_hex32
        mov al, 10
        call put_char
        xor eax, eax
        jmp exit

result_text: db "null checksum=", 0

%include "end.inc"
