//go:build ignore

// zip writes a zip archive of files for make release, so that a machine
// with only Go (and unzip) needs no zip command.
//
//	go run scripts/zip.go -mtime UNIX_SECONDS OUT.zip FILE...
//
// Each file is stored deflated under its base name, with its permission
// bits and the modification time -mtime gives: the same files and time
// give the same archive, byte for byte.
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	mtime := flag.Int64("mtime", 0, "the modification time of every file, in seconds since 1970 (UTC)")
	flag.Parse()
	if flag.NArg() < 2 {
		fail("usage: zip -mtime UNIX_SECONDS OUT.zip FILE...")
	}
	out := flag.Arg(0)
	if err := write(out, time.Unix(*mtime, 0).UTC(), flag.Args()[1:]); err != nil {
		os.Remove(out)
		fail(err.Error())
	}
}

func write(out string, mtime time.Time, files []string) error {
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	w := zip.NewWriter(f)
	for _, name := range files {
		if err := add(w, name, mtime); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return f.Close()
}

func add(w *zip.Writer, name string, mtime time.Time) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", name)
	}
	header, err := zip.FileInfoHeader(info)
	if err != nil {
		return err
	}
	header.Name = filepath.Base(name)
	header.Method = zip.Deflate
	header.Modified = mtime
	dst, err := w.CreateHeader(header)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, in)
	return err
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "zip:", msg)
	os.Exit(1)
}
