// Command iam runs PhotonCloud's identity and access management
// service: authentication, authorization and audit.
package main

import (
	"github.com/photoncloud/core/iam/internal/app"
	"github.com/photoncloud/core/pkg/cli"
)

// Set by the linker (-X) in release builds.
var (
	version  = "dev"
	revision = "unknown"
)

func main() { cli.Main(app.Command(version, revision)) }
