; x87.asm: the x87 FPU. A real-mode probe and environment image, then 32-bit protected
; mode: loads and stores of every format, rounding control on stores and integer
; conversions, exact arithmetic in every operand form, compares, FCOMI/FCMOV, stack faults,
; invalid operations, FSAVE/FRSTOR and FSTENV/FLDENV images, FPREM/FPREM1, FXTRACT,
; FSCALE, FRNDINT, transcendentals, and the exceptions #NM, #UD and #MF.
;
; Every operand is chosen so the result does not depend on whether the FPU computes with a
; 64-bit significand or a 53-bit one (results are exact, or are compared after rounding to
; single precision, where the margin to a rounding boundary is far larger than either error).
;
; References: Intel SDM vol. 1, chapter 8 (8.1 registers, 8.1.3 status word, 8.1.5 control
; word, 8.1.7 tag word, 8.1.10 environment images, 8.5 stack faults, 8.7 exception handling),
; chapter 4.8.3.7 (indefinite) and 4.9 (exceptions); vol. 2 instruction pages; vol. 3,
; 2.5 (CR0.EM, MP, TS, NE) and 6.15 ("Interrupt 16").

%define PROGRAM_NAME "x87"
%include "boot.inc"
%include "report.inc"
%include "pm32.inc"

CR0_NE equ 1 << 5

SW_IE equ 0x0001
SW_ZE equ 0x0004
SW_SF equ 0x0040
SW_ES equ 0x0080
SW_C0 equ 0x0100
SW_C1 equ 0x0200
SW_C2 equ 0x0400
SW_C3 equ 0x4000
CODES equ SW_C3 | SW_C2 | SW_C0
CLASS equ SW_C3 | SW_C2 | SW_C1 | SW_C0

; The status word into EAX (zero-extended) masked with %1.
%macro SW_AND 1
        fnstsw ax
        movzx eax, ax
        and eax, %1
%endmacro

; Pop ST(0) to single precision and compare its bits.
%macro EXPECT_F32 2
        fstp dword [scratch]
        EXPECT [scratch], %1, %2
%endmacro

; Pop ST(0) to double precision and compare its bits: high dword, low dword.
%macro EXPECT_F64 3
        fstp qword [scratch]
        EXPECT [scratch + 4], %1, %3
        EXPECT [scratch], %2, %3
%endmacro

; Load the control word %1.
%macro SET_CW 1
        mov word [cw_tmp], %1
        fldcw [cw_tmp]
%endmacro

        bits 16
main:
; ---- real mode ---------------------------------------------------------------------------

; The probe BIOSes and boot loaders use: FNINIT, then FNSTSW gives 0 and FNSTCW 037Fh
; (vol. 3 9.2, vol. 2 FINIT); CPUID.1:EDX.FPU (and CMOV, hence FCMOV); CR0.ET = 1.
test_probe:
        BEGIN 'fpu-probe'
        mov word [scratch], 0x5A5A
        fninit
        fnstsw [scratch]
        movzx eax, word [scratch]
        EXPECT eax, 0, 'FNSTSW after FNINIT'
        fnstcw [scratch]
        movzx eax, word [scratch]
        EXPECT eax, 0x037F, 'FNSTCW after FNINIT'
        mov eax, 1
        cpuid
        and edx, (1 << 15) | 1
        EXPECT edx, (1 << 15) | 1, 'CPUID.1:EDX FPU and CMOV'
        mov eax, cr0
        and eax, 0x10
        EXPECT eax, 0x10, 'CR0.ET'
        END

; The 14-byte real-mode environment (vol. 1 figure 8-11): the instruction and operand
; pointers are 20-bit linear addresses, bits 19-16 sharing a word with the opcode.
test_real_env:
        BEGIN 'real-fnstenv'
        fninit
        fld1
.insn:  fadd dword [real_two]
        fnstenv [env_area]
        movzx eax, word [env_area + 6]
        EXPECT eax, ABS(.insn) & 0xFFFF, 'FIP 15-0'
        movzx eax, word [env_area + 8]
        EXPECT eax, 0x0006, 'FIP 19-16 and opcode (D8 06)'
        movzx eax, word [env_area + 10]
        EXPECT eax, ABS(real_two) & 0xFFFF, 'FDP 15-0'
        fstp dword [scratch]
        EXPECT [scratch], 0x40400000, '1 + 2'
        END

        ENTER_PM32
        call idt_setup
        mov ax, TSS_SEL
        ltr ax
        mov eax, cr0
        or eax, CR0_NE | CR0_MP         ; native #MF; WAIT honours TS
        and eax, ~(CR0_EM | CR0_TS)
        mov cr0, eax

; ---- loads and stores --------------------------------------------------------------------

; Every memory format converts exactly where the value fits (vol. 1 4.2, 4.8; vol. 2 FLD,
; FILD, FST, FIST).
test_formats:
        BEGIN 'load-store-formats'
        fninit
        fld dword [f32_1_5]
        EXPECT_F64 0x3FF80000, 0, 'FLD m32 1.5 -> m64'
        fld qword [f64_m0_375]
        EXPECT_F32 0xBEC00000, 'FLD m64 -0.375 -> m32'
        fld tword [t80_3]
        EXPECT_F32 0x40400000, 'FLD m80 3.0 -> m32'
        fild word [i16_m7]
        fstp tword [t80_out]
        EXPECT [t80_out + 4], 0xE0000000, 'FILD m16 -7 -> m80 significand high'
        movzx eax, word [t80_out + 8]
        EXPECT eax, 0xC001, 'FILD m16 -7 -> m80 sign and exponent'
        fild dword [i32_val]
        fistp dword [scratch]
        EXPECT [scratch], 0x12345678, 'FILD/FISTP m32'
        fild qword [i64_max]
        fistp qword [scratch]
        EXPECT [scratch + 4], 0x7FFFFFFF, 'FILD/FISTP m64 2^63-1, high'
        EXPECT [scratch], 0xFFFFFFFF, 'FILD/FISTP m64 2^63-1, low'
        fld tword [t80_long]
        fstp tword [t80_out]
        EXPECT [t80_out], 0x89ABCDEF, 'FLD/FSTP m80 64-bit significand, low'
        EXPECT [t80_out + 4], 0xC1234567, 'FLD/FSTP m80 64-bit significand, high'
        SW_AND 0x3F
        EXPECT eax, 0, 'no exception flags'
        END

; A conversion to a narrower format rounds by RC (vol. 1 4.8.4): 1/3 and -1/3 to single.
test_store_rc:
        BEGIN 'fst-rounding-control'
        fninit
        fld qword [f64_third]
        fld qword [f64_third]
        fchs
        SET_CW 0x037F                   ; nearest
        fst dword [scratch]
        EXPECT [scratch], 0xBEAAAAAB, 'nearest -1/3'
        fxch
        fst dword [scratch]
        EXPECT [scratch], 0x3EAAAAAB, 'nearest 1/3'
        SET_CW 0x077F                   ; down
        fst dword [scratch]
        EXPECT [scratch], 0x3EAAAAAA, 'down 1/3'
        fxch
        fst dword [scratch]
        EXPECT [scratch], 0xBEAAAAAB, 'down -1/3'
        SET_CW 0x0B7F                   ; up
        fst dword [scratch]
        EXPECT [scratch], 0xBEAAAAAA, 'up -1/3'
        fxch
        fst dword [scratch]
        EXPECT [scratch], 0x3EAAAAAB, 'up 1/3'
        SET_CW 0x0F7F                   ; toward zero
        fstp dword [scratch]
        EXPECT [scratch], 0x3EAAAAAA, 'chop 1/3'
        fstp dword [scratch]
        EXPECT [scratch], 0xBEAAAAAA, 'chop -1/3'
        END

; FIST rounds by RC (vol. 2 FIST): 2.5, -2.5, 3.5 in the four modes.
%macro FIST_CASE 3                      ; control word, value label, expected
        SET_CW %1
        fld qword [%2]
        fistp dword [scratch]
        EXPECT [scratch], %3, 'FISTP %2 with CW %1'
%endmacro
test_fist_rc:
        BEGIN 'fist-rounding-control'
        fninit
        FIST_CASE 0x037F, f64_2_5, 2
        FIST_CASE 0x037F, f64_m2_5, -2
        FIST_CASE 0x037F, f64_3_5, 4
        FIST_CASE 0x077F, f64_2_5, 2
        FIST_CASE 0x077F, f64_m2_5, -3
        FIST_CASE 0x077F, f64_3_5, 3
        FIST_CASE 0x0B7F, f64_2_5, 3
        FIST_CASE 0x0B7F, f64_m2_5, -2
        FIST_CASE 0x0B7F, f64_3_5, 4
        FIST_CASE 0x0F7F, f64_2_5, 2
        FIST_CASE 0x0F7F, f64_m2_5, -2
        FIST_CASE 0x0F7F, f64_3_5, 3
        END

; Out of range or NaN: IE and, masked, the integer indefinite (vol. 1 4.8.3.7, vol. 2 FIST).
test_fist_invalid:
        BEGIN 'fist-indefinite'
        fninit
        fld qword [f64_40000]
        fistp word [scratch]
        movzx eax, word [scratch]
        EXPECT eax, 0x8000, 'FISTP m16 40000'
        SW_AND SW_IE
        EXPECT eax, SW_IE, 'IE'
        fnclex
        fld qword [f64_qnan]
        fistp dword [scratch]
        EXPECT [scratch], 0x80000000, 'FISTP m32 NaN'
        fld qword [f64_1e19]
        fistp qword [scratch]
        EXPECT [scratch + 4], 0x80000000, 'FISTP m64 1e19, high'
        EXPECT [scratch], 0, 'FISTP m64 1e19, low'
        fnclex
        END

; FBLD/FBSTP: 18 packed BCD digits and a sign, exactly (vol. 2 FBLD, FBSTP).
test_bcd:
        BEGIN 'fbld-fbstp'
        fninit
        fbld [bcd_in]
        fld st0
        fbstp [bcd_out]
        EXPECT [bcd_out], 0x12345678, 'digits 7-0'
        EXPECT [bcd_out + 4], 0x34567890, 'digits 15-8'
        movzx eax, word [bcd_out + 8]
        EXPECT eax, 0x8012, 'sign, digits 17-16'
        fistp qword [scratch]
        EXPECT [scratch + 4], 0xFE4964B4, 'value as m64 (-123456789012345678), high'
        EXPECT [scratch], 0x59CF0CB2, 'value as m64, low'
        END

; ---- arithmetic --------------------------------------------------------------------------

; Every operand form with exact results (vol. 2 FADD ... FDIVR, FIADD ... FIDIVR).
test_arith:
        BEGIN 'arithmetic-forms'
        fninit
        fld qword [f64_1_5]
        fadd qword [f64_2_25]           ; 3.75
        fmul dword [f32_4]              ; 15
        fdiv qword [f64_0_5]            ; 30
        fisub word [i16_1]              ; 29
        fld1
        fsubr st0, st1                  ; 28
        fsubp st1, st0                  ; 29 - 28 = 1
        fild dword [i32_6]
        fdivrp st1, st0                 ; 6 / 1 = 6
        fimul dword [i32_7]             ; 42
        fidivr word [i16_84]            ; 84 / 42 = 2
        fisubr dword [i32_10]           ; 10 - 2 = 8
        fiadd word [i16_m3]             ; 5
        fld st0
        fmulp st1, st0                  ; 25
        fld qword [f64_0_5]
        fdivr st0, st1                  ; 25 / 0.5 = 50
        faddp st1, st0                  ; 75
        fidiv dword [i32_5]             ; 15
        fld qword [f64_2_25]
        fsub st0, st1                   ; 2.25 - 15 = -12.75
        fsub st1, st0                   ; ST1 = 15 - -12.75 = 27.75
        fstp st0
        fsubr qword [f64_0_5]           ; 0.5 - 27.75 = -27.25
        fsub dword [f32_4]              ; -31.25
        fdivr qword [f64_m62_5]         ; -62.5 / -31.25 = 2
        fld qword [f64_0_5]
        fdiv st1, st0                   ; ST1 = 2 / 0.5 = 4
        fsubrp st1, st0                 ; 0.5 - 4 = -3.5
        fld qword [f64_0_5]
        fdivp st1, st0                  ; -3.5 / 0.5 = -7
        fchs
        EXPECT_F64 0x401C0000, 0, 'result 7'
        SW_AND 0x0F
        EXPECT eax, 0, 'no IE, DE, ZE, OE'
        END

; RC applies to arithmetic results (vol. 1 4.8.4): 1/3 rounded up and down, stored as m64.
test_arith_rc:
        BEGIN 'arithmetic-rounding-control'
        fninit
        SET_CW 0x0B7F
        fld1
        fdiv qword [f64_3]
        EXPECT_F64 0x3FD55555, 0x55555556, 'up: 1/3'
        SET_CW 0x077F
        fld1
        fdiv qword [f64_3]
        EXPECT_F64 0x3FD55555, 0x55555555, 'down: 1/3'
        fld1
        fchs
        fdiv qword [f64_3]
        EXPECT_F64 0xBFD55555, 0x55555556, 'down: -1/3'
        END

; Invalid operations give the QNaN floating-point indefinite (vol. 1 4.8.3.7, 4.9.1.2);
; division by zero gives infinity and ZE (4.9.1.3).
test_invalid:
        BEGIN 'invalid-and-zero-divide'
        fninit
        fld qword [f64_inf]
        fsub st0, st0
        EXPECT_F64 0xFFF80000, 0, 'inf - inf'
        SW_AND SW_IE | SW_ZE
        EXPECT eax, SW_IE, 'IE for inf - inf'
        fnclex
        fld1
        fchs
        fsqrt
        EXPECT_F64 0xFFF80000, 0, 'sqrt(-1)'
        fnclex
        fld1
        fldz
        fdivp st1, st0
        EXPECT_F64 0x7FF00000, 0, '1 / 0'
        SW_AND SW_IE | SW_ZE
        EXPECT eax, SW_ZE, 'ZE for 1 / 0'
        fnclex
        fld qword [f64_qnan]
        fadd qword [f64_1_5]
        EXPECT_F64 0x7FF80000, 0x12345, 'a QNaN operand propagates'
        SW_AND SW_IE
        EXPECT eax, 0, 'no IE for a QNaN operand'
        END

; ---- compares ----------------------------------------------------------------------------

; FCOM/FUCOM set C3 C2 C0 (vol. 2 FCOM table); a QNaN is unordered, invalid for FCOM only.
test_compare:
        BEGIN 'fcom-fucom-ftst-ficom'
        fninit
        fld qword [f64_2_25]
        fld qword [f64_1_5]
        fcom st1
        SW_AND CODES
        EXPECT eax, SW_C0, '1.5 < 2.25'
        fxch
        fcom st1
        SW_AND CODES
        EXPECT eax, 0, '2.25 > 1.5'
        fcomp st0
        SW_AND CODES
        EXPECT eax, SW_C3, 'ST0 = ST0'
        ftst
        SW_AND CODES
        EXPECT eax, 0, 'FTST 1.5'
        ficom word [i16_1]
        SW_AND CODES
        EXPECT eax, 0, 'FICOM 1.5 > 1'
        fld qword [f64_qnan]
        fucom st1
        SW_AND CODES | SW_IE
        EXPECT eax, CODES, 'FUCOM QNaN: unordered, no IE'
        fcompp
        SW_AND CODES | SW_IE
        EXPECT eax, CODES | SW_IE, 'FCOMPP QNaN: unordered, IE'
        fnclex
        fnstsw ax
        and eax, 0x3800
        EXPECT eax, 0, 'FCOMPP popped twice'
        END

; FXAM classes in C3 C2 C0, the sign in C1 (vol. 2 FXAM).
%macro FXAM_CASE 3                      ; load instruction, expected class, what
        fninit
        %1
        fxam
        SW_AND CLASS
        EXPECT eax, %2, %3
%endmacro
test_fxam:
        BEGIN 'fxam-classes'
        FXAM_CASE {fld qword [f64_1_5]}, SW_C2, 'normal'
        FXAM_CASE {fld qword [f64_m0_375]}, SW_C2 | SW_C1, 'negative normal'
        FXAM_CASE {fldz}, SW_C3, 'zero'
        FXAM_CASE {fld qword [f64_inf]}, SW_C2 | SW_C0, 'infinity'
        FXAM_CASE {fld qword [f64_qnan]}, SW_C0, 'NaN'
        FXAM_CASE {fld tword [t80_denormal]}, SW_C3 | SW_C2, 'denormal'
        fninit
        fxam
        SW_AND SW_C3 | SW_C2 | SW_C0
        EXPECT eax, SW_C3 | SW_C0, 'empty'
        END

; FCOMI/FUCOMI set ZF PF CF (vol. 2 FCOMI); FCMOVcc tests them (vol. 2 FCMOVcc).
%macro FCOMI_CASE 3                     ; instruction, expected ZF|PF|CF, what
        %1
        pushfd
        pop eax
        and eax, 0x45
        EXPECT eax, %2, %3
%endmacro
test_fcomi:
        BEGIN 'fcomi-fcmov'
        fninit
        fld qword [f64_qnan]
        fld qword [f64_2_25]
        fld qword [f64_1_5]
        FCOMI_CASE {fcomi st0, st1}, 0x01, 'FCOMI less: CF'
        FCOMI_CASE {fucomi st0, st0}, 0x40, 'FUCOMI equal: ZF'
        fxch
        FCOMI_CASE {fcomi st0, st1}, 0x00, 'FCOMI greater'
        FCOMI_CASE {fucomi st0, st2}, 0x45, 'FUCOMI unordered: ZF PF CF'
        fucomi st0, st2                 ; again: EXPECT changed the flags
        fcmovu st0, st1                 ; PF = 1: ST0 <- 1.5
        fcmovnb st0, st2                ; CF = 1: no move
        fst qword [scratch]
        EXPECT [scratch + 4], 0x3FF80000, 'FCMOVU moved, FCMOVNB did not'
        fcomip st0, st1
        SW_AND 0x3800
        EXPECT eax, 6 << 11, 'FCOMIP popped'
        END

; ---- stack faults ------------------------------------------------------------------------

; Overflow: IE, SF and C1 = 1; masked, the indefinite is pushed. Underflow: IE, SF, C1 = 0;
; masked, the destination gets the indefinite (vol. 1 8.5.1.1).
test_stack:
        BEGIN 'stack-overflow-underflow'
        fninit
%rep 9
        fld1
%endrep
        SW_AND SW_IE | SW_SF | SW_C1 | 0x3800
        EXPECT eax, SW_IE | SW_SF | SW_C1 | (7 << 11), 'overflow flags and TOP'
        EXPECT_F64 0xFFF80000, 0, 'indefinite pushed'
        fninit
        fld1
        fadd st0, st1
        SW_AND SW_IE | SW_SF | SW_C1
        EXPECT eax, SW_IE | SW_SF, 'underflow flags'
        EXPECT_F64 0xFFF80000, 0, 'indefinite result'
        fninit
        END

; ---- state images ------------------------------------------------------------------------

; FNSAVE stores the 32-bit protected-mode environment and the registers in stack order, then
; initializes; FRSTOR restores all of it (vol. 1 8.1.10, figures 8-9, 8-13; vol. 2 FSAVE).
; (The instruction and operand pointers are the next check's.)
test_fsave:
        BEGIN 'fsave-frstor'
        fninit
        SET_CW 0x0A7F                   ; RC up, 53-bit precision
        fld qword [f64_2_25]
        fld tword [t80_long]
        fldz
        fadd dword [f32_4]
        fnsave [save_area]
        fnstcw [scratch]
        movzx eax, word [scratch]
        EXPECT eax, 0x037F, 'FNSAVE initializes: CW'
        fnstsw ax
        movzx eax, ax
        EXPECT eax, 0, 'FNSAVE initializes: SW'
        movzx eax, word [save_area]
        EXPECT eax, 0x0A7F, 'image CW'
        movzx eax, word [save_area + 4]
        EXPECT eax, 5 << 11, 'image SW: TOP 5'
        movzx eax, word [save_area + 8]
        EXPECT eax, 0x03FF, 'image TW: R5-R7 valid'
        EXPECT [save_area + 28 + 4], 0x80000000, 'ST0 = 4.0 significand'
        movzx eax, word [save_area + 28 + 8]
        EXPECT eax, 0x4001, 'ST0 = 4.0 exponent'
        EXPECT [save_area + 38 + 4], 0xC1234567, 'ST1 64-bit significand, high'
        EXPECT [save_area + 38], 0x89ABCDEF, 'ST1 64-bit significand, low'
        frstor [save_area]
        fnsave [save_area2]
        mov esi, save_area
        mov edi, save_area2
        mov ecx, 12
        repe cmpsb
        EXPECT ecx, 0, 'FRSTOR then FNSAVE: the same CW, SW, TW'
        mov esi, save_area + 28
        mov edi, save_area2 + 28
        mov ecx, 80
        repe cmpsb
        EXPECT ecx, 0, 'FRSTOR then FNSAVE: the same registers'
        frstor [save_area]
        fstp st0
        fstp tword [t80_out]
        EXPECT [t80_out], 0x89ABCDEF, 'restored ST1, low'
        EXPECT [t80_out + 4], 0xC1234567, 'restored ST1, high'
        fninit
        END

; The last non-control instruction's CS:EIP and opcode, and its operand's DS:offset (vol. 1
; 8.1.8, 8.1.9): control instructions (FNSTSW, FNSTENV, FLDCW, FNSAVE...) leave them alone,
; FNSAVE stores them, FRSTOR restores them.
test_pointers:
        BEGIN 'fpu-pointers'
        fninit
        fld1
.last:  fadd dword [f32_4]
        fnstsw ax
        fnstcw [scratch]
        fldcw [scratch]
        fnstenv [env_area]
        fnsave [save_area]
        EXPECT [save_area + 12], .last, 'FIP'
        movzx eax, word [save_area + 16]
        EXPECT eax, KCODE_SEL, 'FCS'
        mov eax, [save_area + 16]
        shr eax, 16
        and eax, 0x7FF
        EXPECT eax, 0x005, 'opcode (D8 05)'
        EXPECT [save_area + 20], f32_4, 'FDP'
        movzx eax, word [save_area + 24]
        EXPECT eax, KDATA_SEL, 'FDS'
        EXPECT [env_area + 12], .last, 'FIP in the FNSTENV image'
        fld1                            ; other pointers, replaced by FRSTOR
        fadd qword [f64_2]
        frstor [save_area]
        fnsave [save_area2]
        EXPECT [save_area2 + 12], .last, 'FIP after FRSTOR'
        EXPECT [save_area2 + 20], f32_4, 'FDP after FRSTOR'
        mov eax, [save_area2 + 16]
        shr eax, 16
        and eax, 0x7FF
        EXPECT eax, 0x005, 'opcode after FRSTOR'
        fninit
        END

; FNSTENV with a 16-bit operand size: the 14-byte protected-mode layout (figure 8-10);
; FLDENV reads it back.
test_fstenv16:
        BEGIN 'fstenv-16'
        fninit
        fld1
.last:  fmul qword [f64_2_25]
        o16 fnstenv [env_area]
        movzx eax, word [env_area + 6]
        EXPECT eax, .last, 'FIP'
        movzx eax, word [env_area + 8]
        EXPECT eax, KCODE_SEL, 'FCS'
        movzx eax, word [env_area + 10]
        EXPECT eax, f64_2_25, 'FDP'
        movzx eax, word [env_area + 12]
        EXPECT eax, KDATA_SEL, 'FDS'
        movzx eax, word [env_area + 4]
        EXPECT eax, 0x3FFF, 'TW'
        fninit
        o16 fldenv [env_area]
        fnstsw ax
        movzx eax, ax
        and eax, 0x3800
        EXPECT eax, 7 << 11, 'TOP restored'
        fnstcw [scratch]
        movzx eax, word [scratch]
        EXPECT eax, 0x037F, 'CW restored'
        fstp qword [scratch]
        EXPECT [scratch + 4], 0x40020000, 'ST0 still 2.25'
        END

; ---- other arithmetic --------------------------------------------------------------------

; FPREM and FPREM1: the remainder, truncating and rounding the quotient; FPREM's low three
; quotient bits go to C0 C3 C1; C2 = 1 while incomplete (vol. 2 FPREM, FPREM1).
test_fprem:
        BEGIN 'fprem-fprem1'
        fninit
        fld qword [f64_5]
        fld qword [f64_17]
        fprem
        SW_AND CODES | SW_C1
        EXPECT eax, SW_C3 | SW_C1, '17 FPREM 5: quotient 3'
        fstp qword [scratch]
        EXPECT [scratch + 4], 0x40000000, '17 FPREM 5 = 2'
        fld qword [f64_18]
        fprem1
        EXPECT_F64 0xC0000000, 0, '18 FPREM1 5 = -2'
        fstp st0
        fld qword [f64_3]
        fld qword [f64_1e30]
.again: fprem
        fnstsw ax
        test ah, 4
        jnz .again
        EXPECT_F64 0x3FF00000, 0, '1e30 FPREM 3 = 1'
        fstp st0
        END

; FPREM1's quotient is rounded to nearest, and its low three bits go to C0 C3 C1 as well.
test_fprem1_q:
        BEGIN 'fprem1-quotient'
        fninit
        fld qword [f64_5]
        fld qword [f64_18]
        fprem1
        SW_AND CODES | SW_C1
        EXPECT eax, SW_C0, '18 FPREM1 5: quotient 4'
        fninit
        END

; FXTRACT, FSCALE, FRNDINT (vol. 2).
test_misc:
        BEGIN 'fxtract-fscale-frndint'
        fninit
        fld qword [f64_12]
        fxtract
        EXPECT_F64 0x3FF80000, 0, 'significand of 12'
        EXPECT_F64 0x40080000, 0, 'exponent of 12'
        fld qword [f64_3]
        fld qword [f64_1_5]
        fscale
        EXPECT_F64 0x40280000, 0, '1.5 * 2^3'
        fstp st0
        SET_CW 0x037F
        fld qword [f64_m2_5]
        frndint
        EXPECT_F64 0xC0000000, 0, 'FRNDINT -2.5 nearest'
        SET_CW 0x077F
        fld qword [f64_m2_5]
        frndint
        EXPECT_F64 0xC0080000, 0, 'FRNDINT -2.5 down'
        SET_CW 0x0F7F
        fld qword [f64_m2_5]
        frndint
        EXPECT_F64 0xC0000000, 0, 'FRNDINT -2.5 chop'
        fninit
        fld qword [f64_2]
        fsqrt
        EXPECT_F32 0x3FB504F3, 'FSQRT 2'
        fld qword [f64_2_25]
        fsqrt
        EXPECT_F64 0x3FF80000, 0, 'FSQRT 2.25'
        fld qword [f64_m0_375]
        fabs
        fchs
        fabs
        EXPECT_F32 0x3EC00000, 'FABS FCHS FABS'
        END

; Transcendentals, compared after rounding to single precision; out of range (|x| >= 2^63,
; here 2^64) FSIN sets C2 and leaves ST(0) alone (vol. 2 FSIN).
test_transcendental:
        BEGIN 'transcendentals'
        fninit
        fld qword [f64_0_5]
        fsin
        EXPECT_F32 0x3EF57744, 'FSIN 0.5'
        fld qword [f64_0_5]
        fcos
        EXPECT_F32 0x3F60A940, 'FCOS 0.5'
        fld qword [f64_0_5]
        fptan
        EXPECT_F32 0x3F800000, 'FPTAN pushes 1'
        EXPECT_F32 0x3F0BDA7B, 'FPTAN 0.5'
        fld qword [f64_100]
        fsincos
        EXPECT_F32 0x3F5CC0EE, 'FSINCOS 100: cos'
        EXPECT_F32 0xBF01A12E, 'FSINCOS 100: sin'
        fld qword [f64_3]
        fcos
        EXPECT_F32 0xBF7D7026, 'FCOS 3'
        fld1
        fld qword [f64_2]
        fpatan
        EXPECT_F32 0x3EED6338, 'FPATAN 1, 2'
        fld1
        fchs
        fld qword [f64_3]
        fchs
        fpatan
        EXPECT_F32 0xC034784B, 'FPATAN -1, -3'
        fld qword [f64_0_5]
        f2xm1
        EXPECT_F32 0x3ED413CD, 'F2XM1 0.5'
        fld qword [f64_m0_75]
        f2xm1
        EXPECT_F32 0xBECF901F, 'F2XM1 -0.75'
        fld qword [f64_3]
        fld qword [f64_10]
        fyl2x
        EXPECT_F32 0x411F73DA, 'FYL2X 3, 10'
        fld1
        fld qword [f64_0_25]
        fyl2xp1
        EXPECT_F32 0x3EA4D3C2, 'FYL2XP1 1, 0.25'
        fld qword [f64_2p64]
        fsin
        SW_AND SW_C2
        EXPECT eax, SW_C2, 'FSIN 2^64: C2'
        EXPECT_F64 0x43F00000, 0, 'FSIN 2^64: ST0 unchanged'
        SW_AND 0x3800
        EXPECT eax, 0, 'stack balanced'
        END

; ---- exceptions --------------------------------------------------------------------------

; CR0.TS = 1: every ESC instruction is #NM, FNINIT too (vol. 3 2.5 table 2-2).
test_nm:
        BEGIN 'nm-ts-escape'
        mov eax, cr0
        or eax, CR0_TS
        mov cr0, eax
        ARM .after
.fault: fninit
.after: clts
        EXPECT_EXC 7, 0, .fault
        END

; An undefined ESC encoding is #UD (vol. 3 22.18.6.6): D9 D1.
test_ud:
        BEGIN 'ud-escape'
        fninit
        ARM .after
.fault: db 0xD9, 0xD1
.after: EXPECT_EXC 6, 0, .fault
        END

; CR0.NE = 1: an unmasked exception sets ES; the next FWAIT raises #MF (vector 16, a fault
; on the FWAIT); FNSTSW and FNSTCW do not wait (vol. 1 8.7, vol. 3 6.15 "Interrupt 16").
test_mf:
        BEGIN 'mf-fwait'
        fninit
        SET_CW 0x037B                   ; ZM = 0
        fld1
        fldz
        ARM .after
        fdiv st1, st0
        fnstsw ax
        mov [scratch], ax
        fnstcw [scratch + 2]
.fault: fwait
.after: EXPECT_EXC 16, 0, .fault
        movzx eax, word [scratch]
        and eax, SW_ZE | SW_ES
        EXPECT eax, SW_ZE | SW_ES, 'ZE and ES pending'
        fninit
        END

; Not only FWAIT: any waiting x87 instruction reports the pending exception first (vol. 1
; 8.7.3.1): here an FLD1, which then does not push.
test_mf_waiting:
        BEGIN 'mf-waiting-insn'
        fninit
        SET_CW 0x037B
        fld1
        fldz
        ARM .after
        fdiv st1, st0
.fault: fld1
.after: EXPECT_EXC 16, 0, .fault
        fnclex
        fnstsw ax
        movzx eax, ax
        and eax, 0x3800
        EXPECT eax, 6 << 11, 'FLD1 did not push'
        fninit
        END

; An unmasked pre-computation exception (here ZE) leaves the operands and the stack as they
; were (vol. 1 4.9.2, 8.7): FDIVP by zero neither stores nor pops.
test_unmasked:
        BEGIN 'unmasked-keeps-operands'
        fninit
        SET_CW 0x037B
        fld1
        fldz
        fdivp st1, st0
        fnclex
        fnstsw ax
        movzx eax, ax
        and eax, 0x3800
        EXPECT eax, 6 << 11, 'not popped'
        fstp st0
        fstp qword [scratch]
        EXPECT [scratch + 4], 0x3FF00000, 'ST1 unchanged'
        fninit
        END

; CR0.NE = 0 (MS-DOS compatibility): no #MF; FERR# goes to the (masked) interrupt controller.
test_ferr:
        BEGIN 'no-mf-with-ne-clear'
        mov eax, cr0
        and eax, ~CR0_NE
        mov cr0, eax
        fninit
        SET_CW 0x037B
        fld1
        fldz
        ARM .after
        fdivp st1, st0
        fwait
.after: EXPECT_NO_EXC
        fninit
        mov eax, cr0
        or eax, CR0_NE
        mov cr0, eax
        END

        FINISH

        PM32_SUPPORT

        align 8
f64_1_5:     dq 1.5
f64_2_25:    dq 2.25
f64_0_5:     dq 0.5
f64_0_25:    dq 0.25
f64_m0_375:  dq -0.375
f64_m0_75:   dq -0.75
f64_2:       dq 2.0
f64_3:       dq 3.0
f64_5:       dq 5.0
f64_10:      dq 10.0
f64_12:      dq 12.0
f64_17:      dq 17.0
f64_18:      dq 18.0
f64_100:     dq 100.0
f64_m62_5:   dq -62.5
f64_2_5:     dq 2.5
f64_m2_5:    dq -2.5
f64_3_5:     dq 3.5
f64_40000:   dq 40000.0
f64_1e19:    dq 1.0e19
f64_1e30:    dq 1.0e30
f64_2p64:    dq 18446744073709551616.0
f64_third:   dq 0x3FD5555555555555
f64_inf:     dq 0x7FF0000000000000
f64_qnan:    dq 0x7FF8000000012345
i64_max:     dq 0x7FFFFFFFFFFFFFFF
f32_1_5:     dd 1.5
f32_4:       dd 4.0
real_two:    dd 2.0
i32_val:     dd 0x12345678
i32_5:       dd 5
i32_6:       dd 6
i32_7:       dd 7
i32_10:      dd 10
i16_m7:      dw -7
i16_1:       dw 1
i16_84:      dw 84
i16_m3:      dw -3
        align 8
t80_3:       dq 0xC000000000000000
             dw 0x4000
        align 8
t80_long:    dq 0xC123456789ABCDEF
             dw 0x3FFF
        align 8
t80_denormal: dq 0x0000000000000001
             dw 0x0000
        align 8
bcd_in:      db 0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80
        align 8
bcd_out:     times 10 db 0
        align 8
t80_out:     times 10 db 0
        align 8
scratch:     times 16 db 0
cw_tmp:      dw 0
        align 16
env_area:    times 28 db 0
        align 16
save_area:   times 108 db 0
        align 16
save_area2:  times 108 db 0

        align 8
gdt:
        STD_GDT_ENTRIES
gdt_end:
gdt_ptr:
        dw gdt_end - gdt - 1
        dd gdt

        TSS_MAIN

%include "report_code.inc"
%include "end.inc"
