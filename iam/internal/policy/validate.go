package policy

import (
	"unicode/utf8"

	"github.com/photoncloud/core/iam/internal/store"
)

func (c *Conditions) validateCondition(cond *store.Condition) error {
	if cond == nil {
		return nil
	}
	if len(cond.Title) > MaxTitle || !utf8.ValidString(cond.Title) {
		return invalidf("condition title is too long or not UTF-8")
	}
	return c.Check(cond.Expression)
}

func validateMembers(field string, ms []string, allowAll bool, min int) error {
	if len(ms) < min || len(ms) > MaxMembers {
		return invalidf("%s needs %d-%d entries", field, min, MaxMembers)
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m] {
			return invalidf("%s lists %q twice", field, clip(m))
		}
		seen[m] = true
		if allowAll && m == AllPrincipals {
			continue
		}
		if err := ValidateMember(m); err != nil {
			return err
		}
	}
	return nil
}

// ValidateBinding checks a binding's own syntax: resource, role name,
// members and condition. Whether the role exists and may be granted there is
// the caller's business (it needs the role set).
func (c *Conditions) ValidateBinding(b *store.Binding) error {
	if err := ValidateResource(b.Resource); err != nil {
		return err
	}
	if err := ValidateRoleName(b.Role); err != nil {
		return err
	}
	if err := validateMembers("members", b.Members, false, 1); err != nil {
		return err
	}
	return c.validateCondition(b.Condition)
}

// ValidateDenyPolicy checks a deny policy.
func (c *Conditions) ValidateDenyPolicy(d *store.DenyPolicy) error {
	if err := ValidateResource(d.Resource); err != nil {
		return err
	}
	if len(d.Description) > MaxDescription || !utf8.ValidString(d.Description) {
		return invalidf("description too long or not UTF-8")
	}
	if err := validateMembers("denied_principals", d.DeniedPrincipals, true, 1); err != nil {
		return err
	}
	if err := validateMembers("exception_principals", d.ExceptionPrincipals, false, 0); err != nil {
		return err
	}
	if len(d.DeniedPermissions) == 0 || len(d.DeniedPermissions) > MaxDenyPermissions {
		return invalidf("denied_permissions needs 1-%d entries", MaxDenyPermissions)
	}
	for _, p := range d.DeniedPermissions {
		if err := ValidatePermissionPattern(p); err != nil {
			return err
		}
	}
	return c.validateCondition(d.Condition)
}
