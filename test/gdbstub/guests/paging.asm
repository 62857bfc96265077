; paging.asm: a boot sector for the GDB stub's tests of virtual addresses. It enters
; 32-bit protected mode, maps linear 0x40000000 to the physical page 0x7000 (which holds
; this code) and 0x40001000 to the physical page 0x50000, turns paging on, jumps to its own
; code through the alias (so EIP is a virtual address unlike any physical one) and there
; writes a counter 10 times to virtual 0x40001010 (physical 0x50010). Then "paging ok" on
; port 0xE9 and exit through isa-debug-exit (status 3). Runs on the bare machine and after
; SeaBIOS alike.
        bits 16
        org 0x7C00
start:
        cli
        cld
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7C00
        in al, 0x92
        or al, 2
        out 0x92, al                    ; A20 on (port 92h fast gate)
        lgdt [gdtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp 0x08:pm32

        bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7C00
        mov edi, 0x20000                ; page directory, identity table, alias table
        xor eax, eax
        mov ecx, 3 * 1024
        rep stosd
        mov dword [0x20000], 0x21003
        mov dword [0x20000 + (0x40000000 >> 22) * 4], 0x22003
        mov edi, 0x21000
        mov eax, 3
        mov ecx, 1024
identity:
        stosd
        add eax, 0x1000
        loop identity
        mov dword [0x22000], 0x7003     ; 0x40000000 -> this code's page
        mov dword [0x22004], 0x50003    ; 0x40001000 -> data page 0x50000
        mov eax, 0x20000
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax
        jmp 0x40000000 + (virtual - 0x7000)

virtual:
        mov ecx, 10
count:
        mov [0x40001010], ecx           ; the watched virtual address
        dec ecx
        jnz count
        mov esi, 0x40000000 + (done - 0x7000)
print:
        lodsb
        test al, al
        jz finish
        out 0xE9, al
        jmp print
finish:
        mov al, 1
        out 0xF4, al
        hlt
        jmp finish

done:   db "paging ok", 10, 0
        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF           ; 0x08: flat 32-bit code
        dq 0x00CF92000000FFFF           ; 0x10: flat data
gdtr:   dw gdtr - gdt - 1
        dd gdt

        times 510 - ($ - $$) db 0
        dw 0xAA55
