package store

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// Condition is a CEL expression guarding a binding or deny policy.
type Condition struct {
	Expression string `json:"expression"`
	Title      string `json:"title,omitempty"`
}

// Role is a custom role: a named set of permissions (or permission
// patterns), grantable at its parent resource and below (anywhere when
// Parent is empty). Built-in roles are not stored.
type Role struct {
	Name        string   `json:"name"`
	Parent      string   `json:"parent,omitempty"`
	Title       string   `json:"title,omitempty"`
	Description string   `json:"description,omitempty"`
	Permissions []string `json:"permissions"`
	Meta
}

// Binding grants Role to Members on Resource and below.
type Binding struct {
	ID        string     `json:"id"`
	Resource  string     `json:"resource"`
	Role      string     `json:"role"`
	Members   []string   `json:"members"`
	Condition *Condition `json:"condition,omitempty"`
	Meta
}

// DenyPolicy forbids permissions to principals on Resource and below.
type DenyPolicy struct {
	ID                  string     `json:"id"`
	Resource            string     `json:"resource"`
	Description         string     `json:"description,omitempty"`
	DeniedPrincipals    []string   `json:"denied_principals"`
	ExceptionPrincipals []string   `json:"exception_principals,omitempty"`
	DeniedPermissions   []string   `json:"denied_permissions"`
	Condition           *Condition `json:"condition,omitempty"`
	Meta
}

// PolicySnapshot is every stored policy object at one revision.
type PolicySnapshot struct {
	Revision uint64
	Roles    []*Role
	Bindings []*Binding
	Denies   []*DenyPolicy
}

// PolicyChange describes one administrative policy write, for hooks that
// record it (the audit log) in the same transaction.
type PolicyChange struct {
	// Actor is the member string of the caller ("user:usr_..."), empty for
	// IAM itself (bootstrap).
	Actor string
	// Action is the permission-like verb, e.g. "iam.bindings.create".
	Action string
	// Resource is the resource the object is attached to (a role's parent).
	Resource string
	// Target is the id or name of the object written.
	Target string
	// SourceIP and RequestID describe the request, when known.
	SourceIP  string
	RequestID string
	// Revision is the policy revision the write commits.
	Revision uint64
}

// PolicyHook runs inside a policy write transaction after the change has
// been applied; an error aborts the whole write.
type PolicyHook func(tx *bolt.Tx, c PolicyChange) error

// PolicyStore persists roles, bindings and deny policies. Every write goes
// through WritePolicy, which runs one transaction, bumps the policy revision
// (the consistency token) and calls the hook.
type PolicyStore interface {
	// PolicySnapshot reads everything at one revision.
	PolicySnapshot(ctx context.Context) (*PolicySnapshot, error)
	// PolicyRevision returns the current revision.
	PolicyRevision(ctx context.Context) (uint64, error)
	// WritePolicy runs fn in one write transaction. fn sees the revision
	// before the write; when it returns nil the revision is incremented,
	// the hook called and everything committed together. It returns the
	// new revision.
	WritePolicy(ctx context.Context, change PolicyChange, fn func(w *PolicyWriter) error) (uint64, error)
	// Reads of single objects and per-resource listings.
	GetRole(ctx context.Context, name string) (*Role, error)
	GetBinding(ctx context.Context, id string) (*Binding, error)
	GetDenyPolicy(ctx context.Context, id string) (*DenyPolicy, error)
	ListRoles(ctx context.Context, parent string) ([]*Role, error)
	ListBindings(ctx context.Context, resource string) ([]*Binding, error)
	ListDenyPolicies(ctx context.Context, resource string) ([]*DenyPolicy, error)
}
