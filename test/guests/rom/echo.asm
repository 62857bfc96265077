; echo.rom: a 64 KiB system ROM (in place of SeaBIOS) that echoes its input, for the
; record/replay tests. It needs no firmware, so a PC reaches it in a few hundred
; instructions. Interrupt-driven, so the timing of every input matters:
;   - a byte received on COM1 (IRQ4) is sent back on COM1 and on port 0xE9;
;   - a scancode from the i8042 (IRQ1) is sent as "<xx>" (hex) on both;
;   - every PIT tick (IRQ0, about 18.2 Hz) adds one to a counter; '?' received on COM1
;     prints the counter as "[tttt]";
;   - 'q' received on COM1 prints "bye" and exits through isa-debug-exit (status 1).
; Between interrupts the CPU halts.

bits 16
cpu 686
org 0

COM1 equ 0x3f8

start:
    cli
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000
    mov ds, ax
    mov es, ax
    mov word [ticks], 0
    ; interrupt vectors: IRQ0-7 at 08h-0Fh
    mov word [0x08*4], pit_isr
    mov word [0x08*4+2], 0xf000
    mov word [0x09*4], kbd_isr
    mov word [0x09*4+2], 0xf000
    mov word [0x0c*4], com_isr
    mov word [0x0c*4+2], 0xf000
    ; PIC pair: ICW1-4, master at 08h, slave at 70h
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x70
    out 0xa1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xa1, al
    mov al, 0x01
    out 0x21, al
    out 0xa1, al
    mov al, 0xec                ; IRQ0, IRQ1 and IRQ4 unmasked
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    ; PIT channel 0: mode 2, divisor 65536 (18.2 Hz)
    mov al, 0x34
    out 0x43, al
    xor al, al
    out 0x40, al
    out 0x40, al
    ; COM1: 115200 8N1, FIFO, IRQ on received data (OUT2 gates the IRQ line on a PC)
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al
    mov dx, COM1
    mov al, 1
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al
    mov dx, COM1 + 2
    mov al, 0x07
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x0b
    out dx, al
    mov dx, COM1 + 1
    mov al, 0x01
    out dx, al
    ; i8042: keyboard interrupt on, translation on
    call kbc_wait
    mov al, 0x60
    out 0x64, al
    call kbc_wait
    mov al, 0x45
    out 0x60, al
    mov si, msg_ready
    call puts
    sti
idle:
    hlt
    jmp idle

kbc_wait:
    in al, 0x64
    test al, 2
    jnz kbc_wait
    ret

; al -> COM1 (waiting for room) and port 0xE9
putc:
    push dx
    push ax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dx, COM1
    out dx, al
    out 0xe9, al
    pop dx
    ret

; ds:si, zero-terminated (the ROM's own segment: cs)
puts:
    push ax
.next:
    cs lodsb
    test al, al
    jz .done
    call putc
    jmp .next
.done:
    pop ax
    ret

; al as two hex digits
puthex:
    push ax
    shr al, 4
    call .digit
    pop ax
    push ax
    and al, 0x0f
    call .digit
    pop ax
    ret
.digit:
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    jmp putc

pit_isr:
    push ax
    inc word [ticks]
    mov al, 0x20
    out 0x20, al
    pop ax
    iret

kbd_isr:
    push ax
    in al, 0x60
    push ax
    mov al, '<'
    call putc
    pop ax
    call puthex
    mov al, '>'
    call putc
    mov al, 0x20
    out 0x20, al
    pop ax
    iret

com_isr:
    push ax
    push dx
    push si
.more:
    mov dx, COM1 + 5
    in al, dx
    test al, 1
    jz .done
    mov dx, COM1
    in al, dx
    cmp al, 'q'
    je .quit
    cmp al, '?'
    je .ticks
    call putc
    jmp .more
.ticks:
    mov al, '['
    call putc
    mov ax, [ticks]
    xchg al, ah
    call puthex
    xchg al, ah
    call puthex
    mov al, ']'
    call putc
    jmp .more
.quit:
    mov si, msg_bye
    call puts
    mov al, 0
    out 0xf4, al
    jmp .more
.done:
    mov al, 0x20
    out 0x20, al
    pop si
    pop dx
    pop ax
    iret

msg_ready: db "echo ready", 13, 10, 0
msg_bye: db "bye", 13, 10, 0

ticks equ 0x500

    times 0xfff0 - ($ - $$) db 0xff
reset:
    jmp 0xf000:start
    times 0x10000 - ($ - $$) db 0xff
