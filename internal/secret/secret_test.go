package secret

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tokenbatch/tokenbatch/internal/testenv"
)

func TestReadLine(t *testing.T) {
	in := strings.NewReader("first pin\r\nsecond\n")
	got, err := ReadLine(in)
	if err != nil || string(got) != "first pin" {
		t.Fatalf("ReadLine = %q, %v; want %q", got, err, "first pin")
	}
	// Nothing after the line was consumed.
	if rest, _ := io.ReadAll(in); string(rest) != "second\n" {
		t.Errorf("left %q, want %q", rest, "second\n")
	}
	if got, err := ReadLine(strings.NewReader("no newline")); err != nil || string(got) != "no newline" {
		t.Errorf("a last line without newline: %q, %v", got, err)
	}
	if _, err := ReadLine(strings.NewReader("")); !errors.Is(err, ErrEndOfInput) {
		t.Errorf("empty input: %v, want ErrEndOfInput", err)
	}
	if got, err := ReadLine(strings.NewReader("\n")); err != nil || len(got) != 0 {
		t.Errorf("an empty line: %q, %v", got, err)
	}
	long := strings.Repeat("s", MaxLine+1)
	if _, err := ReadLine(strings.NewReader(long)); err == nil || strings.Contains(err.Error(), "sss") {
		t.Errorf("an over-long line: %v, want an error that does not quote it", err)
	}
}

func TestPrompterPipe(t *testing.T) {
	var out bytes.Buffer
	// Like the AWS CLI: the prompt is written for a piped line too.
	got, err := Prompter{In: strings.NewReader("123456\n"), Out: &out, Line: true, LinePrompt: true}.Read("Code: ")
	if err != nil || string(got) != "123456" || out.String() != "Code: \n" {
		t.Errorf("LinePrompt: %q, %v, prompt %q", got, err, out.String())
	}
	out.Reset()
	got, err = Prompter{In: strings.NewReader("pin\n"), Out: &out, Line: true}.Read("PIN: ")
	if err != nil || string(got) != "pin" || out.Len() != 0 {
		t.Errorf("Line: %q, %v, prompt %q", got, err, out.String())
	}
	// Terminal only: a pipe is not read.
	in := strings.NewReader("pw\n")
	if _, err := (Prompter{In: in, Out: &out}).Read("Password: "); !errors.Is(err, ErrNoTerminal) {
		t.Errorf("terminal only, from a pipe: %v, want ErrNoTerminal", err)
	}
	if in.Len() != 3 {
		t.Error("terminal only: the pipe was read")
	}
}

// TestPrompterTerminal types a secret on a pseudo-terminal: it is read without echo,
// and echo is back on afterwards.
func TestPrompterTerminal(t *testing.T) {
	master, slave := openPTY(t)
	var out bytes.Buffer
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := Prompter{In: slave, Out: &out, Line: true}.Read("PIN: ")
		done <- result{b, err}
	}()
	// Type only once echo is off, as a person would after the prompt.
	for {
		tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
	}
	if _, err := master.Write([]byte("hunter2\n")); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || string(r.b) != "hunter2" {
		t.Fatalf("Read = %q, %v", r.b, r.err)
	}
	if out.String() != "PIN: \n" {
		t.Errorf("prompt %q", out.String())
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("echo was not restored: %v", err)
	}
	slave.Close()
	echoed, _ := io.ReadAll(master) // ends with EIO once the slave is closed
	if bytes.Contains(echoed, []byte("hunter2")) {
		t.Errorf("the terminal echoed the secret: %q", echoed)
	}
}

func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		testenv.Missing(t, "no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}
