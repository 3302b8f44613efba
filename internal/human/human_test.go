package human

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 16_780_000: "16.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNS(t *testing.T) {
	if NS("") != "(root)" || NS("sub") != "sub" {
		t.Errorf("NS: %q %q", NS(""), NS("sub"))
	}
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n         int
		one, many string
		want      string
	}{{0, "thread", "threads", "0 threads"}, {1, "thread", "threads", "1 thread"}, {2, "index entry", "index entries", "2 index entries"}, {1, "index entry", "index entries", "1 index entry"}} {
		if got := Count(c.n, c.one, c.many); got != c.want {
			t.Errorf("Count(%d, %q, %q) = %q, want %q", c.n, c.one, c.many, got, c.want)
		}
	}
}

func TestGrouped(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1000: "-1,000", 100_000: "100,000", 1_234_567: "1,234,567", -12: "-12"} {
		if got := Grouped(n); got != want {
			t.Errorf("Grouped(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Grouped(uint64(1<<64 - 1)); got != "18,446,744,073,709,551,615" {
		t.Errorf("Grouped(max uint64) = %q", got)
	}
}
