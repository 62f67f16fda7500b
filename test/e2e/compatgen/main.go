// Command compatgen renders the results of a real-client matrix run
// (test/e2e, written when TDSPROXY_COMPAT_OUT is set) as Markdown.
//
//	TDSPROXY_COMPAT_OUT=/tmp/compat.json go test ./test/e2e/
//	go run ./test/e2e/compatgen -in /tmp/compat.json -out docs/compatibility.md
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tdsproxy/tdsproxy/test/e2e/compat"
)

func main() {
	in := flag.String("in", os.Getenv("TDSPROXY_COMPAT_OUT"), "results JSON written by the e2e tests (default $TDSPROXY_COMPAT_OUT)")
	out := flag.String("out", "docs/compatibility.md", "Markdown file to write (- for stdout)")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "compatgen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" {
		return fmt.Errorf("no input: give -in FILE or set TDSPROXY_COMPAT_OUT")
	}
	r, err := compat.Read(in)
	if err != nil {
		return err
	}
	if len(r.Results) == 0 {
		return fmt.Errorf("%s has no results: did the e2e tests run?", in)
	}
	md := compat.Markdown(r)
	if out == "-" {
		_, err = os.Stdout.Write(md)
		return err
	}
	if err := os.WriteFile(out, md, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	s := compat.Summary(r.Results)
	fmt.Printf("compatgen: wrote %s: %d passed, %d failed, %d not applicable, %d skipped\n",
		out, s[compat.Pass], s[compat.Fail], s[compat.NotApplicable], s[compat.Skipped])
	return nil
}
