package sqlengine

import "testing"

func BenchmarkNumbers(b *testing.B) {
	benchBatch(b, benchDB(b), "SELECT COUNT(*) FROM dbo.numbers WHERE n <= 41")
}
