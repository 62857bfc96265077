; faults: boot code that probes, through the BIOS, what bitrot's fault injector does to it
; (test/faults/seabios-faults.slow.test.ts). It boots from a floppy (DL=00h: INT 13h AH=02h/03h
; by CHS, 18 sectors a track, 2 heads) or a hard disk (DL=80h: AH=42h/43h by LBA) and prints
; one line per probe on port E9h, then leaves through isa-debug-exit (status 1):
;
;   faults probe: drive DD
;   read 20: CF=c AH=ss             INT 13h read of LBA 20 (a read-error target): carry, status
;   corrupt 21: OOOO=VV ... | none  LBA 21 holds byte i = i & FFh; every offset that differs, with its value
;   write 22: CF=c AH=ss            512 bytes of A5h written to LBA 22 (zeros before)...
;   torn 22: NNNN                   ...and how many A5h bytes read back (0200h: the whole sector)
;   latent 23: r=c/ss w=c/ss r=c/ss read, rewrite, read again of LBA 23 (a dm-dust bad block)
;   reg: XXXXXXXX                   EAX = 1234h, then `inc eax` at 0000:8A00 (a register fault target)
;   irq7: count NN isr NN           a handler on vector 0Fh (IRQ7), the master 8259's ISR it read;
;                                   the spurious-interrupt point is the NOP at 0000:8A10
;   ticks: XXXXXXXX                 BIOS ticks (INT 1Ah AH=00h) over 200,000,000 TSC cycles of HLT
;
; The fixed addresses (8A00h, 8A10h) are where fault plans point their pc triggers.

cpu 586
bits 16
org 0x7c00

STAGE2  equ 0x7e00
SECTORS equ 7                   ; stage 2: LBA 1-7
BUF     equ 0x6000
SPAN    equ 200000000           ; TSC cycles (= instructions) the tick probe waits

; ---- sector 0: load stage 2 ----
start:
    jmp 0:mbr
mbr:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    cld
    mov [drive], dl
    mov bx, STAGE2
    mov eax, 1
    mov cx, SECTORS
.load:
    push cx
    push eax
    call read_lba
    pop eax
    pop cx
    jc .fail
    add bx, 512
    inc eax
    loop .load
    jmp stage2
.fail:
    mov al, '!'
    out 0xe9, al
    mov al, 1
    out 0xf4, al
    hlt
    jmp .fail

; read_lba / write_lba: one sector, LBA in EAX, buffer ES:BX. Out: CF and AH as INT 13h left them.
read_lba:
    mov byte [op], 0x02
    jmp xfer
write_lba:
    mov byte [op], 0x03
xfer:
    test byte [drive], 0x80
    jnz .ext
    xor edx, edx
    mov ecx, 18
    div ecx                     ; EAX = track, EDX = sector - 1
    mov cl, dl
    inc cl
    mov dh, al
    and dh, 1                   ; head
    shr eax, 1
    mov ch, al                  ; cylinder
    mov dl, [drive]
    mov ah, [op]
    mov al, 1
    int 0x13
    ret
.ext:
    mov word [dap_count], 1     ; a failed call leaves the count of sectors it moved here
    mov [dap_buf], bx
    mov [dap_seg], es
    mov [dap_lba], eax
    mov ah, [op]
    add ah, 0x40                ; 42h read, 43h write
    xor al, al
    mov dl, [drive]
    mov si, dap
    int 0x13
    ret

dap:     db 0x10, 0
dap_count: dw 1
dap_buf: dw 0
dap_seg: dw 0
dap_lba: dd 0, 0
drive:   db 0
op:      db 0

    times 510 - ($ - $$) db 0
    dw 0xaa55

; ---- stage 2 ----
stage2:
    mov si, s_hello
    call puts
    mov al, [drive]
    call hex8
    call newline

    ; 1. a read
    mov si, s_read
    call puts
    mov bx, BUF
    mov eax, 20
    call read_lba
    call status
    call newline

    ; 2. corruption: every byte that is not its offset
    mov si, s_corrupt
    call puts
    mov bx, BUF
    mov eax, 21
    call read_lba
    jnc .c_ok
    call status
    jmp .c_end
.c_ok:
    xor di, di
    xor bp, bp
.c_loop:
    mov ax, di
    cmp [BUF + di], al
    je .c_next
    mov al, ' '
    out 0xe9, al
    mov ax, di
    call hex16
    mov al, '='
    out 0xe9, al
    mov al, [BUF + di]
    call hex8
    inc bp
.c_next:
    inc di
    cmp di, 512
    jb .c_loop
    test bp, bp
    jnz .c_end
    mov si, s_none
    call puts
.c_end:
    call newline

    ; 3. a write of A5h bytes, read back
    mov di, BUF
    mov cx, 512
    mov al, 0xa5
    rep stosb
    mov si, s_write
    call puts
    mov bx, BUF
    mov eax, 22
    call write_lba
    call status
    call newline
    mov di, BUF
    mov cx, 512
    xor al, al
    rep stosb
    mov si, s_torn
    call puts
    mov bx, BUF
    mov eax, 22
    call read_lba
    xor di, di
    xor dx, dx
.t_loop:
    cmp byte [BUF + di], 0xa5
    jne .t_next
    inc dx
.t_next:
    inc di
    cmp di, 512
    jb .t_loop
    mov ax, dx
    call hex16
    call newline

    ; 4. a bad block that a rewrite remaps
    mov si, s_latent
    call puts
    mov si, s_r
    call puts
    mov bx, BUF
    mov eax, 23
    call read_lba
    call status_short
    mov si, s_w
    call puts
    mov bx, BUF
    mov eax, 23
    call write_lba
    call status_short
    mov si, s_r
    call puts
    mov bx, BUF
    mov eax, 23
    call read_lba
    call status_short
    call newline

    ; 5. a register
    mov si, s_reg
    call puts
    mov eax, 0x1234
    call reg_point
    call hex32
    call newline

    ; 6. IRQ7
    cli
    mov eax, [0x0f * 4]
    mov [old_irq7], eax
    mov word [0x0f * 4], irq7
    mov word [0x0f * 4 + 2], 0
    sti
    call spurious_point
    hlt
    hlt
    hlt
    cli
    mov eax, [old_irq7]
    mov [0x0f * 4], eax
    sti
    mov si, s_irq7
    call puts
    mov al, [irq7_count]
    call hex8
    mov si, s_isr
    call puts
    mov al, [irq7_isr]
    call hex8
    call newline

    ; 7. BIOS ticks over a fixed span of instructions
    mov si, s_ticks
    call puts
    xor ah, ah
    int 0x1a
    mov [tick0], dx
    mov [tick0 + 2], cx
    rdtsc
    mov [tsc0], eax
.wait:
    hlt
    rdtsc
    sub eax, [tsc0]
    cmp eax, SPAN
    jb .wait
    xor ah, ah
    int 0x1a
    mov ax, cx
    shl eax, 16
    mov ax, dx
    sub eax, [tick0]
    call hex32
    call newline

    xor al, al
    out 0xf4, al
    cli
    hlt

; IRQ7: count it and keep the ISR as it stood; a real (in-service) IRQ7 gets its EOI.
irq7:
    push ax
    inc byte [irq7_count]
    mov al, 0x0b                ; OCW3: read ISR
    out 0x20, al
    in al, 0x20
    mov [irq7_isr], al
    test al, 0x80
    jz .spurious
    mov al, 0x20
    out 0x20, al
.spurious:
    mov al, 0x0a                ; OCW3: back to reading IRR
    out 0x20, al
    pop ax
    iret

; "CF=c AH=ss" from the flags and AH of an INT 13h call
status:
    push ax
    mov al, '0'
    adc al, 0
    push ax
    mov si, s_cf
    call puts
    pop ax
    out 0xe9, al
    mov si, s_ah
    call puts
    pop ax
    mov al, ah
    jmp hex8

; "c/ss "
status_short:
    push ax
    mov al, '0'
    adc al, 0
    out 0xe9, al
    mov al, '/'
    out 0xe9, al
    pop ax
    mov al, ah
    call hex8
    mov al, ' '
    out 0xe9, al
    ret

puts:
    lodsb
    test al, al
    jz .done
    out 0xe9, al
    jmp puts
.done:
    ret

newline:
    mov al, 10
    out 0xe9, al
    ret

hex32:
    push eax
    shr eax, 16
    call hex16
    pop eax
hex16:
    push ax
    mov al, ah
    call hex8
    pop ax
hex8:
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
    add al, 7
.out:
    out 0xe9, al
    ret

s_hello:   db 'faults probe: drive ', 0
s_read:    db 'read 20: ', 0
s_corrupt: db 'corrupt 21:', 0
s_none:    db ' none', 0
s_write:   db 'write 22: ', 0
s_torn:    db 'torn 22: ', 0
s_latent:  db 'latent 23: ', 0
s_r:       db 'r=', 0
s_w:       db 'w=', 0
s_reg:     db 'reg: ', 0
s_irq7:    db 'irq7: count ', 0
s_isr:     db ' isr ', 0
s_ticks:   db 'ticks: ', 0
s_cf:      db 'CF=', 0
s_ah:      db ' AH=', 0

old_irq7:   dd 0
irq7_count: db 0
irq7_isr:   db 0
tick0:      dd 0
tsc0:       dd 0

; ---- fault targets at fixed addresses ----
    times 0x8a00 - 0x7c00 - ($ - $$) db 0
reg_point:                      ; 0000:8A00
    inc eax
    ret
    times 0x8a10 - 0x7c00 - ($ - $$) db 0
spurious_point:                 ; 0000:8A10
    nop
    ret

    times (1 + SECTORS) * 512 - ($ - $$) db 0

; ---- data sectors ----
    times 20 * 512 - ($ - $$) db 0
lba20:                          ; something to read
    times 512 db 0x20
lba21:                          ; byte i is i & FFh
%assign i 0
%rep 512
    db i & 0xff
%assign i i + 1
%endrep
lba22:                          ; zeros, to be overwritten with A5h
    times 512 db 0
lba23:                          ; a bad block until rewritten
    times 512 db 0x23
