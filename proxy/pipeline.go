package proxy

import (
	"bufio"
	"context"
	"errors"
	"slices"
)

// The interception pipeline. A statement vecgate intercepts — a simple Query (interceptQuery)
// or an extended-protocol execution group (interceptGroup) — runs the same steps, in this order:
//
//  1. wait until every earlier request has been answered (waitIdle);
//  2. check the session's state: the statement's text read as the planner reads it (client
//     encoding UTF8, standard_conforming_strings on), the transaction status (blockState);
//  3. capture the upstream side (the answers to vecgate's statements come to it);
//  4. in a transaction block, set vecgate's savepoint and check the block (enterBlock);
//  5. the table check, and read-your-writes (wait for the indexes to reach the session's writes);
//  6. what the protocol needs before the rounds (the group's Parse, vecgate's prepared rewrite);
//  7. outside a block, the answer from memory when the session may have it (fastAnswer);
//  8. else the rewrite's rounds, widening while too few rows come back (rounds);
//  9. release the savepoint (finishBlock) and deliver the answer.
//
// Any step may end the interception instead: forwarded (the client's original goes to Postgres,
// which is always correct), interrupted (a cancel or statement_timeout: cancel.go), or with an
// error of the upstream connection. What differs between the protocols is behind protocol.

// protocol is what an interception does differently for a simple Query and an execution group.
type protocol interface {
	// current is why the statement cannot be intercepted in the session's state now (its text
	// or literals may not read as the planner read them), or "". Called after waitIdle.
	current(s *session) Reason
	// prepare runs what must precede the rounds once the checks passed; a non-nil outcome ends
	// the interception there.
	prepare(p *interception) *outcome
	// shape says whether the client asked for a description of the answer, and the result
	// formats it asked for.
	shape() (describe bool, formats []int16)
	// fastHead is what the client gets before an answer from memory (after interception.pre).
	fastHead() [][]byte
	// round sends one round upstream: next is the job's statement (simple) or the candidate keys
	// (extended), and collects the answer up to its ReadyForQuery (as exchange).
	round(p *interception, next string) (msgs [][]byte, rows int, failed, ok bool)
	// interrupted ends an interrupted interception with what Postgres would have answered;
	// round is the interrupted round's answer, if one ran.
	interrupted(p *interception, round [][]byte) error
}

// interception is one intercepted statement on its way through the pipeline.
type interception struct {
	s     *session
	w     *bufio.Writer
	job   Job
	proto protocol
	ctx   context.Context
	block bool     // in a transaction block: the rounds run under vecgate's savepoint
	pre   [][]byte // messages the client gets before the statement's answer (the group's ParseComplete)
	// readable: the session's table check for this statement allows answers from memory, so
	// the description Postgres gives its rewrite may be kept for them (rememberDesc).
	readable bool
}

// outcome ends an interception: handled when the client got its answer, otherwise the
// original is forwarded; err when the upstream connection failed.
type outcome struct {
	handled bool
	err     error
}

// guarded runs f, the handling of one client statement vecgate may intercept; a panic in it (a
// planner or proxy bug) is logged and the statement forwarded (recovered).
func (s *session) guarded(w *bufio.Writer, f func() (bool, error)) (handled bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.recovered(w, r)
			handled, err = false, nil
		}
	}()
	return f()
}

// intercept runs job through the pipeline (steps above). It reports false when the client's
// original must be forwarded instead.
func (s *session) intercept(w *bufio.Writer, job Job, proto protocol) (bool, error) {
	if err := w.Flush(); err != nil {
		return false, err
	}
	if !s.waitIdle() {
		s.forwarded(ReasonCopy)
		return false, nil
	}
	if reason := proto.current(s); reason != "" {
		s.forwarded(reason)
		return false, nil
	}
	block, allowed := blockState(s.State())
	if !allowed {
		s.forwarded(ReasonTransaction)
		return false, nil
	}
	ctx, end := s.beginIntercept()
	defer end()
	s.beginCapture()
	defer s.endCapture()
	p := &interception{s: s, w: w, job: job, proto: proto, ctx: ctx, block: block}
	o := p.checks()
	if o == nil {
		o = proto.prepare(p)
	}
	if o == nil && !block {
		o = p.fast()
	}
	if o == nil {
		o = p.rewrite()
	}
	return o.handled, o.err
}

// checks enters the transaction block and runs the table check and read-your-writes (steps 4
// and 5). The checks run before anything of the client's is sent: the client's statement is
// needed if it is forwarded after all.
func (p *interception) checks() *outcome {
	s, w := p.s, p.w
	if p.block {
		if ok, err := s.enterBlock(w); !ok || err != nil {
			if err == nil && s.interrupted() {
				return p.interrupted(nil)
			}
			s.forwarded(ReasonTransaction)
			return &outcome{err: err}
		}
	}
	lsn := s.positionWithCheck(w, p.job)
	whole, readable := s.tableCheck(w, p.job)
	p.readable = readable
	if s.interrupted() {
		return p.interrupted(nil)
	}
	if !whole {
		return p.forward(ReasonTableCheck)
	}
	s.armTimeout(s.statementTimeout(p.job))
	if !s.readYourWrites(p.ctx, w, p.job, lsn) {
		if s.interrupted() {
			return p.interrupted(nil)
		}
		return p.forward(ReasonLagging)
	}
	return nil
}

// fast answers from memory when the session may have it (step 7); nil when it does not.
func (p *interception) fast() *outcome {
	s := p.s
	describe, formats := p.proto.shape()
	msgs, ok := s.fastAnswer(p.ctx, p.w, p.job, describe, formats)
	if s.interrupted() {
		s.answered = false
		return p.interrupted(nil)
	}
	if !ok {
		return nil
	}
	s.intercepted(PathFast)
	s.endCapture()
	return &outcome{true, s.deliver(slices.Concat(p.pre, p.proto.fastHead(), msgs, [][]byte{readyIdle})...)}
}

// rewrite runs the rewrite's rounds and delivers the last one's answer (steps 8 and 9).
func (p *interception) rewrite() *outcome {
	s := p.s
	last, err := s.rounds(p.ctx, p.job, func(next string) ([][]byte, int, bool, bool) { return p.proto.round(p, next) })
	if errors.Is(err, errInterrupted) {
		return p.interrupted(last)
	}
	if err != nil {
		return &outcome{err: err}
	}
	if last == nil { // rounds counted the reason
		return p.forward("")
	}
	if last, err = s.finishBlock(p.w, p.block, last); err != nil {
		return &outcome{err: err}
	}
	s.endCapture()
	s.intercepted(PathRewrite)
	s.answered = true // ran through the rewrite: no function of the session's (ranUpstream)
	if describe, formats := p.proto.shape(); describe && p.readable {
		s.rememberDesc(p.job, formats, last)
	}
	return &outcome{true, s.deliver(slices.Concat(p.pre, last)...)}
}

// forward gives the statement back to Postgres, counted under reason ("": already counted):
// the savepoint is rolled back, and what the client's request was already answered with (pre)
// is delivered.
func (p *interception) forward(reason Reason) *outcome {
	if reason != "" {
		p.s.forwarded(reason)
	}
	if err := p.s.abandonBlock(p.w, p.block); err != nil {
		return &outcome{err: err}
	}
	p.s.endCapture()
	return &outcome{false, p.s.deliver(p.pre...)}
}

// interrupted ends an interrupted interception (cancel.go); the client has its answer.
func (p *interception) interrupted(round [][]byte) *outcome {
	return &outcome{true, p.proto.interrupted(p, round)}
}

// simpleQuery is the simple protocol's side of an interception: each round is a Query.
type simpleQuery struct{}

func (simpleQuery) current(s *session) Reason {
	switch {
	case !s.utf8Now():
		return ReasonClientEncoding
	case !s.stdStringsNow():
		return ReasonStdStrings
	}
	return ""
}

func (simpleQuery) prepare(*interception) *outcome { return nil }
func (simpleQuery) shape() (bool, []int16)         { return true, nil }
func (simpleQuery) fastHead() [][]byte             { return nil }
func (simpleQuery) round(p *interception, sql string) ([][]byte, int, bool, bool) {
	return p.s.exchange(p.w, sql)
}

func (simpleQuery) interrupted(p *interception, round [][]byte) error {
	return p.s.endInterrupted(p.w, slices.Concat(p.pre, answerBefore(round))...)
}
