; vga.asm: a boot sector for the GDB stub's tests. Real mode, CS = 0 (so gdb's $pc is the
; linear address), interrupts off, no BIOS calls: it runs the same on the bare machine and
; after SeaBIOS. It clears the VGA text screen with REP STOSW, then writes the same row of
; text cells five times (each round with different characters), prints "vga ok" on port
; 0xE9 and exits through isa-debug-exit (status 3).
        bits 16
        org 0x7C00
start:
        cli
        cld
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7C00
        jmp 0:main                      ; CS = 0 whatever the BIOS jumped with
main:
        mov ax, 0xB800
        mov es, ax
        xor di, di
        mov ax, 0x0720                  ; grey space
        mov cx, 80 * 25
        rep stosw                       ; clear the screen
        xor bx, bx                      ; round
        mov cx, 5
round:
        mov si, text
        xor di, di
cell:
        lodsb
        test al, al
        jz next_round
        add al, bl                      ; a different character each round
        mov ah, 0x1F
        mov [es:di], ax                 ; write the text cell
        add di, 2
        jmp cell
next_round:
        inc bx
        loop round
        mov si, done
print:
        lodsb
        test al, al
        jz finish
        out 0xE9, al
        jmp print
finish:
        mov al, 1
        out 0xF4, al                    ; isa-debug-exit: status (1 << 1) | 1 = 3
        hlt
        jmp finish

text:   db "ABCD", 0
done:   db "vga ok", 10, 0

        times 510 - ($ - $$) db 0
        dw 0xAA55
