package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/photoncloud/core/iam/internal/store"
)

// RolePrefix starts every role name.
const RolePrefix = "roles/"

// Owner is the built-in role holding every permission.
const Owner = RolePrefix + "owner"

// serviceCatalog lists, per service, the permissions of its viewer role and
// those its editor role adds; its admin role is "<service>.*".
var serviceCatalog = []struct {
	service string
	viewer  []string
	editor  []string
}{
	{"chainfire", []string{"chainfire.kv.read", "chainfire.lease.read", "chainfire.cluster.read"},
		[]string{"chainfire.kv.write", "chainfire.kv.delete", "chainfire.lease.write"}},
	{"flaredb", []string{"flaredb.kv.read", "flaredb.regions.read"},
		[]string{"flaredb.kv.write", "flaredb.kv.delete"}},
	{"iam", []string{
		"iam.roles.get", "iam.roles.list", "iam.bindings.get", "iam.bindings.list",
		"iam.denyPolicies.get", "iam.denyPolicies.list",
	}, []string{"iam.roles.set", "iam.bindings.set", "iam.denyPolicies.set"}},
}

// Permissions IAM itself checks.
const (
	PermRolesGet        = "iam.roles.get"
	PermRolesSet        = "iam.roles.set"
	PermBindingsGet     = "iam.bindings.get"
	PermBindingsSet     = "iam.bindings.set"
	PermBindingsSetAny  = "iam.bindings.setAny"
	PermDenyPoliciesGet = "iam.denyPolicies.get"
	PermDenyPoliciesSet = "iam.denyPolicies.set"
	PermAuthzCheck      = "iam.authz.check"
	PermAuthzExplain    = "iam.authz.explain"
	// PermAuditRead (query, verify, export) and PermAuditPrune (retention)
	// are checked on Root.
	PermAuditRead  = "iam.audit.read"
	PermAuditPrune = "iam.audit.prune"
)

// BuiltinRoles returns the built-in roles, sorted by name. They are
// platform-wide (no parent) and cannot be changed.
func BuiltinRoles() []*store.Role {
	out := []*store.Role{
		{Name: Owner, Title: "Owner", Description: "Every permission.", Permissions: []string{"*"}},
		{Name: RolePrefix + "iam.authorizer", Title: "Authorizer",
			Description: "For trusted services: ask and explain decisions about other principals.",
			Permissions: []string{PermAuthzCheck, PermAuthzExplain}},
		{Name: RolePrefix + "iam.auditor", Title: "Auditor",
			Description: "Read and verify the audit log (not prune it).", Permissions: []string{PermAuditRead}},
	}
	for _, c := range serviceCatalog {
		out = append(out,
			&store.Role{Name: RolePrefix + c.service + ".viewer", Title: c.service + " viewer",
				Description: "Read " + c.service + ".", Permissions: slices.Clone(c.viewer)},
			&store.Role{Name: RolePrefix + c.service + ".editor", Title: c.service + " editor",
				Description: "Read and change " + c.service + ".",
				Permissions: append(slices.Clone(c.viewer), c.editor...)},
			&store.Role{Name: RolePrefix + c.service + ".admin", Title: c.service + " admin",
				Description: "Every " + c.service + " permission.", Permissions: []string{c.service + ".*"}},
		)
	}
	slices.SortFunc(out, func(a, b *store.Role) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// IsBuiltinRole reports whether name is reserved for a built-in role.
func IsBuiltinRole(name string) bool {
	for _, r := range BuiltinRoles() {
		if r.Name == name {
			return true
		}
	}
	return false
}

// ValidateRoleName checks "roles/<id>", the id 3-64 bytes of
// [a-zA-Z0-9._-].
func ValidateRoleName(name string) error {
	id, ok := strings.CutPrefix(name, RolePrefix)
	if !ok || len(id) < 3 || len(id) > 64 {
		return invalidf("role name must be %s<id> with an id of 3-64 characters", RolePrefix)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalidf("role id has a character outside [a-zA-Z0-9._-]")
		}
	}
	return nil
}

// Limits on policy objects.
const (
	MaxRolePermissions = 256
	MaxMembers         = 256
	MaxDenyPermissions = 256
	MaxTitle           = 128
	MaxDescription     = 1024
)

// ValidateRole checks a custom role.
func ValidateRole(r *store.Role) error {
	if err := ValidateRoleName(r.Name); err != nil {
		return err
	}
	if IsBuiltinRole(r.Name) {
		return invalidf("role %s is built in", r.Name)
	}
	if r.Parent != "" {
		if err := ValidateResource(r.Parent); err != nil {
			return fmt.Errorf("parent: %w", err)
		}
	}
	if len(r.Title) > MaxTitle || len(r.Description) > MaxDescription {
		return invalidf("title or description too long")
	}
	if len(r.Permissions) == 0 || len(r.Permissions) > MaxRolePermissions {
		return invalidf("a role needs 1-%d permissions", MaxRolePermissions)
	}
	seen := map[string]bool{}
	for _, p := range r.Permissions {
		if err := ValidatePermissionPattern(p); err != nil {
			return err
		}
		if seen[p] {
			return invalidf("permission %s listed twice", p)
		}
		seen[p] = true
	}
	return nil
}
