module github.com/photoncloud/core/flaredb

go 1.26.0

replace github.com/photoncloud/core/proto => ../proto

replace github.com/photoncloud/core/pkg => ../pkg

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/photoncloud/core/pkg v0.0.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.1.0 // indirect
)
