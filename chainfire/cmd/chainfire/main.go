// Command chainfire runs a Chainfire member: PhotonCloud's coordination
// service, which speaks etcd's v3 API.
package main

import (
	"github.com/photoncloud/core/chainfire/internal/app"
	"github.com/photoncloud/core/pkg/cli"
)

// Set by the linker (-X) in release builds.
var (
	version  = "dev"
	revision = "unknown"
)

func main() { cli.Main(app.Command(version, revision)) }
