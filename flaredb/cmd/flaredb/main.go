// Command flaredb runs a FlareDB store: one node of PhotonCloud's scalable
// key-value store, hosting replicas of key-space regions.
package main

import (
	"github.com/photoncloud/core/flaredb/internal/app"
	"github.com/photoncloud/core/pkg/cli"
)

// Set by the linker (-X) in release builds.
var (
	version  = "dev"
	revision = "unknown"
)

func main() { cli.Main(app.Command(version, revision)) }
