package policy

import (
	"strings"
)

// Describe renders the statement for explain output and test diagnostics,
// e.g. "update: update sales.orders, select dbo.customers".
func (s *Statement) Describe() string {
	var sb strings.Builder
	sb.WriteString(s.Kind.String())
	if s.Type != "" {
		sb.WriteString("(" + s.Type + ")")
	}
	if s.Dynamic {
		sb.WriteString(" [dynamic]")
	}
	if s.Deferred {
		sb.WriteString(" [deferred]")
	}
	sb.WriteString(":")
	for i, a := range s.Accesses {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(" " + a.Action.String())
		if a.Object != nil {
			sb.WriteString(" " + a.Object.String())
			if a.Object.Temp {
				sb.WriteString("(temp)")
			}
		}
		if a.Reason != "" {
			sb.WriteString(" (" + a.Reason + ")")
		}
	}
	return sb.String()
}

// Describe renders every statement, one per line.
func (c *Classification) Describe() string {
	lines := make([]string, len(c.Statements))
	for i := range c.Statements {
		lines[i] = c.Statements[i].Describe()
	}
	return strings.Join(lines, "\n")
}
