package ctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/photoncloud/core/iam/internal/iamtest"
)

// TestPolicyCommands drives role, binding, deny, authorize and explain
// against a real IAM, checking what each prints and that decisions follow
// the policy changes made through iamctl itself.
func TestPolicyCommands(t *testing.T) {
	e := iamtest.Start(t, "--log-level", "error")
	cfgDir := t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := Command(strings.NewReader(stdin), &out, &errOut, func(k string) string {
			switch k {
			case "IAMCTL_SERVER":
				return e.Base
			case "IAMCTL_CONFIG_DIR":
				return cfgDir
			}
			return ""
		})
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String() + errOut.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run("", args...)
		if err != nil {
			t.Fatalf("iamctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if _, err := run(iamtest.AdminPassword+"\n", "login", "-u", "admin"); err != nil {
		t.Fatal(err)
	}
	bob, _, _ := e.ServiceAccount("bob")

	must("role", "create", "roles/kv.reader", "--parent", "orgs/acme", "-p", "flaredb.kv.read,flaredb.regions.read")
	if out := must("role", "list", "--parent", "orgs/acme"); !strings.Contains(out, "roles/kv.reader") || !strings.Contains(out, "roles/owner") {
		t.Fatalf("role list:\n%s", out)
	}
	out := must("binding", "create", "--resource", "orgs/acme/projects/web", "--role", "roles/kv.reader", "-m", bob, "-o", "json")
	if !strings.Contains(out, "consistency token: ") {
		t.Fatalf("no consistency token printed:\n%s", out)
	}
	var b map[string]any
	if err := json.Unmarshal([]byte(out[:strings.Index(out, "consistency token")]), &b); err != nil || b["id"] == "" {
		t.Fatalf("binding json: %v\n%s", err, out)
	}
	id, _ := b["id"].(string)
	ask := []string{"--principal", bob, "-p", "flaredb.kv.read", "-r", "orgs/acme/projects/web/flaredb/kv/x"}
	if out := must(append([]string{"authorize"}, ask...)...); !strings.Contains(out, "ALLOW") || !strings.Contains(out, id) {
		t.Fatalf("authorize:\n%s", out)
	}
	if _, err := run("", append([]string{"authorize", "--exit-code"}, ask...)...); err != nil {
		t.Fatalf("authorize --exit-code on ALLOW: %v", err)
	}
	must("deny", "create", "--resource", "orgs/acme", "--principal", bob, "-p", "flaredb.*", "--description", "freeze")
	if _, err := run("", append([]string{"authorize", "--exit-code"}, ask...)...); !errors.Is(err, errDenied) {
		t.Fatalf("authorize --exit-code on DENY: %v", err)
	}
	out = must(append([]string{"explain"}, ask...)...)
	if !strings.Contains(out, "DENY (denied_by_policy)") || !strings.Contains(out, "deny policy applies") || !strings.Contains(out, "would allow, but a deny policy applies") {
		t.Fatalf("explain:\n%s", out)
	}
	if out := must("deny", "list", "orgs/acme"); !strings.Contains(out, "flaredb.*") {
		t.Fatalf("deny list:\n%s", out)
	}
	must("binding", "delete", id)
	if out := must("binding", "list", "orgs/acme/projects/web"); strings.Contains(out, id) {
		t.Fatalf("binding still listed:\n%s", out)
	}
	if _, err := run("", "binding", "create", "--resource", "orgs/acme", "--role", "roles/owner", "-m", "bob"); err == nil ||
		!strings.Contains(err.Error(), "invalid_argument") {
		t.Fatalf("malformed member: %v", err)
	}
	if _, err := run("", "authorize", "-p", "flaredb.kv.read"); err == nil {
		t.Fatal("authorize without --resource succeeded")
	}
}
