module github.com/ckpt-go/ckpt/powerfs

go 1.26.8

require (
	github.com/ckpt-go/ckpt v0.0.0
	github.com/hanwen/go-fuse/v2 v2.12.1
)

require (
	github.com/klauspost/cpuid/v2 v2.2.10 // indirect
	github.com/oklog/ulid/v2 v2.1.2 // indirect
	github.com/tidwall/btree v1.8.2 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	go.etcd.io/bbolt v1.5.0
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

// A test-only module: the core never depends on FUSE. It uses the core
// from the same clone (go.work joins them for the tests as well).
replace github.com/ckpt-go/ckpt => ../
