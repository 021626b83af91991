//go:build !unix

package executor

import "os"

// lockDir opens the directory; other systems get no lock (tokenbatch targets Unix).
func lockDir(dir string) (*os.File, error) { return os.Open(dir) }

func unlockDir(f *os.File) error { return f.Close() }
