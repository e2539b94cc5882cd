package harness

import "syscall"

// Own process group (so Stop reaches grandchildren), and SIGKILL if the test
// binary dies without running its cleanups (e.g. a go test -timeout panic).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
