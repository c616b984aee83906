package spool

import (
	"errors"
	"os"
	"syscall"
)

// datasync flushes f's data, and of its metadata only what reading the data
// back needs. Appends into space written ahead change no metadata, so it
// spares them the journal commit an fsync waits for.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
