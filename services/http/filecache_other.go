//go:build !linux

package http

import "io/fs"

// fileStamp is empty where the change time is not known the Linux way:
// nothing is cached there.
type fileStamp struct{}

func stampOf(fs.FileInfo) (fileStamp, bool) { return fileStamp{}, false }

// dirID is unknown there: the directory is opened on every request.
type dirID struct{}

func dirIDOf(string) (dirID, bool) { return dirID{}, false }
