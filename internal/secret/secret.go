// Package secret reads secrets typed by a person: MFA codes, TPM authValues and OATH
// passwords. A terminal is read without echo; a pipe, where the caller allows it, one
// line at a time. Nothing read is ever echoed, logged or quoted in an error.
package secret

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// MaxLine bounds a line read from a pipe; no secret read here comes near it.
const MaxLine = 1024

// ErrNoTerminal is returned when the secret may only come from a terminal and there
// is none.
var ErrNoTerminal = errors.New("no terminal to read from")

// ErrEndOfInput is returned when a pipe ends before a line was read.
var ErrEndOfInput = errors.New("end of input")

// Prompter reads secrets, each after a prompt.
type Prompter struct {
	In  io.Reader // nil: os.Stdin
	Out io.Writer // receives the prompt (standard error); nil: none
	// Line reads one line of In when In is not a terminal. Without it, only a
	// terminal is read.
	Line bool
	// LinePrompt writes the prompt before such a line too, as the AWS CLI does.
	LinePrompt bool
	// TTY reads /dev/tty when In is not a terminal and Line is off, for when standard
	// input carries data.
	TTY bool
}

// Read prompts and returns the secret, without its line ending; the caller zeroes
// it. A pipe that ends before anything is read gives ErrEndOfInput.
func (p Prompter) Read(prompt string) ([]byte, error) {
	in := p.In
	if in == nil {
		in = os.Stdin
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return p.readTerminal(f, prompt)
	}
	if p.Line {
		if p.LinePrompt {
			p.prompt(prompt)
			defer p.prompt("\n")
		}
		return ReadLine(in)
	}
	if !p.TTY {
		return nil, ErrNoTerminal
	}
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return nil, ErrNoTerminal
	}
	defer tty.Close()
	return p.readTerminal(tty, prompt)
}

func (p Prompter) readTerminal(f *os.File, prompt string) ([]byte, error) {
	p.prompt(prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	// The typed newline was not echoed either.
	p.prompt("\n")
	if err != nil {
		clear(b)
		return nil, err
	}
	return b, nil
}

func (p Prompter) prompt(s string) {
	if p.Out != nil {
		fmt.Fprint(p.Out, s)
	}
}

// IsTerminal reports whether rw, a reader or a writer, is a terminal.
func IsTerminal(rw any) bool {
	f, ok := rw.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ReadLine reads up to a newline one byte at a time, so that nothing after the line
// is consumed from a standard input that carries more. A trailing "\r" is dropped.
func ReadLine(r io.Reader) ([]byte, error) {
	// Room for the longest line up front: growing would leave copies behind.
	line := make([]byte, 0, MaxLine)
	var c [1]byte
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				break
			}
			if len(line) == MaxLine {
				clear(line[:cap(line)])
				return nil, fmt.Errorf("the line is over %d bytes", MaxLine)
			}
			line = append(line, c[0])
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return nil, ErrEndOfInput
			}
			break
		}
		if err != nil {
			clear(line[:cap(line)])
			return nil, err
		}
	}
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line[len(line)-1] = 0
		line = line[:len(line)-1]
	}
	return line, nil
}
