//go:build !linux

package ftp

import "os"

// replaceFile puts a finished upload (tmp) in place of dst.
func replaceFile(root *os.Root, tmp, dst string) error { return root.Rename(tmp, dst) }
