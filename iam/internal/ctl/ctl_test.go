package ctl

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	iamapp "github.com/photoncloud/core/iam/internal/app"
	"github.com/photoncloud/core/pkg/servertest"
)

// TestIAMCtl drives iamctl against a real in-process IAM: login with the
// password on stdin, the cached session's permissions, whoami, creating a
// service account and key, table and JSON output, logout.
func TestIAMCtl(t *testing.T) {
	addr := servertest.FreeAddr(t)
	base := "http://" + addr
	servertest.RunCommand(t, iamapp.Command("test", "test"), addr, "--listen-addr", addr, "--data-dir", t.TempDir(),
		"--issuer", base, "--bootstrap-admin-password", "bootstrap admin secret", "--log-level", "error")
	servertest.WaitReady(t, addr)
	cfgDir := t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := Command(strings.NewReader(stdin), &out, &errOut, func(k string) string {
			switch k {
			case "IAMCTL_SERVER":
				return base
			case "IAMCTL_CONFIG_DIR":
				return cfgDir
			}
			return ""
		})
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), err
	}

	if _, err := run("", "whoami"); err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Fatalf("whoami before login: %v", err)
	}
	if _, err := run("wrong password\n", "login", "-u", "admin"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if _, err := run("bootstrap admin secret\n", "login", "-u", "admin"); err != nil {
		t.Fatalf("login: %v", err)
	}
	fi, err := os.Stat(filepath.Join(cfgDir, "session.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v; want mode 0600", fi, err)
	}
	out, err := run("", "whoami", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var who map[string]any
	if err := json.Unmarshal([]byte(out), &who); err != nil || who["name"] != "admin" {
		t.Fatalf("whoami json = %s (%v)", out, err)
	}
	out, err = run("", "sa", "create", "deployer", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var sa map[string]any
	_ = json.Unmarshal([]byte(out), &sa)
	saID, _ := sa["id"].(string)
	out, err = run("", "key", "create", saID, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]any
	_ = json.Unmarshal([]byte(out), &key)
	if s, _ := key["clientSecret"].(string); !strings.HasPrefix(s, "pcsk_") || key["clientId"] != saID {
		t.Fatalf("key create = %s", out)
	}
	out, err = run("a fine password\n", "user", "create", "pat", "--display-name", "Pat")
	if err != nil || !strings.Contains(out, "pat") {
		t.Fatalf("user create: %s %v", out, err)
	}
	out, err = run("", "user", "list", "--filter", "name=p*", "--all")
	if err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, "Pat") || strings.Contains(out, "admin") {
		t.Fatalf("user list: %s %v", out, err)
	}
	if _, err := run("", "user", "create", "Bad Name"); err == nil {
		t.Fatal("invalid name accepted")
	}
	if _, err := run("", "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("", "whoami"); err == nil {
		t.Fatal("whoami after logout succeeded")
	}
}
