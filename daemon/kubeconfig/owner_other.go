//go:build !unix

package kubeconfig

import (
	"io/fs"
	"os"
)

func keepOwner(*os.File, fs.FileInfo) error { return nil }

func linkCount(fs.FileInfo) uint64 { return 1 }

func syncDir(string) error { return nil } // folders cannot be synced here

func canWrite(string) bool { return true }
