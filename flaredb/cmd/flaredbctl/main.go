// Command flaredbctl is the command-line client of FlareDB: key-value
// reads and writes, scans and compare-and-swap, and region, store and
// cluster inspection.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/photoncloud/core/flaredb/internal/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := ctl.Command(os.Stdout, os.Stderr, os.Getenv).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "flaredbctl: %v\n", err)
		os.Exit(1)
	}
}
