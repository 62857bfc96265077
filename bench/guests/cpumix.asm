; cpumix.asm: a CPU-bound benchmark guest. After booting into flat 32-bit protected mode
; (boot.inc) it runs ROUNDS rounds of a fixed mix of integer kernels, folds every kernel's
; result into one accumulator, prints "cpumix checksum=XXXXXXXX" on port E9h and COM1 and
; leaves through isa-debug-exit (status 0).
;
; The kernels: a xorshift32 fill of a 64 KiB buffer; CRC-32 computed bitwise (branchy and
; branchless) and table-driven; memcpy/memset with REP MOVSD/STOSD/MOVSB/MOVSW (backwards
; too), REPE CMPSD and plain loops; a sieve of Eratosthenes; a bubble sort; 16-bit
; arithmetic through operand-size prefixes, and 16-bit addressing through address-size
; prefixes; bit operations (BSF, BSR, BSWAP, SHLD, SHRD, SETcc, CMOVcc, BT, MOVSX); DIV/MUL
; (a Euclid GCD); a recursive Fibonacci for calls and stack frames.
;
; Every value that reaches the checksum is architecturally defined (no undefined flags or
; BSF/BSR of zero), so the checksum is the same on every correct IA-32 (P6) CPU. One round
; runs about 10 million instructions, each REP iteration counting as one.
;
; Build: nasm -f bin -I bench/guests/ bench/guests/cpumix.asm (bench/guests/build.sh).
; -DROUNDS=n changes the round count; -DVERBOSE prints every kernel's result, which is the
; quickest way to see which kernel two emulators disagree on.

%ifndef ROUNDS
%define ROUNDS 40
%endif

%include "boot.inc"

; ---- memory map (all above the image and the stack, and away from its code pages) -----
VARS        equ 0x80000                 ; the accumulator and round counter
ACC         equ VARS
ROUND       equ VARS + 4
BUF_A       equ 0x100000                ; 64 KiB
BUF_B       equ 0x110000                ; 64 KiB
CRC_TAB     equ 0x120000                ; 256 dwords
SORT_ARR    equ 0x121000                ; SORT_N dwords
SIEVE       equ 0x130000                ; SIEVE_N bytes
LOW16       equ 0x2000                  ; 16 KiB below 64 KiB, for 16-bit addressing

BUF_SIZE    equ 65536
SORT_N      equ 384
SIEVE_N     equ 262144
CRC_POLY    equ 0xEDB88320
FIB_N       equ 22

        bits 32
pm_main:
        mov dword [ACC], 0x2545F491
        mov dword [ROUND], ROUNDS
.round:
        mov eax, [ACC]
        or eax, 1                       ; xorshift state must not be zero
        mov edi, BUF_A
        mov ecx, BUF_SIZE / 4
        call fill_xorshift
        call mix

        mov esi, BUF_A
        mov ecx, BUF_SIZE
        call crc32_bitwise
        call mix

        mov esi, BUF_A
        mov ecx, BUF_SIZE / 4
        call crc32_branchless
        call mix

        call crc_table_build
        mov esi, BUF_A
        mov ecx, BUF_SIZE
        call crc32_table
        call mix

        call copies
        call mix

        call sieve
        call mix

        call bubble_sort
        call mix

        call sixteen
        call mix

        call address16
        call mix

        call bitops
        call mix

        call muldiv
        call mix

        push dword FIB_N
        call fib
        add esp, 4
        call mix

%ifdef VERBOSE
        mov al, 10
        call put_char
%endif
        dec dword [ROUND]
        jnz .round

        mov esi, result_text
        call put_string
        mov eax, [ACC]
        call put_hex32
        mov al, 10
        call put_char
        xor eax, eax
        jmp exit

result_text: db "cpumix checksum=", 0

; mix: fold EAX into the accumulator. Preserves every register.
mix:
        pushad
%ifdef VERBOSE
        call put_hex32
        push eax
        mov al, ' '
        call put_char
        pop eax
%endif
        mov edx, [ACC]
        rol edx, 5
        xor edx, eax
        imul edx, edx, 0x01000193
        add edx, 0x9E3779B9
        mov [ACC], edx
        popad
        ret

; fill_xorshift: ECX dwords of xorshift32 (13, 17, 5) from state EAX to EDI.
; Returns the final state in EAX.
fill_xorshift:
.next:
        mov edx, eax
        shl edx, 13
        xor eax, edx
        mov edx, eax
        shr edx, 17
        xor eax, edx
        mov edx, eax
        shl edx, 5
        xor eax, edx
        stosd
        dec ecx
        jnz .next
        ret

; crc32_bitwise: CRC-32 (IEEE, reflected) of ECX bytes at ESI, one bit at a time with a
; branch per bit. Returns EAX.
crc32_bitwise:
        push ebx
        mov eax, -1
        mov ebx, CRC_POLY
.byte:
        xor al, [esi]
        inc esi
        mov edx, 8
.bit:
        shr eax, 1
        jnc .no_xor
        xor eax, ebx
.no_xor:
        dec edx
        jnz .bit
        dec ecx
        jnz .byte
        not eax
        pop ebx
        ret

; crc32_branchless: the same CRC with SBB/AND masks and LOOP. Returns EAX.
crc32_branchless:
        mov eax, -1
.byte:
        movzx edx, byte [esi]
        xor eax, edx
        inc esi
        push ecx
        mov ecx, 8
.bit:
        shr eax, 1
        sbb edx, edx
        and edx, CRC_POLY
        xor eax, edx
        loop .bit
        pop ecx
        dec ecx
        jnz .byte
        not eax
        ret

; crc_table_build: the 256-entry CRC-32 table at CRC_TAB.
crc_table_build:
        xor ecx, ecx
.entry:
        mov eax, ecx
        mov edx, 8
.bit:
        shr eax, 1
        jnc .no_xor
        xor eax, CRC_POLY
.no_xor:
        dec edx
        jnz .bit
        mov [CRC_TAB + ecx * 4], eax
        inc ecx
        cmp ecx, 256
        jb .entry
        ret

; crc32_table: CRC-32 of ECX bytes at ESI with the table. Returns EAX.
crc32_table:
        mov eax, -1
.byte:
        movzx edx, byte [esi]
        inc esi
        xor dl, al
        shr eax, 8
        xor eax, [CRC_TAB + edx * 4]
        dec ecx
        jnz .byte
        not eax
        ret

; copies: memcpy and memset, with string instructions and with plain loops.
; Returns a CRC of the resulting BUF_B plus a few counts in EAX.
copies:
        mov esi, BUF_A                  ; REP MOVSD: A -> B
        mov edi, BUF_B
        mov ecx, BUF_SIZE / 4
        rep movsd

        mov esi, BUF_B                  ; dword loop: B -> A
        mov edi, BUF_A
        mov ecx, BUF_SIZE / 4
.dword_copy:
        mov eax, [esi]
        mov [edi], eax
        add esi, 4
        add edi, 4
        dec ecx
        jnz .dword_copy
        inc dword [BUF_A + BUF_SIZE - 4]

        mov esi, BUF_A                  ; REPE CMPSD: where do A and B first differ?
        mov edi, BUF_B
        mov ecx, BUF_SIZE / 4
        repe cmpsd
        lea ebx, [esi + ecx]            ; at the last dword: ECX = 0, ESI = BUF_A + BUF_SIZE

        mov edi, BUF_B                  ; REP STOSD
        mov eax, 0xA5C3A5C3
        mov ecx, BUF_SIZE / 4
        rep stosd

        mov edi, BUF_B + BUF_SIZE / 2   ; byte loop memset of the upper half
        mov ecx, BUF_SIZE / 2
        mov al, 0x3C
.byte_set:
        mov [edi], al
        inc edi
        dec ecx
        jnz .byte_set

        mov esi, BUF_A                  ; REP MOVSB to an odd address
        mov edi, BUF_B + 1
        mov ecx, BUF_SIZE / 4
        rep movsb

        std                             ; REP MOVSW backwards
        mov esi, BUF_A + BUF_SIZE - 2
        mov edi, BUF_B + BUF_SIZE - 2
        mov ecx, BUF_SIZE / 8
        rep movsw
        cld

        mov edi, BUF_B                  ; REPNE SCASB: the first 0x3C
        mov ecx, BUF_SIZE
        mov al, 0x3C
        repne scasb
        add ebx, ecx
        shl ebx, 8

        mov esi, BUF_A                  ; LODSD sum with LOOP
        mov ecx, BUF_SIZE / 16
        xor edx, edx
.sum:
        lodsd
        add edx, eax
        loop .sum
        xor ebx, edx

        mov esi, BUF_B
        mov ecx, BUF_SIZE
        call crc32_table
        add eax, ebx
        ret

; sieve: primes below SIEVE_N. Returns (count of primes) xor (sum of the primes).
sieve:
        mov edi, SIEVE
        mov eax, 0x01010101
        mov ecx, SIEVE_N / 4
        rep stosd
        mov byte [SIEVE], 0
        mov byte [SIEVE + 1], 0
        mov ebx, 2
.outer:
        mov eax, ebx
        imul eax, eax
        cmp eax, SIEVE_N
        jae .count
        cmp byte [SIEVE + ebx], 0
        je .next
.mark:
        mov byte [SIEVE + eax], 0
        add eax, ebx
        cmp eax, SIEVE_N
        jb .mark
.next:
        inc ebx
        jmp .outer
.count:
        xor eax, eax
        xor ecx, ecx
        xor edx, edx
.scan:
        cmp byte [SIEVE + ecx], 0
        je .composite
        inc eax
        add edx, ecx
.composite:
        inc ecx
        cmp ecx, SIEVE_N
        jb .scan
        xor eax, edx
        ret

; bubble_sort: sort SORT_N dwords taken from BUF_A (unsigned), then hash the result.
bubble_sort:
        mov esi, BUF_A
        mov edi, SORT_ARR
        mov ecx, SORT_N
        rep movsd
        mov ecx, SORT_N - 1
.pass:
        mov esi, SORT_ARR
        mov edx, ecx
.compare:
        mov eax, [esi]
        mov ebx, [esi + 4]
        cmp eax, ebx
        jbe .in_order
        mov [esi], ebx
        mov [esi + 4], eax
.in_order:
        add esi, 4
        dec edx
        jnz .compare
        dec ecx
        jnz .pass
        xor eax, eax                    ; sum of element * (index + 1), plus out-of-order count
        xor ecx, ecx
.hash:
        mov edx, [SORT_ARR + ecx * 4]
        lea ebx, [ecx + 1]
        imul edx, ebx
        add eax, edx
        inc ecx
        cmp ecx, SORT_N
        jb .hash
        mov ecx, SORT_N - 1
        mov esi, SORT_ARR
.check:
        mov edx, [esi]
        cmp edx, [esi + 4]
        jbe .sorted
        add eax, 0x10000
.sorted:
        add esi, 4
        loop .check
        ret

; sixteen: 16-bit arithmetic in 32-bit code (operand-size prefix 66h): a Fletcher-like
; sum over BUF_A as words, then 16-bit MUL, DIV, shifts and 16-bit pushes and pops.
sixteen:
        push ebx
        mov esi, BUF_A
        mov ecx, BUF_SIZE / 4
        xor eax, eax
        xor ebx, ebx
        xor edx, edx
.word:
        mov dx, [esi]
        add ax, dx
        adc ax, 0
        add bx, ax
        rol dx, 3
        xor bx, dx
        sub ax, 0x1234
        add esi, 2
        dec cx
        jnz .word
        mov cx, ax                      ; DX:AX / CX, 16 bits (CX odd, so never zero)
        or cx, 1
        mov ax, bx
        xor dx, dx
        div cx
        push ax                         ; 16-bit push and pop
        push dx
        pop cx
        pop dx
        mul bx                          ; DX:AX = AX * BX
        shl eax, 16
        mov ax, dx
        xor ax, cx
        movzx edx, bx
        sar dx, 2
        xchg dl, dh
        add eax, edx
        pop ebx
        ret

; address16: 16-bit addressing (address-size prefix 67h) over 16 KiB below 64 KiB.
address16:
        mov esi, BUF_A
        mov edi, LOW16
        mov ecx, 16384 / 4
        rep movsd
        xor eax, eax
        xor edx, edx
        xor ebx, ebx
        xor esi, esi
        mov bx, LOW16
        mov ecx, 16384 / 2
.word:
        mov dx, [bx + si]
        add ax, dx
        xor ax, si
        add [bx + si], ax
        add si, 2
        dec ecx
        jnz .word
        mov esi, LOW16
        mov ecx, 16384
        call crc32_table
        ret

; bitops: BSF, BSR, BSWAP, SHLD, SHRD, SETcc, CMOVcc, BT, MOVSX, NEG/SBB and IMUL.
bitops:
        mov esi, BUF_A
        mov ecx, BUF_SIZE / 8
        xor edi, edi
.pair:
        mov eax, [esi]
        mov ebx, [esi + 4]
        mov edx, eax
        or edx, 0x80000000
        bsf edx, edx
        add edi, edx
        mov edx, ebx
        or edx, 1
        bsr edx, edx
        add edi, edx
        bswap eax
        xor edi, eax
        mov edx, eax
        shld edx, ebx, 7
        xor edi, edx
        shrd eax, ebx, 13
        add edi, eax
        cmp eax, ebx
        setl dl
        movzx edx, dl
        add edi, edx
        cmp eax, ebx
        cmova eax, ebx
        add edi, eax
        bt ebx, 5
        adc edi, 0
        movsx edx, byte [esi + 1]
        add edi, edx
        movsx edx, word [esi + 2]
        add edi, edx
        imul edx, ebx, 37
        add edi, edx
        neg eax
        sbb edx, edx
        add edi, edx
        add esi, 8
        dec ecx
        jnz .pair
        mov eax, edi
        ret

; muldiv: Euclid's GCD with DIV over pairs from BUF_A, plus 64-bit MUL products.
muldiv:
        mov esi, BUF_A
        mov ecx, 2048
        xor edi, edi
.pair:
        mov eax, [esi]
        mov ebx, [esi + 4]
        or eax, 1
        or ebx, 1
.gcd:
        xor edx, edx
        div ebx
        mov eax, ebx
        mov ebx, edx
        test ebx, ebx
        jnz .gcd
        add edi, eax
        mov eax, [esi]
        mul dword [esi + 4]
        xor edi, edx
        add edi, eax
        mov eax, [esi]
        cdq
        mov ebx, [esi + 4]
        or ebx, 0x10001
        idiv ebx
        add edi, edx
        add esi, 8
        dec ecx
        jnz .pair
        mov eax, edi
        ret

; fib: the Fibonacci number F(n) for n at [esp + 4], recursively, with frames.
fib:
        push ebp
        mov ebp, esp
        mov eax, [ebp + 8]
        cmp eax, 2
        jb .done
        dec eax
        push eax
        call fib
        mov [esp], eax                  ; reuse the argument slot to keep F(n - 1)
        mov eax, [ebp + 8]
        sub eax, 2
        push eax
        call fib
        add esp, 4
        pop edx
        add eax, edx
.done:
        leave
        ret

%include "end.inc"
