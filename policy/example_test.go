package policy_test

import (
	"fmt"

	"github.com/tdsproxy/tdsproxy/policy"
)

func Example() {
	pol, err := policy.Compile(policy.Source{Name: "policy.yaml", Data: []byte(`
logins:
  - name: reporter
    roles: [reporting]
roles:
  reporting:
    rules:
      - allow: [read, session]
        objects: ["*.sales.*"]
`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, sql := range []string{
		"SET NOCOUNT ON SELECT * FROM sales.orders",
		"SELECT * FROM sales.orders; UPDATE sales.orders SET total = 0",
	} {
		req := policy.Request{Kind: policy.RequestBatch, Text: sql, Login: "reporter", Database: "shop"}
		c, _ := policy.Classify(req)
		d := pol.Decide(req, c)
		if d.Allowed {
			fmt.Println("allowed:", sql)
			continue
		}
		number, class, msg := d.Error()
		fmt.Println(number, class, msg)
	}
	// Output:
	// allowed: SET NOCOUNT ON SELECT * FROM sales.orders
	// 229 14 policy: role "reporting" may not UPDATE sales.orders (no rule allows it; default of role reporting, policy.yaml:6)
}
