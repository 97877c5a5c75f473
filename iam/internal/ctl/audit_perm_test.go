package ctl

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	iamapp "github.com/photoncloud/core/iam/internal/app"
	"github.com/photoncloud/core/pkg/servertest"
)

// auditRecords runs `audit query -o json` with args and returns the records.
func auditRecords(t *testing.T, run func(string, string, ...string) (string, error), cfg string, args ...string) []map[string]any {
	t.Helper()
	out, err := run(cfg, "", append([]string{"audit", "query", "-o", "json", "--all"}, args...)...)
	if err != nil {
		t.Fatalf("audit query %v: %v\n%s", args, err, out)
	}
	var page struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("audit query output %q: %v", out, err)
	}
	return page.Records
}

// TestAuditPermissionsBootstrapAndPrune: the first administrator's
// creation is in the log; reading the log is the engine's decision
// (iam.audit.read via roles/iam.auditor), not membership of the admins
// group; pruning needs iam.audit.prune, works only through a signed
// checkpoint, keeps the chain verifiable and is itself recorded, as is a
// refused attempt.
func TestAuditPermissionsBootstrapAndPrune(t *testing.T) {
	addr := servertest.FreeAddr(t)
	base := "http://" + addr
	servertest.RunCommand(t, iamapp.Command("test", "test"), addr, "--listen-addr", addr, "--data-dir", t.TempDir(),
		"--issuer", base, "--bootstrap-admin-password", "bootstrap admin secret", "--log-level", "error",
		"--audit-checkpoint-interval", "50ms")
	servertest.WaitReady(t, addr)
	admin, pat := t.TempDir(), t.TempDir()
	run := func(cfgDir, stdin string, args ...string) (string, error) {
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
		return out.String() + errOut.String(), err
	}
	must := func(cfg, stdin string, args ...string) string {
		t.Helper()
		out, err := run(cfg, stdin, args...)
		if err != nil {
			t.Fatalf("iamctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	must(admin, "bootstrap admin secret\n", "login", "-u", "admin")

	// Bootstrap: the administrator, the admins group, the membership and
	// the owner binding, all attributed to IAM itself.
	for _, action := range []string{"iam.users.create", "iam.groups.create", "iam.groups.addMember", "iam.bindings.create"} {
		recs := auditRecords(t, run, admin, "--action", action)
		if len(recs) != 1 || recs[0]["principal"] != "iam" {
			t.Fatalf("bootstrap %s: %v", action, recs)
		}
	}

	var user struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(must(admin, "a fine password\n", "user", "create", "pat", "-o", "json")), &user); err != nil || user.ID == "" {
		t.Fatalf("user create: %v", err)
	}
	must(pat, "a fine password\n", "login", "-u", "pat")
	if out, err := run(pat, "", "audit", "verify"); err == nil || !strings.Contains(out+err.Error(), "permission_denied") {
		t.Fatalf("verify without iam.audit.read: %v %s", err, out)
	}
	must(admin, "", "binding", "create", "--resource", "root", "--role", "roles/iam.auditor", "--member", "user:"+user.ID)
	if out := must(pat, "", "audit", "verify"); !strings.Contains(out, "OK") {
		t.Fatalf("auditor verify: %s", out)
	}
	if recs := auditRecords(t, run, pat, "--action", "iam.users.create"); len(recs) != 2 {
		t.Fatalf("auditor query: %v", recs)
	}
	if out, err := run(pat, "", "audit", "prune"); err == nil || !strings.Contains(out+err.Error(), "permission_denied") {
		t.Fatalf("auditor prune: %v %s", err, out)
	}
	if out, err := run(admin, "", "audit", "prune", "--through", "2"); err == nil || !strings.Contains(out+err.Error(), "failed_precondition") {
		t.Fatalf("prune at a sequence without checkpoint: %v %s", err, out)
	}
	if recs := auditRecords(t, run, pat, "--action", "iam.audit.prune", "--outcome", "failure"); len(recs) != 1 ||
		!strings.HasPrefix(recs[0]["principal"].(string), "user:usr_") {
		t.Fatalf("refused prune not recorded: %v", recs)
	}
	// The auditor's denied prune is a deny decision in the log (decisions
	// are committed by a background writer, so wait for it).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		recs := auditRecords(t, run, pat, "--action", "iam.audit.prune", "--outcome", "deny", "--principal", "user:"+user.ID)
		if len(recs) == 1 {
			break
		}
		if len(recs) > 1 || time.Now().After(deadline) {
			t.Fatalf("denied prune decision: %v", recs)
		}
	}
	// Checkpoints are signed every 50ms once the head moves.
	var pruned struct {
		Pruned     string `json:"pruned"`
		ThroughSeq string `json:"throughSeq"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := run(admin, "", "audit", "prune", "-o", "json")
		if err == nil {
			if err := json.Unmarshal([]byte(out), &pruned); err != nil {
				t.Fatalf("prune output %q: %v", out, err)
			}
			break
		}
		if !strings.Contains(err.Error(), "failed_precondition") || time.Now().After(deadline) {
			t.Fatalf("prune: %v %s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pruned.Pruned == "" || pruned.Pruned == "0" || pruned.Pruned != pruned.ThroughSeq {
		t.Fatalf("prune result: %+v", pruned)
	}
	if out := must(pat, "", "audit", "verify"); !strings.Contains(out, "OK") {
		t.Fatalf("verify after prune: %s", out)
	}
	// Earlier records may be gone now; the prune's own record is not.
	recs := auditRecords(t, run, pat, "--action", "iam.audit.prune", "--outcome", "success")
	if len(recs) != 1 || !strings.HasPrefix(recs[0]["principal"].(string), "user:usr_") || recs[0]["principal"] == "user:"+user.ID ||
		!strings.Contains(recs[0]["reason"].(string), "pruned "+pruned.Pruned+" records") {
		t.Fatalf("prune record: %v", recs)
	}
}
