// Package crashpoint lets a test stop the server between two steps that a crash could
// separate, so that it can kill it there (kill -9) and prove that start-up and the next
// request finish or undo what was half done.
//
// A point is a name the code passes to Here between two such steps. When the environment
// variable FILESERVER_CRASHPOINT names it, the goroutine that reaches it writes
// "crashpoint NAME reached" to standard error and blocks forever; everything else carries
// on, as a process that is about to be killed would. Unset (always, outside tests), Here
// costs one environment lookup: it is only called on the steps of a commit.
package crashpoint

import (
	"fmt"
	"os"
)

// Env is the variable that names the point to stop at.
const Env = "FILESERVER_CRASHPOINT"

// Here stops the calling goroutine for good when FILESERVER_CRASHPOINT is name.
func Here(name string) {
	if os.Getenv(Env) != name {
		return
	}
	fmt.Fprintf(os.Stderr, "crashpoint %s reached\n", name)
	select {}
}
