package cache

import (
	"strconv"
	"sync"
	"testing"
)

func TestNewRejectsBadSize(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, -1} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			t.Parallel()
			if _, err := New[string, int](size); err == nil {
				t.Fatalf("New(%d) succeeded, want error", size)
			}
		})
	}
}

func TestLRUCountsAndEvicts(t *testing.T) {
	t.Parallel()
	c, err := New[string, int](2)
	if err != nil {
		t.Fatal(err)
	}
	c.Add("a", 1)
	c.Add("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %d, %v; want 1, true", v, ok)
	}
	c.Add("c", 3) // evicts b, the least recently used
	if _, ok := c.Get("b"); ok {
		t.Fatal("b still cached after eviction")
	}
	if v, ok := c.Get("c"); !ok || v != 3 {
		t.Fatalf("Get(c) = %d, %v; want 3, true", v, ok)
	}
	got := c.Stats()
	want := Stats{Hits: 2, Misses: 1, Evictions: 1, Len: 2, Size: 2}
	if got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	c.Remove("a")
	c.Purge()
	if c.Len() != 0 {
		t.Fatalf("Len after Purge = %d", c.Len())
	}
}

func TestLRUConcurrent(t *testing.T) {
	t.Parallel()
	c, err := New[int, int](64)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				c.Add(i%100, g)
				c.Get(i % 100)
			}
		}(g)
	}
	wg.Wait()
	s := c.Stats()
	if s.Hits+s.Misses != 8000 {
		t.Fatalf("hits+misses = %d, want 8000", s.Hits+s.Misses)
	}
	if s.Len > 64 {
		t.Fatalf("Len = %d exceeds size 64", s.Len)
	}
}

func BenchmarkGetHit(b *testing.B) {
	c, _ := New[string, int](1024)
	key := "SELECT o.id, o.total FROM sales.orders AS o WHERE o.customer_id = @p1"
	c.Add(key, 1)
	b.ReportAllocs()
	for b.Loop() {
		c.Get(key)
	}
}
