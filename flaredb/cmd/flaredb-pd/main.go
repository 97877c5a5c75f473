// Command flaredb-pd runs FlareDB's placement driver: it keeps the cluster
// id, the id allocator, the stores and the region routing table in
// Chainfire, and tells region leaders where to add or remove replicas.
package main

import (
	"github.com/photoncloud/core/flaredb/internal/pd/pdapp"
	"github.com/photoncloud/core/pkg/cli"
)

// Set by the linker (-X) in release builds.
var (
	version  = "dev"
	revision = "unknown"
)

func main() { cli.Main(pdapp.Command(version, revision)) }
