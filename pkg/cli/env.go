package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// EnvName is the environment variable that sets flag name under prefix.
func EnvName(prefix, name string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// annotateEnv appends "[$PREFIX_NAME]" to every flag's usage.
func annotateEnv(fs *pflag.FlagSet, prefix string) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" || strings.Contains(f.Usage, "[$") {
			return
		}
		f.Usage += " [$" + EnvName(prefix, f.Name) + "]"
	})
}

// applyEnv sets every flag that was not given on the command line from its
// environment variable, if that is set.
func applyEnv(fs *pflag.FlagSet, prefix string, getenv func(string) string) error {
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil || f.Name == "help" {
			return
		}
		name := EnvName(prefix, f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			firstErr = fmt.Errorf("environment variable %s=%q: %w", name, v, err)
		}
	})
	return firstErr
}
