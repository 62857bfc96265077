; hello: boot code that does what boot code does first, through the BIOS and COM1.
;
; Sector 1 is an MBR: the BIOS loads it at 0000:7C00 from a floppy, a hard disk or an El
; Torito CD (no emulation). It loads stage 2 (sectors 2-3, in the gap before the first
; partition, where bootloaders keep their second stage) with INT 13h: AH=02h CHS 0/0/2 from a
; floppy, AH=42h LBA 1 from a disk; from a CD the BIOS has already loaded the whole image.
; Stage 2 prints every line both through INT 10h (teletype, AH=0Eh) and directly to COM1
; (16550 at 3F8h, 115200 8N1, polling the line status register), so a test can read the
; same text back from VGA memory and from the serial port:
;
;   bitrot hello: INT 10h and COM1
;   boot drive NN
;   base memory NNNK                                    (INT 12h)
;   then, by the boot drive in DL:
;     floppy  C cylinders, H heads, S sectors          (INT 13h AH=08h)
;     disk    N sectors, EDD                            (AH=48h, AH=41h)
;     CD      2048-byte sectors, volume CD001           (AH=48h, AH=42h LBA 16)
;   status: ok                                          (INT 10h AH=13h, attribute 2Fh)
;
; It ends through isa-debug-exit (port F4h) with status 0, or 1 after printing "FAIL" when
; a BIOS call failed; on a machine without that port it halts.
; The partition table has one active partition from LBA 63 (the usual DOS-era layout), so
; the image padded to 2 MiB is a partitioned disk.

cpu 386
bits 16
org 0x7c00

STAGE2 equ 0x7e00
BUF    equ 0x9000

; ---- sector 1: the MBR ----
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
    cmp dl, 0xe0                ; a CD: the BIOS loaded every sector of the boot image
    jae stage2
    mov bx, STAGE2
    test dl, 0x80
    jnz .disk
    mov ax, 0x0202              ; floppy: 2 sectors from CHS 0/0/2
    mov cx, 0x0002
    xor dh, dh
    int 0x13
    jnc stage2
    jmp .fail
.disk:
    mov word [dap_buf], bx      ; disk: 2 sectors from LBA 1
    mov dword [dap_lba], 1
    mov byte [dap_count], 2
    mov ah, 0x42
    mov si, dap
    int 0x13
    jnc stage2
.fail:
    mov ax, 0x0e21              ; '!' and stop
    int 0x10
    hlt
    jmp .fail

dap:       db 0x10, 0           ; INT 13h extensions disk address packet
dap_count: dw 1
dap_buf:   dw BUF, 0
dap_lba:   dd 0, 0
drive:     db 0

    times 0x1be - ($ - $$) db 0
    ; partition 1: active, type 83h, LBA 63 + 4033 sectors (CHS 0/1/1 to 3/254/63)
    db 0x80, 1, 1, 0, 0x83, 0xfe, 0x3f, 0x03
    dd 63, 4033
    times 0x1fe - ($ - $$) db 0
    dw 0xaa55

; ---- sectors 2-3: stage 2 ----
stage2:
    mov ax, 0x0003              ; 80x25 colour text; clears the screen
    int 0x10

    mov dx, 0x3fb               ; COM1: DLAB, divisor 1 (115200), 8N1, FIFOs on
    mov al, 0x80
    out dx, al
    mov dl, 0xf8
    mov al, 1
    out dx, al
    inc dx
    dec ax
    out dx, al
    mov dl, 0xfb
    mov al, 0x03
    out dx, al
    dec dx
    mov al, 0x07
    out dx, al

    mov si, s_hello
    call puts
    mov si, s_drive
    call puts
    mov al, [drive]
    call puthex8
    call crlf
    mov si, s_mem
    call puts
    int 0x12
    movzx eax, ax
    call putdec
    mov si, s_kb
    call puts

    mov dl, [drive]
    test dl, 0x80
    jnz .not_floppy
    mov ah, 0x08                ; floppy geometry
    int 0x13
    jc fail
    push cx
    push dx
    movzx eax, cl
    shr al, 6
    mov ah, al
    mov al, ch
    inc ax
    call putdec
    mov si, s_cyl
    call puts
    pop dx
    movzx eax, dh
    inc ax
    call putdec
    mov si, s_heads
    call puts
    pop ax
    and eax, 0x3f
    call putdec
    mov si, s_sect
    call puts
    jmp .status

.not_floppy:
    mov ah, 0x48                ; EDD drive parameters
    mov si, BUF
    mov word [si], 0x1a
    int 0x13
    jc fail
    cmp byte [drive], 0xe0
    jae .cd
    mov ah, 0x41                ; EDD present?
    mov bx, 0x55aa
    mov dl, [drive]
    int 0x13
    jc fail
    cmp bx, 0xaa55
    jne fail
    mov eax, [BUF + 0x10]
    call putdec
    mov si, s_edd
    call puts
    jmp .status

.cd:
    movzx eax, word [BUF + 0x18]
    call putdec
    mov si, s_cd
    call puts
    mov word [dap_buf], BUF
    mov dword [dap_lba], 16     ; the primary volume descriptor
    mov byte [dap_count], 1
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    jc fail
    mov si, BUF + 1
    mov byte [si + 5], 0
    call puts
    call crlf

.status:
    push ds                     ; ES:BP is the string (AH=08h left ES:DI at the floppy table)
    pop es
    mov ax, 0x1301              ; write string, attribute in BL, move the cursor
    mov bx, 0x002f
    mov cx, s_ok_len
    mov dx, 0x0a1e              ; row 10, column 30
    mov bp, s_ok
    int 0x10
    mov si, s_ok
    call serial_puts
    xor al, al
exit:
    out 0xf4, al
.halt:
    hlt
    jmp .halt

fail:
    mov si, s_fail
    call puts
    mov al, 1
    jmp exit

puts:                           ; DS:SI zero-terminated, to the screen and COM1
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret

crlf:
    mov al, 13
    call putc
    mov al, 10
putc:
    pusha
    mov ah, 0x0e
    mov bx, 0x0007
    int 0x10
    popa
serial_putc:
    push dx
    push ax
    mov dx, 0x3fd
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dl, 0xf8
    out dx, al
    pop dx
    ret

serial_puts:
    lodsb
    test al, al
    jz puts.done
    call serial_putc
    jmp serial_puts

puthex8:                        ; AL as two hex digits
    push ax
    shr al, 4
    call .digit
    pop ax
    and al, 0x0f
.digit:
    add al, '0'
    cmp al, '9'
    jbe putc
    add al, 'a' - '9' - 1
    jmp putc

putdec:                         ; EAX unsigned, in decimal
    mov ecx, 10
    xor bx, bx
.div:
    xor edx, edx
    div ecx
    push dx
    inc bx
    test eax, eax
    jnz .div
.out:
    pop ax
    add al, '0'
    call putc
    dec bx
    jnz .out
    ret

s_hello db 'bitrot hello: INT 10h and COM1', 13, 10, 0
s_drive db 'boot drive ', 0
s_mem   db 'base memory ', 0
s_kb    db 'K', 13, 10, 0
s_cyl   db ' cylinders, ', 0
s_heads db ' heads, ', 0
s_sect  db ' sectors', 13, 10, 0
s_edd   db ' sectors, EDD', 13, 10, 0
s_cd    db '-byte sectors, volume ', 0
s_fail  db 'FAIL', 13, 10, 0
s_ok    db 'status: ok'
s_ok_len equ $ - s_ok
        db 13, 10, 0

    times 1536 - ($ - $$) db 0
