package reader

import (
	"bytes"
	"os"
	"runtime"
	"testing"
	"time"
)

func FuzzDbg(f *testing.F) {
	f.Add([]byte("user_name,serial_number,authentication_code1,authentication_code2\nalice,GAHT12345678,123456,234567\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			ReadManifest("f.csv", bytes.NewReader(data), func(r Record) error { return nil })
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			os.WriteFile("/tmp/fz/hang.bin", data, 0o644)
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			os.WriteFile("/tmp/fz/stack.txt", buf[:n], 0o644)
			panic("hang")
		}
	})
}
