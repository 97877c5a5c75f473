package ctl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	iamapp "github.com/photoncloud/core/iam/internal/app"
	"github.com/photoncloud/core/pkg/servertest"
)

// TestAuditCommands drives `iamctl audit` against a real IAM: a failed and
// a successful login, a user creation by the admin and the service
// account's key are all in the log, attributed, with no secret in any
// record; the chain verifies; export streams JSON lines and resumes.
func TestAuditCommands(t *testing.T) {
	addr := servertest.FreeAddr(t)
	base := "http://" + addr
	servertest.RunCommand(t, iamapp.Command("test", "test"), addr, "--listen-addr", addr, "--data-dir", t.TempDir(),
		"--issuer", base, "--bootstrap-admin-password", "bootstrap admin secret", "--log-level", "error",
		"--audit-allow-decisions", "all")
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
	if _, err := run("wrong password\n", "login", "-u", "admin"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if _, err := run("bootstrap admin secret\n", "login", "-u", "admin"); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := run("a fine password\n", "user", "create", "pat"); err != nil {
		t.Fatal(err)
	}
	out, err := run("", "audit", "query", "--action", "iam.users.create", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Records []map[string]any `json:"records"`
	}
	// The bootstrap administrator's creation (by iam) and pat's.
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Records) != 2 {
		t.Fatalf("query users.create: %s (%v)", out, err)
	}
	if p, _ := page.Records[1]["principal"].(string); !strings.HasPrefix(p, "user:usr_") {
		t.Fatalf("user creation not attributed to the admin: %v", page.Records[1])
	}
	out, err = run("", "audit", "query", "--action", "iam.auth.login", "--outcome", "failure")
	if err != nil || !strings.Contains(out, "user:admin") {
		t.Fatalf("failed login not recorded: %s %v", out, err)
	}
	if _, err := run("", "audit", "query", "--outcome", "perhaps"); err == nil || !strings.Contains(err.Error(), "invalid_argument") {
		t.Fatalf("bad outcome: %v", err)
	}
	out, err = run("", "audit", "verify")
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("verify: %s %v", out, err)
	}
	out, err = run("", "audit", "export")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("export: %d lines", n)
	}
	for _, secret := range []string{"bootstrap admin secret", "a fine password", "pcrt_", "eyJ", "$argon2"} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q in exported audit log", secret)
		}
	}
	// Each audit call is itself an authorization decision the log may
	// record meanwhile, so the resumed export extends the first one.
	rest, err := run("", "audit", "export", "--from", "2")
	_, tail, _ := strings.Cut(out, "\n")
	if err != nil || !strings.HasPrefix(rest, tail) {
		t.Fatalf("resumed export is not the first export from record 2 (%v):\n%s\n---\n%s", err, rest, tail)
	}
}
