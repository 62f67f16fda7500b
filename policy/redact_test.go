package policy

import "testing"

func TestAuditText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		in     string
		redact bool
		want   string
	}{
		{"literals kept", "SELECT * FROM t WHERE a = 'x' AND b = 1", false, "SELECT * FROM t WHERE a = 'x' AND b = 1"},
		{"literals redacted", "SELECT * FROM t WHERE a = N'x''y' AND b = 1.5e3 AND c = 0x1F AND d = $2", true,
			"SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?"},
		{"identifiers and comments stay", "SELECT [it's] FROM \"a'b\" -- 'c'", true, "SELECT [it's] FROM \"a'b\" -- 'c'"},
		{"create login password", "CREATE LOGIN x WITH PASSWORD = 'S3cret!', CHECK_POLICY = OFF", false,
			"CREATE LOGIN x WITH PASSWORD = '***', CHECK_POLICY = OFF"},
		{"alter login old password", "ALTER LOGIN x WITH PASSWORD = 'new' OLD_PASSWORD = 'old'", false,
			"ALTER LOGIN x WITH PASSWORD = '***' OLD_PASSWORD = 'old'"},
		{"hashed password", "CREATE LOGIN x WITH PASSWORD = 0x0200AB HASHED", false, "CREATE LOGIN x WITH PASSWORD = '***' HASHED"},
		{"decryption by password", "OPEN SYMMETRIC KEY k DECRYPTION BY PASSWORD = N'pw'", false, "OPEN SYMMETRIC KEY k DECRYPTION BY PASSWORD = '***'"},
		{"credential secret", "CREATE CREDENTIAL c WITH IDENTITY = 'id', SECRET = 'sk'", false, "CREATE CREDENTIAL c WITH IDENTITY = 'id', SECRET = '***'"},
		{"sp_addlogin", "EXEC sp_addlogin 'bob', 'pw'", false, "EXEC sp_addlogin '***', '***'"},
		{"sp_setapprole bracketed", "EXEC [sys].[sp_setapprole] 'r', 'pw'", true, "EXEC [sys].[sp_setapprole] '***', '***'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := AuditText(tc.in, tc.redact); got != tc.want {
				t.Errorf("AuditText(%q, %v) = %q, want %q", tc.in, tc.redact, got, tc.want)
			}
		})
	}
}
