package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTTY asks the kernel for the terminal settings, as golang.org/x/term
// does: only a terminal has them.
func isTTY(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
