package main

import "os"

// isTerminal reports whether a stream (stdin, stderr) is a terminal: a
// destructive command asks on one and wants --yes otherwise, a job draws
// a bar on one and prints lines otherwise. A character device is not
// enough: /dev/null, cron's usual stdin, is one too, and a prompt there
// would read an empty answer instead of asking for --yes.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	return isTTY(f)
}
