package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// writePathFile writes a bbolt file with buckets "b" and "c" of 300 keys
// each (a branch root over leaves; c's keys end in a "c": a page of
// another bucket holding the very keys a page id's own child began and
// ended with passes the descent, see write_path.go) and returns its
// bytes, its page size, and b's root.
func writePathFile(t *testing.T, path string) (data []byte, ps int, root uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"b", "c"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := b.Put(fmt.Appendf(nil, "key-%04d%s", i, strings.TrimPrefix(name, "b")), bytes.Repeat([]byte{'v'}, 100)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket([]byte("b")).Root()); return nil })
	}
	ps = db.Info().PageSize
	if err := errors.Join(err, db.Close()); err != nil {
		t.Fatal(err)
	}
	if data, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	return data, ps, root
}

// branchElems returns the keys, the offsets of the keys and of the page
// ids, and the children of branch page id.
func branchElems(t *testing.T, data []byte, ps int, id uint64) (keys [][]byte, keyAt, idAt []int, kids []uint64) {
	t.Helper()
	base := int(id) * ps
	if f := binary.LittleEndian.Uint16(data[base+8:]); f != branchPageFlag {
		t.Fatalf("page %d has flags %#x, want a branch page", id, f)
	}
	for i := range int(binary.LittleEndian.Uint16(data[base+10:])) {
		e := base + pageHeaderSize + i*elemSize
		pos, ksize := int(binary.LittleEndian.Uint32(data[e:])), int(binary.LittleEndian.Uint32(data[e+4:]))
		keys = append(keys, data[e+pos:e+pos+ksize])
		keyAt = append(keyAt, e+pos)
		idAt = append(idAt, e+8)
		kids = append(kids, binary.LittleEndian.Uint64(data[e+8:]))
	}
	return keys, keyAt, idAt, kids
}

// TestWritePathRefusesDamageOnTheKeysPath: bucket b's root branch page
// damaged under an open handle (a read-write Open would have refused it)
// in each way the checked descent looks for; a Put (or a Delete) of a key
// whose path meets it returns ErrCorrupt before bbolt writes, and the
// same write on the sound file passes.
func TestWritePathRefusesDamageOnTheKeysPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clean, ps, root := writePathFile(t, filepath.Join(dir, "clean.db"))
	keys, keyAt, idAt, kids := branchElems(t, clean, ps, root)
	if len(kids) < 4 {
		t.Fatalf("b's root has %d children, want 4 or more", len(kids))
	}
	const at = 1 // the child the key below lies in
	key := append(bytes.Clone(keys[at]), '!')
	var cLeaf uint64
	db, err := bolt.Open(filepath.Join(dir, "clean.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		_, _, _, ck := branchElems(t, clean, ps, uint64(tx.Bucket([]byte("c")).Root()))
		cLeaf = ck[at]
		return nil
	})
	_ = db.Close()
	setID := func(i int, to uint64) func([]byte) {
		return func(d []byte) { binary.LittleEndian.PutUint64(d[idAt[i]:], to) }
	}
	for _, tc := range []struct {
		name   string
		damage func([]byte)
		del    bool
		want   string
	}{
		{"sound", func([]byte) {}, false, ""},
		{"sound, delete", func([]byte) {}, true, ""},
		{"id names the root", setID(at, root), false, "a cycle of pages"},
		{"id names a sibling", setID(at, kids[at+1]), false, "is not the key its parent branch page names it by"},
		{"id names bucket c's leaf", setID(at, cLeaf), false, "is not the key its parent branch page names it by"},
		{"id past the file", setID(at, 1<<20), false, "outside the file's pages"},
		{"next key lowered into the child", func(d []byte) {
			// key-0NNN of element at+1 lowered by ten: still above
			// element at's key, below its child's last key.
			k := d[keyAt[at+1]+len(keys[at+1])-2 : keyAt[at+1]+len(keys[at+1])]
			n := int(k[0]-'0')*10 + int(k[1]-'0') - 10
			copy(k, fmt.Sprintf("%02d", n))
		}, false, "is not below its parent's next key"},
		{"overflow raised", func(d []byte) { binary.LittleEndian.PutUint32(d[int(kids[at])*ps+12:], 1) }, false, "longer than its"},
		{"neighbour's id damaged, put", setID(at+1, cLeaf), false, ""},
		{"neighbour's id damaged, delete", setID(at+1, cLeaf), true, "is not the key its parent branch page names it by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".db")
			if err := os.WriteFile(path, clean, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			damaged := bytes.Clone(clean)
			tc.damage(damaged)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteAt(damaged, 0) // under the open handle: its map sees it
			if err := errors.Join(err, f.Close()); err != nil {
				t.Fatal(err)
			}
			tx, err := db.Begin(true)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			v := NewBoltView(tx)
			if tc.del {
				err = v.Del(Path{[]byte("b")}, keys[at])
			} else {
				err = v.Put(Path{[]byte("b")}, key, []byte("new"))
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("write = %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("write = %v, want ErrCorrupt saying %q", err, tc.want)
			}
		})
	}
}
