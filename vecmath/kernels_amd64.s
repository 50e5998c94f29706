// The amd64 kernels (see kernels_amd64.go for how they are picked). Every function takes two
// slices of which only len(a) elements are read from each (the Go wrapper has checked that b is
// long enough) and returns the sum; the argument layout is a_base+0, a_len+8, b_base+24, ret+48.
//
// AVX2 functions need AVX2 and FMA; the tails shorter than a vector run a scalar loop.
// AVX-512 functions need AVX512F and AVX512BW; their tails are one masked load, whose masked-off
// lanes read as zero and never fault. The integer kernels split each 16-bit word of the loaded
// bytes into its low byte (AND 0x00ff, or shift left then right for sign extension) and its high
// byte (shift right by 8), and multiply-add the words pairwise (VPMADDWD): no byte shuffles. The
// order of the terms of an integer sum does not matter (int32 sums wrap alike in any order).

#include "textflag.h"

// HSUMPS_Y0 adds the eight float32 lanes of Y0 into the low lane of X0 (clobbers X1).
#define HSUMPS_Y0 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVHLPS     X0, X0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVSHDUP    X0, X1; \
	VADDSS       X1, X0, X0

// HSUMPS_Z0 adds the sixteen float32 lanes of Z0 into the low lane of X0 (clobbers X1).
#define HSUMPS_Z0 \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS        Y1, Y0, Y0; \
	HSUMPS_Y0

// HSUMD_Y0_AX adds the eight int32 lanes of Y0 into AX (clobbers X1).
#define HSUMD_Y0_AX \
	VEXTRACTI128 $1, Y0, X1; \
	VPADDD       X1, X0, X0; \
	VPSHUFD      $0x4e, X0, X1; \
	VPADDD       X1, X0, X0; \
	VPSHUFD      $0xb1, X0, X1; \
	VPADDD       X1, X0, X0; \
	VMOVD        X0, AX

// HSUMD_Z0_AX adds the sixteen int32 lanes of Z0 into AX (clobbers X1).
#define HSUMD_Z0_AX \
	VEXTRACTI64X4 $1, Z0, Y1; \
	VPADDD        Y1, Y0, Y0; \
	HSUMD_Y0_AX

// LOAD_ARGS loads a's base into SI, b's base into DI and len(a) into CX.
#define LOAD_ARGS \
	MOVQ a_base+0(FP), SI; \
	MOVQ b_base+24(FP), DI; \
	MOVQ a_len+8(FP), CX

// TAILMASK_AX sets AX to (1<<CX)-1: the low CX lanes of a masked load.
#define TAILMASK_AX \
	MOVQ $1, AX; \
	SHLQ CX, AX; \
	DECQ AX

// ---- float32, AVX2 + FMA: 32 floats a round into four accumulators, then 8 at a time.

// func dotF32AVX2(a, b []float32) float32
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JB     by8

by32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JAE         by32

by8:
	CMPQ        CX, $8
	JB          reduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         by8

reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUMPS_Y0
	TESTQ  CX, CX
	JZ     done

by1:
	VMOVSS      (SI), X1
	VFMADD231SS (DI), X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNZ         by1

done:
	VMOVSS     X0, ret+48(FP)
	VZEROUPPER
	RET

// func l2F32AVX2(a, b []float32) float32
TEXT ·l2F32AVX2(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JB     by8

by32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VSUBPS      (DI), Y4, Y4
	VSUBPS      32(DI), Y5, Y5
	VSUBPS      64(DI), Y6, Y6
	VSUBPS      96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JAE         by32

by8:
	CMPQ        CX, $8
	JB          reduce
	VMOVUPS     (SI), Y4
	VSUBPS      (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         by8

reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUMPS_Y0
	TESTQ  CX, CX
	JZ     done

by1:
	VMOVSS      (SI), X1
	VSUBSS      (DI), X1, X1
	VFMADD231SS X1, X1, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNZ         by1

done:
	VMOVSS     X0, ret+48(FP)
	VZEROUPPER
	RET

// func l1F32AVX2(a, b []float32) float32
TEXT ·l1F32AVX2(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VPCMPEQD Y15, Y15, Y15
	VPSRLD   $1, Y15, Y15  // 0x7fffffff: every bit but the sign
	VXORPS   Y0, Y0, Y0
	VXORPS   Y1, Y1, Y1
	VXORPS   Y2, Y2, Y2
	VXORPS   Y3, Y3, Y3
	CMPQ     CX, $32
	JB       by8

by32:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VSUBPS  (DI), Y4, Y4
	VSUBPS  32(DI), Y5, Y5
	VSUBPS  64(DI), Y6, Y6
	VSUBPS  96(DI), Y7, Y7
	VANDPS  Y15, Y4, Y4
	VANDPS  Y15, Y5, Y5
	VANDPS  Y15, Y6, Y6
	VANDPS  Y15, Y7, Y7
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JAE     by32

by8:
	CMPQ    CX, $8
	JB      reduce
	VMOVUPS (SI), Y4
	VSUBPS  (DI), Y4, Y4
	VANDPS  Y15, Y4, Y4
	VADDPS  Y4, Y0, Y0
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     by8

reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUMPS_Y0
	TESTQ  CX, CX
	JZ     done

by1:
	VMOVSS (SI), X1
	VSUBSS (DI), X1, X1
	VANDPS X15, X1, X1
	VADDSS X1, X0, X0
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JNZ    by1

done:
	VMOVSS     X0, ret+48(FP)
	VZEROUPPER
	RET

// ---- float32, AVX-512: 64 floats a round into four accumulators, 16 at a time, then one
// masked load for the last 0..15.

// func dotF32AVX512(a, b []float32) float32
TEXT ·dotF32AVX512(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   CX, $64
	JB     by16

by64:
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JAE         by64

by16:
	CMPQ        CX, $16
	JB          tail
	VMOVUPS     (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         by16

tail:
	TESTQ       CX, CX
	JZ          reduce
	TAILMASK_AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1

reduce:
	VADDPS     Z1, Z0, Z0
	VADDPS     Z3, Z2, Z2
	VADDPS     Z2, Z0, Z0
	HSUMPS_Z0
	VMOVSS     X0, ret+48(FP)
	VZEROUPPER
	RET

// func l2F32AVX512(a, b []float32) float32
TEXT ·l2F32AVX512(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   CX, $64
	JB     by16

by64:
	VMOVUPS     (SI), Z4
	VMOVUPS     64(SI), Z5
	VMOVUPS     128(SI), Z6
	VMOVUPS     192(SI), Z7
	VSUBPS      (DI), Z4, Z4
	VSUBPS      64(DI), Z5, Z5
	VSUBPS      128(DI), Z6, Z6
	VSUBPS      192(DI), Z7, Z7
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z5, Z5, Z1
	VFMADD231PS Z6, Z6, Z2
	VFMADD231PS Z7, Z7, Z3
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	CMPQ        CX, $64
	JAE         by64

by16:
	CMPQ        CX, $16
	JB          tail
	VMOVUPS     (SI), Z4
	VSUBPS      (DI), Z4, Z4
	VFMADD231PS Z4, Z4, Z0
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         by16

tail:
	TESTQ       CX, CX
	JZ          reduce
	TAILMASK_AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VSUBPS      Z5, Z4, Z4
	VFMADD231PS Z4, Z4, Z1

reduce:
	VADDPS     Z1, Z0, Z0
	VADDPS     Z3, Z2, Z2
	VADDPS     Z2, Z0, Z0
	HSUMPS_Z0
	VMOVSS     X0, ret+48(FP)
	VZEROUPPER
	RET

// func l1F32AVX512(a, b []float32) float32
TEXT ·l1F32AVX512(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VPTERNLOGD $0xff, Z15, Z15, Z15
	VPSRLD     $1, Z15, Z15    // 0x7fffffff: every bit but the sign
	VPXORD     Z0, Z0, Z0
	VPXORD     Z1, Z1, Z1
	VPXORD     Z2, Z2, Z2
	VPXORD     Z3, Z3, Z3
	CMPQ       CX, $64
	JB         by16

by64:
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VSUBPS  (DI), Z4, Z4
	VSUBPS  64(DI), Z5, Z5
	VSUBPS  128(DI), Z6, Z6
	VSUBPS  192(DI), Z7, Z7
	VPANDD  Z15, Z4, Z4
	VPANDD  Z15, Z5, Z5
	VPANDD  Z15, Z6, Z6
	VPANDD  Z15, Z7, Z7
	VADDPS  Z4, Z0, Z0
	VADDPS  Z5, Z1, Z1
	VADDPS  Z6, Z2, Z2
	VADDPS  Z7, Z3, Z3
	ADDQ    $256, SI
	ADDQ    $256, DI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JAE     by64

by16:
	CMPQ    CX, $16
	JB      tail
	VMOVUPS (SI), Z4
	VSUBPS  (DI), Z4, Z4
	VPANDD  Z15, Z4, Z4
	VADDPS  Z4, Z0, Z0
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     by16

tail:
	TESTQ       CX, CX
	JZ          reduce
	TAILMASK_AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (DI), K1, Z5
	VSUBPS      Z5, Z4, Z4
	VPANDD      Z15, Z4, Z4
	VADDPS      Z4, Z1, Z1

reduce:
	VADDPS     Z1, Z0, Z0
	VADDPS     Z3, Z2, Z2
	VADDPS     Z2, Z0, Z0
	HSUMPS_Z0
	VMOVSS     X0, ret+48(FP)
	VZEROUPPER
	RET

// ---- int8 and uint8 codes, AVX2: 32 bytes a round (both byte halves of each word into their
// own accumulator), then 16 bytes once, then a scalar loop for the last 0..15. Y15 (X15) holds
// 0x00ff in every word.

// UNPACK_U8(r, t, m) leaves r's low (even) bytes in r's words and its high (odd) bytes in t's,
// both zero-extended; m holds 0x00ff in every word.
#define UNPACK_U8(r, t, m) \
	VPSRLW $8, r, t; \
	VPAND  m, r, r

// UNPACK_S8(r, t) is UNPACK_U8 with sign extension.
#define UNPACK_S8(r, t) \
	VPSRAW $8, r, t; \
	VPSLLW $8, r, r; \
	VPSRAW $8, r, r

// func dotI8AVX2(a, b []int8) int32
TEXT ·dotI8AVX2(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	CMPQ  CX, $32
	JB    by16

by32:
	VMOVDQU  (SI), Y4
	VMOVDQU  (DI), Y6
	UNPACK_S8(Y4, Y5)
	UNPACK_S8(Y6, Y7)
	VPMADDWD Y6, Y4, Y4
	VPMADDWD Y7, Y5, Y5
	VPADDD   Y4, Y0, Y0
	VPADDD   Y5, Y1, Y1
	ADDQ     $32, SI
	ADDQ     $32, DI
	SUBQ     $32, CX
	CMPQ     CX, $32
	JAE      by32

by16:
	CMPQ     CX, $16
	JB       reduce
	VMOVDQU  (SI), X4
	VMOVDQU  (DI), X6
	UNPACK_S8(X4, X5)
	UNPACK_S8(X6, X7)
	VPMADDWD X6, X4, X4
	VPMADDWD X7, X5, X5
	VPADDD   Y4, Y0, Y0 // the upper lanes of Y4 and Y5 are zero (VEX.128 clears them)
	VPADDD   Y5, Y1, Y1
	ADDQ     $16, SI
	ADDQ     $16, DI
	SUBQ     $16, CX

reduce:
	VPADDD Y1, Y0, Y0
	HSUMD_Y0_AX
	TESTQ  CX, CX
	JZ     done

by1:
	MOVBQSX (SI), BX
	MOVBQSX (DI), DX
	IMULL   DX, BX
	ADDL    BX, AX
	INCQ    SI
	INCQ    DI
	DECQ    CX
	JNZ     by1

done:
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func l2I8AVX2(a, b []int8) int32
TEXT ·l2I8AVX2(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $8, Y15, Y15
	VPXOR    Y0, Y0, Y0
	VPXOR    Y1, Y1, Y1
	CMPQ     CX, $32
	JB       by16

by32:
	VMOVDQU  (SI), Y4
	VMOVDQU  (DI), Y6
	VPMAXSB  Y6, Y4, Y5
	VPMINSB  Y6, Y4, Y4
	VPSUBB   Y4, Y5, Y4 // |a-b| as an unsigned byte
	UNPACK_U8(Y4, Y5, Y15)
	VPMADDWD Y4, Y4, Y4
	VPMADDWD Y5, Y5, Y5
	VPADDD   Y4, Y0, Y0
	VPADDD   Y5, Y1, Y1
	ADDQ     $32, SI
	ADDQ     $32, DI
	SUBQ     $32, CX
	CMPQ     CX, $32
	JAE      by32

by16:
	CMPQ     CX, $16
	JB       reduce
	VMOVDQU  (SI), X4
	VMOVDQU  (DI), X6
	VPMAXSB  X6, X4, X5
	VPMINSB  X6, X4, X4
	VPSUBB   X4, X5, X4
	UNPACK_U8(X4, X5, X15)
	VPMADDWD X4, X4, X4
	VPMADDWD X5, X5, X5
	VPADDD   Y4, Y0, Y0
	VPADDD   Y5, Y1, Y1
	ADDQ     $16, SI
	ADDQ     $16, DI
	SUBQ     $16, CX

reduce:
	VPADDD Y1, Y0, Y0
	HSUMD_Y0_AX
	TESTQ  CX, CX
	JZ     done

by1:
	MOVBQSX (SI), BX
	MOVBQSX (DI), DX
	SUBL    DX, BX
	IMULL   BX, BX
	ADDL    BX, AX
	INCQ    SI
	INCQ    DI
	DECQ    CX
	JNZ     by1

done:
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func dotU8AVX2(a, b []uint8) uint32
TEXT ·dotU8AVX2(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $8, Y15, Y15
	VPXOR    Y0, Y0, Y0
	VPXOR    Y1, Y1, Y1
	CMPQ     CX, $32
	JB       by16

by32:
	VMOVDQU  (SI), Y4
	VMOVDQU  (DI), Y6
	UNPACK_U8(Y4, Y5, Y15)
	UNPACK_U8(Y6, Y7, Y15)
	VPMADDWD Y6, Y4, Y4
	VPMADDWD Y7, Y5, Y5
	VPADDD   Y4, Y0, Y0
	VPADDD   Y5, Y1, Y1
	ADDQ     $32, SI
	ADDQ     $32, DI
	SUBQ     $32, CX
	CMPQ     CX, $32
	JAE      by32

by16:
	CMPQ     CX, $16
	JB       reduce
	VMOVDQU  (SI), X4
	VMOVDQU  (DI), X6
	UNPACK_U8(X4, X5, X15)
	UNPACK_U8(X6, X7, X15)
	VPMADDWD X6, X4, X4
	VPMADDWD X7, X5, X5
	VPADDD   Y4, Y0, Y0
	VPADDD   Y5, Y1, Y1
	ADDQ     $16, SI
	ADDQ     $16, DI
	SUBQ     $16, CX

reduce:
	VPADDD Y1, Y0, Y0
	HSUMD_Y0_AX
	TESTQ  CX, CX
	JZ     done

by1:
	MOVBQZX (SI), BX
	MOVBQZX (DI), DX
	IMULL   DX, BX
	ADDL    BX, AX
	INCQ    SI
	INCQ    DI
	DECQ    CX
	JNZ     by1

done:
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func l2U8AVX2(a, b []uint8) uint32
TEXT ·l2U8AVX2(SB), NOSPLIT, $0-52
	LOAD_ARGS
	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $8, Y15, Y15
	VPXOR    Y0, Y0, Y0
	VPXOR    Y1, Y1, Y1
	CMPQ     CX, $32
	JB       by16

by32:
	VMOVDQU  (SI), Y4
	VMOVDQU  (DI), Y6
	VPMAXUB  Y6, Y4, Y5
	VPMINUB  Y6, Y4, Y4
	VPSUBB   Y4, Y5, Y4 // |a-b|
	UNPACK_U8(Y4, Y5, Y15)
	VPMADDWD Y4, Y4, Y4
	VPMADDWD Y5, Y5, Y5
	VPADDD   Y4, Y0, Y0
	VPADDD   Y5, Y1, Y1
	ADDQ     $32, SI
	ADDQ     $32, DI
	SUBQ     $32, CX
	CMPQ     CX, $32
	JAE      by32

by16:
	CMPQ     CX, $16
	JB       reduce
	VMOVDQU  (SI), X4
	VMOVDQU  (DI), X6
	VPMAXUB  X6, X4, X5
	VPMINUB  X6, X4, X4
	VPSUBB   X4, X5, X4
	UNPACK_U8(X4, X5, X15)
	VPMADDWD X4, X4, X4
	VPMADDWD X5, X5, X5
	VPADDD   Y4, Y0, Y0
	VPADDD   Y5, Y1, Y1
	ADDQ     $16, SI
	ADDQ     $16, DI
	SUBQ     $16, CX

reduce:
	VPADDD Y1, Y0, Y0
	HSUMD_Y0_AX
	TESTQ  CX, CX
	JZ     done

by1:
	MOVBQZX (SI), BX
	MOVBQZX (DI), DX
	SUBL    DX, BX
	IMULL   BX, BX
	ADDL    BX, AX
	INCQ    SI
	INCQ    DI
	DECQ    CX
	JNZ     by1

done:
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// ---- int8 and uint8 codes, AVX-512 (F and BW): 64 bytes a round, then one masked load for the
// last 0..63. Z15 holds 0x00ff in every word.

// UNPACK_U8Z and UNPACK_S8Z are UNPACK_U8 and UNPACK_S8 for Z registers.
#define UNPACK_U8Z(r, t, m) \
	VPSRLW $8, r, t; \
	VPANDD m, r, r

#define UNPACK_S8Z(r, t) \
	VPSRAW $8, r, t; \
	VPSLLW $8, r, r; \
	VPSRAW $8, r, r

// WORDMASK_Z15 sets every word of Z15 to 0x00ff.
#define WORDMASK_Z15 \
	VPTERNLOGD $0xff, Z15, Z15, Z15; \
	VPSRLW     $8, Z15, Z15

// BYTETAIL loads the last CX (< 64) bytes of a and b into Z4 and Z6, zeros elsewhere.
#define BYTETAIL \
	TAILMASK_AX; \
	KMOVQ        AX, K1; \
	VMOVDQU8.Z   (SI), K1, Z4; \
	VMOVDQU8.Z   (DI), K1, Z6

// Each kernel's round is a macro of its own, run by the main loop and once for the tail.
#define DOT_S8Z \
	UNPACK_S8Z(Z4, Z5); \
	UNPACK_S8Z(Z6, Z7); \
	VPMADDWD Z6, Z4, Z4; \
	VPMADDWD Z7, Z5, Z5; \
	VPADDD   Z4, Z0, Z0; \
	VPADDD   Z5, Z1, Z1

#define DOT_U8Z \
	UNPACK_U8Z(Z4, Z5, Z15); \
	UNPACK_U8Z(Z6, Z7, Z15); \
	VPMADDWD Z6, Z4, Z4; \
	VPMADDWD Z7, Z5, Z5; \
	VPADDD   Z4, Z0, Z0; \
	VPADDD   Z5, Z1, Z1

// SQDIFF_Z(max, min) adds the squares of the absolute byte differences |Z4-Z6| (max and min are
// VPMAXSB/VPMINSB for int8, VPMAXUB/VPMINUB for uint8).
#define SQDIFF_Z(max, min) \
	max      Z6, Z4, Z5; \
	min      Z6, Z4, Z4; \
	VPSUBB   Z4, Z5, Z4; \
	UNPACK_U8Z(Z4, Z5, Z15); \
	VPMADDWD Z4, Z4, Z4; \
	VPMADDWD Z5, Z5, Z5; \
	VPADDD   Z4, Z0, Z0; \
	VPADDD   Z5, Z1, Z1

// func dotI8AVX512(a, b []int8) int32
TEXT ·dotI8AVX512(SB), NOSPLIT, $0-52
	LOAD_ARGS
	WORDMASK_Z15
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	CMPQ   CX, $64
	JB     tail

by64:
	VMOVDQU64 (SI), Z4
	VMOVDQU64 (DI), Z6
	DOT_S8Z
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $64, CX
	CMPQ      CX, $64
	JAE       by64

tail:
	TESTQ CX, CX
	JZ    reduce
	BYTETAIL
	DOT_S8Z

reduce:
	VPADDD     Z1, Z0, Z0
	HSUMD_Z0_AX
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func l2I8AVX512(a, b []int8) int32
TEXT ·l2I8AVX512(SB), NOSPLIT, $0-52
	LOAD_ARGS
	WORDMASK_Z15
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	CMPQ   CX, $64
	JB     tail

by64:
	VMOVDQU64 (SI), Z4
	VMOVDQU64 (DI), Z6
	SQDIFF_Z(VPMAXSB, VPMINSB)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $64, CX
	CMPQ      CX, $64
	JAE       by64

tail:
	TESTQ CX, CX
	JZ    reduce
	BYTETAIL
	SQDIFF_Z(VPMAXSB, VPMINSB)

reduce:
	VPADDD     Z1, Z0, Z0
	HSUMD_Z0_AX
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func dotU8AVX512(a, b []uint8) uint32
TEXT ·dotU8AVX512(SB), NOSPLIT, $0-52
	LOAD_ARGS
	WORDMASK_Z15
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	CMPQ   CX, $64
	JB     tail

by64:
	VMOVDQU64 (SI), Z4
	VMOVDQU64 (DI), Z6
	DOT_U8Z
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $64, CX
	CMPQ      CX, $64
	JAE       by64

tail:
	TESTQ CX, CX
	JZ    reduce
	BYTETAIL
	DOT_U8Z

reduce:
	VPADDD     Z1, Z0, Z0
	HSUMD_Z0_AX
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func l2U8AVX512(a, b []uint8) uint32
TEXT ·l2U8AVX512(SB), NOSPLIT, $0-52
	LOAD_ARGS
	WORDMASK_Z15
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	CMPQ   CX, $64
	JB     tail

by64:
	VMOVDQU64 (SI), Z4
	VMOVDQU64 (DI), Z6
	SQDIFF_Z(VPMAXUB, VPMINUB)
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $64, CX
	CMPQ      CX, $64
	JAE       by64

tail:
	TESTQ CX, CX
	JZ    reduce
	BYTETAIL
	SQDIFF_Z(VPMAXUB, VPMINUB)

reduce:
	VPADDD     Z1, Z0, Z0
	HSUMD_Z0_AX
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// ---- Hamming distance over packed bits.

// func hammingPOPCNT(a, b []uint64) int
// POPCNT on four words a round into four counters, then one word at a time.
TEXT ·hammingPOPCNT(SB), NOSPLIT, $0-56
	LOAD_ARGS
	XORQ R8, R8
	XORQ R9, R9
	XORQ R10, R10
	XORQ R11, R11
	CMPQ CX, $4
	JB   by1

by4:
	MOVQ    (SI), AX
	MOVQ    8(SI), BX
	MOVQ    16(SI), DX
	MOVQ    24(SI), R12
	XORQ    (DI), AX
	XORQ    8(DI), BX
	XORQ    16(DI), DX
	XORQ    24(DI), R12
	POPCNTQ AX, AX
	POPCNTQ BX, BX
	POPCNTQ DX, DX
	POPCNTQ R12, R12
	ADDQ    AX, R8
	ADDQ    BX, R9
	ADDQ    DX, R10
	ADDQ    R12, R11
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $4, CX
	CMPQ    CX, $4
	JAE     by4

by1:
	TESTQ   CX, CX
	JZ      done
	MOVQ    (SI), AX
	XORQ    (DI), AX
	POPCNTQ AX, AX
	ADDQ    AX, R8
	ADDQ    $8, SI
	ADDQ    $8, DI
	DECQ    CX
	JMP     by1

done:
	ADDQ R9, R8
	ADDQ R11, R10
	ADDQ R10, R8
	MOVQ R8, ret+48(FP)
	RET

// func hammingVPOPCNT(a, b []uint64) int
// AVX512_VPOPCNTDQ: 32 words a round into four accumulators, 8 at a time, then one masked
// load for the last 0..7.
TEXT ·hammingVPOPCNT(SB), NOSPLIT, $0-56
	LOAD_ARGS
	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3
	CMPQ   CX, $32
	JB     by8

by32:
	VMOVDQU64 (SI), Z4
	VMOVDQU64 64(SI), Z5
	VMOVDQU64 128(SI), Z6
	VMOVDQU64 192(SI), Z7
	VPXORQ    (DI), Z4, Z4
	VPXORQ    64(DI), Z5, Z5
	VPXORQ    128(DI), Z6, Z6
	VPXORQ    192(DI), Z7, Z7
	VPOPCNTQ  Z4, Z4
	VPOPCNTQ  Z5, Z5
	VPOPCNTQ  Z6, Z6
	VPOPCNTQ  Z7, Z7
	VPADDQ    Z4, Z0, Z0
	VPADDQ    Z5, Z1, Z1
	VPADDQ    Z6, Z2, Z2
	VPADDQ    Z7, Z3, Z3
	ADDQ      $256, SI
	ADDQ      $256, DI
	SUBQ      $32, CX
	CMPQ      CX, $32
	JAE       by32

by8:
	CMPQ      CX, $8
	JB        tail
	VMOVDQU64 (SI), Z4
	VPXORQ    (DI), Z4, Z4
	VPOPCNTQ  Z4, Z4
	VPADDQ    Z4, Z0, Z0
	ADDQ      $64, SI
	ADDQ      $64, DI
	SUBQ      $8, CX
	JMP       by8

tail:
	TESTQ       CX, CX
	JZ          reduce
	TAILMASK_AX
	KMOVW       AX, K1
	VMOVDQU64.Z (SI), K1, Z4
	VMOVDQU64.Z (DI), K1, Z5
	VPXORQ      Z5, Z4, Z4
	VPOPCNTQ    Z4, Z4
	VPADDQ      Z4, Z1, Z1

reduce:
	VPADDQ        Z1, Z0, Z0
	VPADDQ        Z3, Z2, Z2
	VPADDQ        Z2, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDQ        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDQ        X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPADDQ        X1, X0, X0
	VMOVQ         X0, AX
	MOVQ          AX, ret+48(FP)
	VZEROUPPER
	RET

// ---- int8 and uint8 codes, AVX-512 with AVX512_VNNI: VPDPBUSD multiplies unsigned bytes by
// signed bytes and adds each four products into an int32 lane, without saturating. Every kernel
// is turned into such products plus a correction that a second VPDPBUSD sums against bytes of 1:
//   int8 dot:   Σ a·b   = Σ (a+128)·b − 128·Σ b        (a+128 = a XOR 0x80, unsigned)
//   uint8 dot:  Σ a·b   = Σ a·(b−128) + 128·Σ a        (b−128 = b XOR 0x80, signed)
//   squared L2: Σ d²    = Σ d·(d−128) + 128·Σ d        (d = |a−b| as an unsigned byte)
// Four rounds of 64 bytes go into four pairs of accumulators (VPDPBUSD has a latency of several
// cycles), then 64 bytes at a time, then one masked load for the last 0..63 (zero bytes add
// nothing to either sum). Z13 holds 0x80 and Z14 0x01 in every byte.

// VNNI_CONSTS sets Z13 and Z14.
#define VNNI_CONSTS \
	MOVL         $0x80808080, AX; \
	VPBROADCASTD AX, Z13; \
	MOVL         $0x01010101, AX; \
	VPBROADCASTD AX, Z14

// Rounds: a in A, b in B; T is scratch; the product sum goes to P, the correction sum to C.
#define VNNI_DOT_S8(A, B, T, P, C) \
	VPXORD   Z13, A, A; \
	VPDPBUSD B, A, P; \
	VPDPBUSD B, Z14, C

#define VNNI_DOT_U8(A, B, T, P, C) \
	VPXORD   Z13, B, B; \
	VPDPBUSD B, A, P; \
	VPDPBUSD Z14, A, C

#define VNNI_SQDIFF(max, min, A, B, T, P, C) \
	max      B, A, T; \
	min      B, A, A; \
	VPSUBB   A, T, A; \
	VPXORD   Z13, A, T; \
	VPDPBUSD T, A, P; \
	VPDPBUSD Z14, A, C

#define VNNI_L2_S8(A, B, T, P, C) VNNI_SQDIFF(VPMAXSB, VPMINSB, A, B, T, P, C)
#define VNNI_L2_U8(A, B, T, P, C) VNNI_SQDIFF(VPMAXUB, VPMINUB, A, B, T, P, C)

// VNNI_KERNEL(round) is the whole loop around a round; it leaves the product sum in AX and the
// correction sum in DX.
#define VNNI_KERNEL(round) \
	LOAD_ARGS; \
	VNNI_CONSTS; \
	VPXORD Z0, Z0, Z0; \
	VPXORD Z1, Z1, Z1; \
	VPXORD Z2, Z2, Z2; \
	VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; \
	VPXORD Z5, Z5, Z5; \
	VPXORD Z6, Z6, Z6; \
	VPXORD Z7, Z7, Z7; \
	CMPQ   CX, $256; \
	JB     by64; \
by256:; \
	VMOVDQU64 (SI), Z16; \
	VMOVDQU64 64(SI), Z18; \
	VMOVDQU64 128(SI), Z20; \
	VMOVDQU64 192(SI), Z22; \
	VMOVDQU64 (DI), Z17; \
	VMOVDQU64 64(DI), Z19; \
	VMOVDQU64 128(DI), Z21; \
	VMOVDQU64 192(DI), Z23; \
	round(Z16, Z17, Z24, Z0, Z4); \
	round(Z18, Z19, Z25, Z1, Z5); \
	round(Z20, Z21, Z26, Z2, Z6); \
	round(Z22, Z23, Z27, Z3, Z7); \
	ADDQ $256, SI; \
	ADDQ $256, DI; \
	SUBQ $256, CX; \
	CMPQ CX, $256; \
	JAE  by256; \
by64:; \
	CMPQ CX, $64; \
	JB   tail; \
	VMOVDQU64 (SI), Z16; \
	VMOVDQU64 (DI), Z17; \
	round(Z16, Z17, Z24, Z0, Z4); \
	ADDQ $64, SI; \
	ADDQ $64, DI; \
	SUBQ $64, CX; \
	JMP  by64; \
tail:; \
	TESTQ CX, CX; \
	JZ    reduce; \
	TAILMASK_AX; \
	KMOVQ      AX, K1; \
	VMOVDQU8.Z (SI), K1, Z16; \
	VMOVDQU8.Z (DI), K1, Z17; \
	round(Z16, Z17, Z24, Z1, Z5); \
reduce:; \
	VPADDD Z1, Z0, Z0; \
	VPADDD Z3, Z2, Z2; \
	VPADDD Z2, Z0, Z0; \
	VPADDD Z5, Z4, Z4; \
	VPADDD Z7, Z6, Z6; \
	VPADDD Z6, Z4, Z4; \
	HSUMD_Z0_AX; \
	MOVL      AX, DX; \
	VMOVDQA64 Z4, Z0; \
	HSUMD_Z0_AX; \
	XCHGL     AX, DX

// func dotI8VNNI(a, b []int8) int32
TEXT ·dotI8VNNI(SB), NOSPLIT, $0-52
	VNNI_KERNEL(VNNI_DOT_S8)
	SHLL       $7, DX
	SUBL       DX, AX
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func l2I8VNNI(a, b []int8) int32
TEXT ·l2I8VNNI(SB), NOSPLIT, $0-52
	VNNI_KERNEL(VNNI_L2_S8)
	SHLL       $7, DX
	ADDL       DX, AX
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func dotU8VNNI(a, b []uint8) uint32
TEXT ·dotU8VNNI(SB), NOSPLIT, $0-52
	VNNI_KERNEL(VNNI_DOT_U8)
	SHLL       $7, DX
	ADDL       DX, AX
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET

// func l2U8VNNI(a, b []uint8) uint32
TEXT ·l2U8VNNI(SB), NOSPLIT, $0-52
	VNNI_KERNEL(VNNI_L2_U8)
	SHLL       $7, DX
	ADDL       DX, AX
	MOVL       AX, ret+48(FP)
	VZEROUPPER
	RET
