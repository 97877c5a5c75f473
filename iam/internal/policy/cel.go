package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Limits on conditions. The cost limit bounds evaluation work whatever the
// expression (CEL's cost model counts comparisons, list and string
// operations); compilation rejects anything that does not type-check to bool.
const (
	MaxConditionLen   = 2048
	conditionCost     = 10000
	maxCachedPrograms = 20000
)

// Attributes are what a condition can see about a request.
type Attributes struct {
	Time          time.Time
	SourceIP      string
	Request       map[string]string
	Resource      string
	ResourceAttrs map[string]string
	PrincipalID   string
	PrincipalKind string
}

// Conditions compiles CEL conditions once and caches the programs by
// expression text. It is safe for concurrent use.
type Conditions struct {
	env *cel.Env
	mu  sync.Mutex
	// cache holds compiled programs, or the compile error.
	cache map[string]compiled
}

type compiled struct {
	prg cel.Program
	err error
}

// NewConditions builds the CEL environment conditions are checked in.
func NewConditions() (*Conditions, error) {
	env, err := cel.NewEnv(
		cel.Variable("request.time", cel.TimestampType),
		cel.Variable("request.source_ip", cel.StringType),
		cel.Variable("request.attributes", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("resource.name", cel.StringType),
		cel.Variable("resource.service", cel.StringType),
		cel.Variable("resource.attributes", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("principal.id", cel.StringType),
		cel.Variable("principal.kind", cel.StringType),
		cel.Function("ip_in_cidr",
			cel.Overload("ip_in_cidr_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(ipInCIDR))),
		cel.ParserExpressionSizeLimit(MaxConditionLen),
		cel.ParserRecursionLimit(50),
	)
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	return &Conditions{env: env, cache: map[string]compiled{}}, nil
}

func ipInCIDR(a, b ref.Val) ref.Val {
	ip, err := netip.ParseAddr(string(a.(types.String)))
	if err != nil {
		return types.NewErr("ip_in_cidr: bad address")
	}
	pfx, err := netip.ParsePrefix(string(b.(types.String)))
	if err != nil {
		return types.NewErr("ip_in_cidr: bad CIDR")
	}
	return types.Bool(pfx.Contains(ip.Unmap()))
}

// Check compiles expr and reports why it is not a valid condition.
func (c *Conditions) Check(expr string) error {
	_, err := c.Program(expr)
	return err
}

// Program returns the compiled program for expr, compiling it on first use.
func (c *Conditions) Program(expr string) (cel.Program, error) {
	c.mu.Lock()
	hit, ok := c.cache[expr]
	c.mu.Unlock()
	if ok {
		return hit.prg, hit.err
	}
	prg, err := c.compile(expr)
	c.mu.Lock()
	if len(c.cache) >= maxCachedPrograms {
		// Expressions are few in practice; a pathological number of
		// distinct ones costs recompiling, not memory.
		clear(c.cache)
	}
	c.cache[expr] = compiled{prg, err}
	c.mu.Unlock()
	return prg, err
}

func (c *Conditions) compile(expr string) (cel.Program, error) {
	if expr == "" {
		return nil, invalidf("condition expression is empty")
	}
	if len(expr) > MaxConditionLen {
		return nil, invalidf("condition longer than %d bytes", MaxConditionLen)
	}
	ast, iss := c.env.Compile(expr)
	if iss.Err() != nil {
		return nil, invalidf("condition does not compile: %s", clipN(iss.Err().Error(), 300))
	}
	if ast.OutputType() != cel.BoolType {
		return nil, invalidf("condition must be a bool expression, not %s", ast.OutputType())
	}
	prg, err := c.env.Program(ast, cel.CostLimit(conditionCost))
	if err != nil {
		return nil, invalidf("condition: %s", clipN(err.Error(), 300))
	}
	return prg, nil
}

// errNotBool is returned when a program yields something else (it cannot
// after type checking, but the evaluator does not rely on that).
var errNotBool = errors.New("condition did not yield a bool")

// Eval runs a compiled condition against attrs.
func Eval(prg cel.Program, a *Attributes) (bool, error) {
	ra, rs := a.Request, a.ResourceAttrs
	if ra == nil {
		ra = map[string]string{}
	}
	if rs == nil {
		rs = map[string]string{}
	}
	out, _, err := prg.Eval(map[string]any{
		"request.time":        a.Time,
		"request.source_ip":   a.SourceIP,
		"request.attributes":  ra,
		"resource.name":       a.Resource,
		"resource.service":    Service(a.Resource),
		"resource.attributes": rs,
		"principal.id":        a.PrincipalID,
		"principal.kind":      a.PrincipalKind,
	})
	if err != nil {
		return false, fmt.Errorf("condition: %w", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, errNotBool
	}
	return b, nil
}

func clipN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
