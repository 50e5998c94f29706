// The Pg kernels (pgorder.go): sums in pgvector's order, bit for bit the portable ones. They
// need AVX2 and FMA and use 256-bit vectors only, whatever the CPU: the order is the one of 8
// float32 lanes. Each sum has one accumulator (a second, unrolled one would change the order),
// so the main loop runs at the latency of one add or FMA per 8 elements. Arguments as in
// kernels_amd64.s: a_base+0, a_len+8, b_base+24, results from +48.

#include "textflag.h"

// PG_SPLIT sets DX to the length of the 8-lane part, n − n%8, and CX to n%8; ZF is set when DX
// is zero.
#define PG_SPLIT \
	MOVQ CX, DX; \
	ANDQ $7, CX; \
	SUBQ CX, DX

// PG_FOLD8(Y, X, T): the 8 lanes of Y into the 4 of X, lane j + lane j+4 (T is scratch).
#define PG_FOLD8(Y, X, T) \
	VEXTRACTF128 $1, Y, T; \
	VADDPS       T, X, X

// PG_FOLD4(X, T): X's 4 lanes into its low lane, (0+2) + (1+3) (T is scratch).
#define PG_FOLD4(X, T) \
	VMOVHLPS  X, X, T; \
	VADDPS    T, X, X; \
	VMOVSHDUP X, T; \
	VADDSS    T, X, X

// PG_SUM(main, quad, one): one sum in X0/Y0. main adds 8 terms at (SI), (DI) to Y0, quad 4 to
// X0, one 1 to X0; Y15 holds 0x7fffffff in every lane (for L1).
#define PG_SUM(main, quad, one) \
	MOVQ     a_base+0(FP), SI; \
	MOVQ     b_base+24(FP), DI; \
	MOVQ     a_len+8(FP), CX; \
	VPCMPEQD Y15, Y15, Y15; \
	VPSRLD   $1, Y15, Y15; \
	VXORPS   Y0, Y0, Y0; \
	PG_SPLIT; \
	JZ       fold; \
by8:; \
	main; \
	ADDQ $32, SI; \
	ADDQ $32, DI; \
	SUBQ $8, DX; \
	JNZ  by8; \
fold:; \
	PG_FOLD8(Y0, X0, X1); \
	CMPQ CX, $4; \
	JB   fold4; \
	quad; \
	ADDQ $16, SI; \
	ADDQ $16, DI; \
	SUBQ $4, CX; \
fold4:; \
	PG_FOLD4(X0, X1); \
	TESTQ CX, CX; \
	JZ    done; \
by1:; \
	one; \
	ADDQ $4, SI; \
	ADDQ $4, DI; \
	DECQ CX; \
	JNZ  by1; \
done:; \
	VMOVSS X0, ret+48(FP); \
	VZEROUPPER; \
	RET

// Squared L2: d = a−b, then d·d rounded and added; the 4-element step fused.
#define PG_L2_MAIN VMOVUPS (SI), Y1; VSUBPS (DI), Y1, Y1; VMULPS Y1, Y1, Y1; VADDPS Y1, Y0, Y0
#define PG_L2_QUAD VMOVUPS (SI), X1; VSUBPS (DI), X1, X1; VFMADD231PS X1, X1, X0
#define PG_L2_ONE VMOVSS (SI), X1; VSUBSS (DI), X1, X1; VMULSS X1, X1, X1; VADDSS X1, X0, X0

// Inner product: a·b rounded and added; the 4-element step fused.
#define PG_DOT_MAIN VMOVUPS (SI), Y1; VMULPS (DI), Y1, Y1; VADDPS Y1, Y0, Y0
#define PG_DOT_QUAD VMOVUPS (SI), X1; VFMADD231PS (DI), X1, X0
#define PG_DOT_ONE VMOVSS (SI), X1; VMULSS (DI), X1, X1; VADDSS X1, X0, X0

// L1: |a−b| added.
#define PG_L1_MAIN VMOVUPS (SI), Y1; VSUBPS (DI), Y1, Y1; VANDPS Y15, Y1, Y1; VADDPS Y1, Y0, Y0
#define PG_L1_QUAD VMOVUPS (SI), X1; VSUBPS (DI), X1, X1; VANDPS X15, X1, X1; VADDPS X1, X0, X0
#define PG_L1_ONE VMOVSS (SI), X1; VSUBSS (DI), X1, X1; VANDPS X15, X1, X1; VADDSS X1, X0, X0

// func pgL2SquaredAVX2(a, b []float32) float32
TEXT ·pgL2SquaredAVX2(SB), NOSPLIT, $0-52
	PG_SUM(PG_L2_MAIN, PG_L2_QUAD, PG_L2_ONE)

// func pgDotAVX2(a, b []float32) float32
TEXT ·pgDotAVX2(SB), NOSPLIT, $0-52
	PG_SUM(PG_DOT_MAIN, PG_DOT_QUAD, PG_DOT_ONE)

// func pgL1AVX2(a, b []float32) float32
TEXT ·pgL1AVX2(SB), NOSPLIT, $0-52
	PG_SUM(PG_L1_MAIN, PG_L1_QUAD, PG_L1_ONE)

// func pgCosineSumsAVX2(a, b []float32) (dot, na, nb float32)
// Σ a·b in X0/Y0, Σ a² in X1/Y1, Σ b² in X2/Y2, each with its own FMAs throughout.
TEXT ·pgCosineSumsAVX2(SB), NOSPLIT, $0-60
	MOVQ   a_base+0(FP), SI
	MOVQ   b_base+24(FP), DI
	MOVQ   a_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	PG_SPLIT
	JZ     fold

by8:
	VMOVUPS     (SI), Y3
	VMOVUPS     (DI), Y4
	VFMADD231PS Y4, Y3, Y0
	VFMADD231PS Y3, Y3, Y1
	VFMADD231PS Y4, Y4, Y2
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, DX
	JNZ         by8

fold:
	PG_FOLD8(Y0, X0, X3)
	PG_FOLD8(Y1, X1, X3)
	PG_FOLD8(Y2, X2, X3)
	CMPQ CX, $4
	JB   fold4
	VMOVUPS     (SI), X3
	VMOVUPS     (DI), X4
	VFMADD231PS X4, X3, X0
	VFMADD231PS X3, X3, X1
	VFMADD231PS X4, X4, X2
	ADDQ        $16, SI
	ADDQ        $16, DI
	SUBQ        $4, CX

fold4:
	PG_FOLD4(X0, X3)
	PG_FOLD4(X1, X3)
	PG_FOLD4(X2, X3)
	TESTQ CX, CX
	JZ    done

by1:
	VMOVSS      (SI), X3
	VMOVSS      (DI), X4
	VFMADD231SS X4, X3, X0
	VFMADD231SS X3, X3, X1
	VFMADD231SS X4, X4, X2
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JNZ         by1

done:
	VMOVSS     X0, dot+48(FP)
	VMOVSS     X1, na+52(FP)
	VMOVSS     X2, nb+56(FP)
	VZEROUPPER
	RET
