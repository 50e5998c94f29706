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
//
// Each family of kernels is one skeleton macro (the loops, tails and reduction) around a step
// macro per kernel. Labels inside a macro are local to the TEXT block that expands it.

#include "textflag.h"

// HSUMPS_Y0 adds the eight float32 lanes of Y0 into the low lane of X0 (clobbers X1).
#define HSUMPS_Y0 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVHLPS     X0, X0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVSHDUP    X0, X1; \
	VADDSS       X1, X0, X0

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

// ---- float32. A step step(R, off, ACC) loads the vector at off(SI) into R, combines it with
// the one at off(DI) and adds the result to ACC; Y15/Z15 hold 0x7fffffff (every bit but the
// sign) in every lane.

#define DOT_STEP(R, off, ACC) \
	VMOVUPS     off(SI), R; \
	VFMADD231PS off(DI), R, ACC

#define L2_STEP(R, off, ACC) \
	VMOVUPS     off(SI), R; \
	VSUBPS      off(DI), R, R; \
	VFMADD231PS R, R, ACC

#define L1_STEP(and, M, R, off, ACC) \
	VMOVUPS off(SI), R; \
	VSUBPS  off(DI), R, R; \
	and     M, R, R; \
	VADDPS  R, ACC, ACC

#define L1_STEP_Y(R, off, ACC) L1_STEP(VANDPS, Y15, R, off, ACC)
#define L1_STEP_Z(R, off, ACC) L1_STEP(VPANDD, Z15, R, off, ACC)

// One float in X1 (loaded from (SI)) against (DI), added to X0.
#define DOT_ONE VFMADD231SS (DI), X1, X0
#define L2_ONE VSUBSS (DI), X1, X1; VFMADD231SS X1, X1, X0
#define L1_ONE VSUBSS (DI), X1, X1; VANDPS X15, X1, X1; VADDSS X1, X0, X0

// A masked tail: a's last floats in Z4, b's in Z5 (zeros beyond), added to Z1.
#define DOT_TAIL VFMADD231PS Z5, Z4, Z1
#define L2_TAIL VSUBPS Z5, Z4, Z4; VFMADD231PS Z4, Z4, Z1
#define L1_TAIL VSUBPS Z5, Z4, Z4; VPANDD Z15, Z4, Z4; VADDPS Z4, Z1, Z1

// F32_AVX2(step, one): AVX2 + FMA, 32 floats a round into four accumulators, then 8 at a time,
// then one at a time.
#define F32_AVX2(step, one) \
	LOAD_ARGS; \
	VPCMPEQD Y15, Y15, Y15; \
	VPSRLD   $1, Y15, Y15; \
	VXORPS   Y0, Y0, Y0; \
	VXORPS   Y1, Y1, Y1; \
	VXORPS   Y2, Y2, Y2; \
	VXORPS   Y3, Y3, Y3; \
	CMPQ     CX, $32; \
	JB       by8; \
by32:; \
	step(Y4, 0, Y0); \
	step(Y5, 32, Y1); \
	step(Y6, 64, Y2); \
	step(Y7, 96, Y3); \
	ADDQ $128, SI; \
	ADDQ $128, DI; \
	SUBQ $32, CX; \
	CMPQ CX, $32; \
	JAE  by32; \
by8:; \
	CMPQ CX, $8; \
	JB   reduce; \
	step(Y4, 0, Y0); \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	SUBQ $8, CX; \
	JMP  by8; \
reduce:; \
	VADDPS Y1, Y0, Y0; \
	VADDPS Y3, Y2, Y2; \
	VADDPS Y2, Y0, Y0; \
	HSUMPS_Y0; \
	TESTQ  CX, CX; \
	JZ     done; \
by1:; \
	VMOVSS (SI), X1; \
	one; \
	ADDQ   $4, SI; \
	ADDQ   $4, DI; \
	DECQ   CX; \
	JNZ    by1; \
done:; \
	VMOVSS     X0, ret+48(FP); \
	VZEROUPPER; \
	RET

// F32_AVX512(step, tail): AVX-512, 64 floats a round into four accumulators, then 16 at a time,
// then one masked load for the last 0..15.
#define F32_AVX512(step, tail) \
	LOAD_ARGS; \
	VPTERNLOGD $0xff, Z15, Z15, Z15; \
	VPSRLD     $1, Z15, Z15; \
	VPXORD     Z0, Z0, Z0; \
	VPXORD     Z1, Z1, Z1; \
	VPXORD     Z2, Z2, Z2; \
	VPXORD     Z3, Z3, Z3; \
	CMPQ       CX, $64; \
	JB         by16; \
by64:; \
	step(Z4, 0, Z0); \
	step(Z5, 64, Z1); \
	step(Z6, 128, Z2); \
	step(Z7, 192, Z3); \
	ADDQ $256, SI; \
	ADDQ $256, DI; \
	SUBQ $64, CX; \
	CMPQ CX, $64; \
	JAE  by64; \
by16:; \
	CMPQ CX, $16; \
	JB   last; \
	step(Z4, 0, Z0); \
	ADDQ $64, SI; \
	ADDQ $64, DI; \
	SUBQ $16, CX; \
	JMP  by16; \
last:; \
	TESTQ     CX, CX; \
	JZ        reduce; \
	TAILMASK_AX; \
	KMOVW     AX, K1; \
	VMOVUPS.Z (SI), K1, Z4; \
	VMOVUPS.Z (DI), K1, Z5; \
	tail; \
reduce:; \
	VADDPS        Z1, Z0, Z0; \
	VADDPS        Z3, Z2, Z2; \
	VADDPS        Z2, Z0, Z0; \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS        Y1, Y0, Y0; \
	HSUMPS_Y0; \
	VMOVSS        X0, ret+48(FP); \
	VZEROUPPER; \
	RET

// func dotF32AVX2(a, b []float32) float32
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-52
	F32_AVX2(DOT_STEP, DOT_ONE)

// func l2F32AVX2(a, b []float32) float32
TEXT ·l2F32AVX2(SB), NOSPLIT, $0-52
	F32_AVX2(L2_STEP, L2_ONE)

// func l1F32AVX2(a, b []float32) float32
TEXT ·l1F32AVX2(SB), NOSPLIT, $0-52
	F32_AVX2(L1_STEP_Y, L1_ONE)

// func dotF32AVX512(a, b []float32) float32
TEXT ·dotF32AVX512(SB), NOSPLIT, $0-52
	F32_AVX512(DOT_STEP, DOT_TAIL)

// func l2F32AVX512(a, b []float32) float32
TEXT ·l2F32AVX512(SB), NOSPLIT, $0-52
	F32_AVX512(L2_STEP, L2_TAIL)

// func l1F32AVX512(a, b []float32) float32
TEXT ·l1F32AVX512(SB), NOSPLIT, $0-52
	F32_AVX512(L1_STEP_Z, L1_TAIL)

// ---- int8 and uint8 codes. A step step(A, B, T1, T2, and, M, P0, P1) takes a's bytes in A and
// b's in B, splits each 16-bit word into its low (even) byte and its high (odd) byte, multiplies
// the words pairwise and adds the even sums to P0, the odd ones to P1 (T1, T2 are scratch; M
// holds 0x00ff in every word, and is the instruction ANDing it: VPAND, or VPANDD for Z).

// UNPACK_U8 leaves r's even bytes in r's words and its odd bytes in t's, zero-extended;
// UNPACK_S8 the same with sign extension.
#define UNPACK_U8(r, t, and, M) \
	VPSRLW $8, r, t; \
	and    M, r, r

#define UNPACK_S8(r, t) \
	VPSRAW $8, r, t; \
	VPSLLW $8, r, r; \
	VPSRAW $8, r, r

#define DOT_S8_STEP(A, B, T1, T2, and, M, P0, P1) \
	UNPACK_S8(A, T1); \
	UNPACK_S8(B, T2); \
	VPMADDWD B, A, A; \
	VPMADDWD T2, T1, T1; \
	VPADDD   A, P0, P0; \
	VPADDD   T1, P1, P1

#define DOT_U8_STEP(A, B, T1, T2, and, M, P0, P1) \
	UNPACK_U8(A, T1, and, M); \
	UNPACK_U8(B, T2, and, M); \
	VPMADDWD B, A, A; \
	VPMADDWD T2, T1, T1; \
	VPADDD   A, P0, P0; \
	VPADDD   T1, P1, P1

// SQDIFF_STEP squares |a-b|, which max-min gives as an unsigned byte (max and min are
// VPMAXSB/VPMINSB for int8, VPMAXUB/VPMINUB for uint8).
#define SQDIFF_STEP(max, min, A, B, T1, and, M, P0, P1) \
	max      B, A, T1; \
	min      B, A, A; \
	VPSUBB   A, T1, A; \
	UNPACK_U8(A, T1, and, M); \
	VPMADDWD A, A, A; \
	VPMADDWD T1, T1, T1; \
	VPADDD   A, P0, P0; \
	VPADDD   T1, P1, P1

#define L2_S8_STEP(A, B, T1, T2, and, M, P0, P1) SQDIFF_STEP(VPMAXSB, VPMINSB, A, B, T1, and, M, P0, P1)
#define L2_U8_STEP(A, B, T1, T2, and, M, P0, P1) SQDIFF_STEP(VPMAXUB, VPMINUB, A, B, T1, and, M, P0, P1)

// One byte pair at (SI), (DI), sign- or zero-extended by load, added to AX.
#define DOT_ONE_B(load) \
	load  (SI), BX; \
	load  (DI), DX; \
	IMULL DX, BX; \
	ADDL  BX, AX

#define SQDIFF_ONE_B(load) \
	load  (SI), BX; \
	load  (DI), DX; \
	SUBL  DX, BX; \
	IMULL BX, BX; \
	ADDL  BX, AX

#define DOT_ONE_S8 DOT_ONE_B(MOVBQSX)
#define DOT_ONE_U8 DOT_ONE_B(MOVBQZX)
#define L2_ONE_S8 SQDIFF_ONE_B(MOVBQSX)
#define L2_ONE_U8 SQDIFF_ONE_B(MOVBQZX)

// BYTES_AVX2(step, one): 32 bytes a round, then 16 bytes once (VEX.128 operations, into
// accumulators of their own because they clear the upper lanes of their destination), then
// one byte at a time.
#define BYTES_AVX2(step, one) \
	LOAD_ARGS; \
	VPCMPEQW Y15, Y15, Y15; \
	VPSRLW   $8, Y15, Y15; \
	VPXOR    Y0, Y0, Y0; \
	VPXOR    Y1, Y1, Y1; \
	VPXOR    Y2, Y2, Y2; \
	VPXOR    Y3, Y3, Y3; \
	CMPQ     CX, $32; \
	JB       by16; \
by32:; \
	VMOVDQU (SI), Y4; \
	VMOVDQU (DI), Y6; \
	step(Y4, Y6, Y5, Y7, VPAND, Y15, Y0, Y1); \
	ADDQ    $32, SI; \
	ADDQ    $32, DI; \
	SUBQ    $32, CX; \
	CMPQ    CX, $32; \
	JAE     by32; \
by16:; \
	CMPQ    CX, $16; \
	JB      reduce; \
	VMOVDQU (SI), X4; \
	VMOVDQU (DI), X6; \
	step(X4, X6, X5, X7, VPAND, X15, X2, X3); \
	ADDQ    $16, SI; \
	ADDQ    $16, DI; \
	SUBQ    $16, CX; \
reduce:; \
	VPADDD Y1, Y0, Y0; \
	VPADDD Y3, Y2, Y2; \
	VPADDD Y2, Y0, Y0; \
	HSUMD_Y0_AX; \
	TESTQ  CX, CX; \
	JZ     done; \
by1:; \
	one; \
	INCQ SI; \
	INCQ DI; \
	DECQ CX; \
	JNZ  by1; \
done:; \
	MOVL       AX, ret+48(FP); \
	VZEROUPPER; \
	RET

// BYTES_AVX512(step): AVX-512 (F and BW), 64 bytes a round, then one masked load for the last
// 0..63 (zero bytes add nothing).
#define BYTES_AVX512(step) \
	LOAD_ARGS; \
	VPTERNLOGD $0xff, Z15, Z15, Z15; \
	VPSRLW     $8, Z15, Z15; \
	VPXORD     Z0, Z0, Z0; \
	VPXORD     Z1, Z1, Z1; \
	CMPQ       CX, $64; \
	JB         last; \
by64:; \
	VMOVDQU64 (SI), Z4; \
	VMOVDQU64 (DI), Z6; \
	step(Z4, Z6, Z5, Z7, VPANDD, Z15, Z0, Z1); \
	ADDQ      $64, SI; \
	ADDQ      $64, DI; \
	SUBQ      $64, CX; \
	CMPQ      CX, $64; \
	JAE       by64; \
last:; \
	TESTQ      CX, CX; \
	JZ         reduce; \
	TAILMASK_AX; \
	KMOVQ      AX, K1; \
	VMOVDQU8.Z (SI), K1, Z4; \
	VMOVDQU8.Z (DI), K1, Z6; \
	step(Z4, Z6, Z5, Z7, VPANDD, Z15, Z0, Z1); \
reduce:; \
	VPADDD     Z1, Z0, Z0; \
	HSUMD_Z0_AX; \
	MOVL       AX, ret+48(FP); \
	VZEROUPPER; \
	RET

// func dotI8AVX2(a, b []int8) int32
TEXT ·dotI8AVX2(SB), NOSPLIT, $0-52
	BYTES_AVX2(DOT_S8_STEP, DOT_ONE_S8)

// func l2I8AVX2(a, b []int8) int32
TEXT ·l2I8AVX2(SB), NOSPLIT, $0-52
	BYTES_AVX2(L2_S8_STEP, L2_ONE_S8)

// func dotU8AVX2(a, b []uint8) uint32
TEXT ·dotU8AVX2(SB), NOSPLIT, $0-52
	BYTES_AVX2(DOT_U8_STEP, DOT_ONE_U8)

// func l2U8AVX2(a, b []uint8) uint32
TEXT ·l2U8AVX2(SB), NOSPLIT, $0-52
	BYTES_AVX2(L2_U8_STEP, L2_ONE_U8)

// func dotI8AVX512(a, b []int8) int32
TEXT ·dotI8AVX512(SB), NOSPLIT, $0-52
	BYTES_AVX512(DOT_S8_STEP)

// func l2I8AVX512(a, b []int8) int32
TEXT ·l2I8AVX512(SB), NOSPLIT, $0-52
	BYTES_AVX512(L2_S8_STEP)

// func dotU8AVX512(a, b []uint8) uint32
TEXT ·dotU8AVX512(SB), NOSPLIT, $0-52
	BYTES_AVX512(DOT_U8_STEP)

// func l2U8AVX512(a, b []uint8) uint32
TEXT ·l2U8AVX512(SB), NOSPLIT, $0-52
	BYTES_AVX512(L2_U8_STEP)

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
