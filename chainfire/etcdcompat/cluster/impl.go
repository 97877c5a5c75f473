package cluster

import (
	"fmt"
	"os"
)

// Impl names an implementation of etcd's v3 API.
type Impl string

// The implementations the harness can start.
const (
	Chainfire Impl = "chainfire"
	Etcd      Impl = "etcd"
)

// ImplEnv is the environment variable that chooses the implementation under
// test.
const ImplEnv = "COMPAT_IMPL"

// ImplFromEnv returns the implementation named by COMPAT_IMPL (Chainfire when
// it is unset or empty).
func ImplFromEnv() (Impl, error) {
	switch v := os.Getenv(ImplEnv); v {
	case "", string(Chainfire):
		return Chainfire, nil
	case string(Etcd):
		return Etcd, nil
	default:
		return "", fmt.Errorf("%s=%q: want %q or %q", ImplEnv, v, Chainfire, Etcd)
	}
}

// readyPath is the HTTP path, on the client URL, that answers 200 once the
// member can serve linearizable requests.
func (i Impl) readyPath() string {
	if i == Etcd {
		return "/health"
	}
	return "/readyz"
}

func (i Impl) binEnv() string {
	if i == Etcd {
		return "ETCD_BIN"
	}
	return "CHAINFIRE_BIN"
}
