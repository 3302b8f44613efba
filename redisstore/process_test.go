package redisstore

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestCompareAndSetAcrossProcesses runs two worker processes (this test
// binary re-executed) that each extend one thread with compare-and-set
// puts as fast as they can. The thread must end as one unforked chain
// holding exactly the puts the workers saw succeed.
func TestCompareAndSetAcrossProcesses(t *testing.T) {
	srv := sharedServer(t)
	prefix := uniquePrefix()
	const attempts = 300
	type result struct{ wins, conflicts int }
	var results []result
	var cmds []*exec.Cmd
	var outs []*bufio.Scanner
	var gos []io.WriteCloser
	for w := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCASWorker$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CKPT_CAS_WORKER=1", "CKPT_CAS_ADDR="+srv.Addr(), "CKPT_CAS_PREFIX="+prefix,
			"CKPT_CAS_ATTEMPTS="+strconv.Itoa(attempts), "CKPT_CAS_NAME="+strconv.Itoa(w))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		outs = append(outs, bufio.NewScanner(out))
		gos = append(gos, in)
	}
	// Both workers are connected and waiting: start them together, so
	// their puts interleave.
	for i := range cmds {
		for outs[i].Scan() && outs[i].Text() != "READY" {
		}
	}
	for _, in := range gos {
		fmt.Fprintln(in, "GO")
		in.Close()
	}
	for i, cmd := range cmds {
		var r result
		found := false
		for outs[i].Scan() {
			if _, err := fmt.Sscanf(outs[i].Text(), "RESULT wins=%d conflicts=%d", &r.wins, &r.conflicts); err == nil {
				found = true
			}
		}
		if err := cmd.Wait(); err != nil || !found {
			t.Fatalf("worker %d: %v (result line found: %v)", i, err, found)
		}
		results = append(results, r)
	}
	s := newTestStore(t, srv, Options{Prefix: prefix})
	var chain []*ckpt.Tuple
	for tp, err := range s.List(bg, ckpt.ListOptions{ThreadID: "race"}) {
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, tp)
	}
	wins := results[0].wins + results[1].wins
	if len(chain) != wins {
		t.Fatalf("thread holds %d checkpoints, workers won %d puts", len(chain), wins)
	}
	for i, tp := range chain {
		var parent string
		if tp.ParentConfig != nil {
			parent = tp.ParentConfig.CheckpointID
		}
		want := ""
		if i+1 < len(chain) {
			want = chain[i+1].Config.CheckpointID
		}
		if parent != want {
			t.Fatalf("fork: checkpoint %s has parent %q, the previous checkpoint is %q", tp.Config.CheckpointID, parent, want)
		}
	}
	if results[0].conflicts+results[1].conflicts == 0 {
		t.Fatalf("no conflict in %d interleaved attempts: the workers did not race", 2*attempts)
	}
	t.Logf("workers: %+v; chain of %d", results, len(chain))
}

// TestHelperCASWorker is the worker process of the test above; run alone
// it does nothing.
func TestHelperCASWorker(t *testing.T) {
	if os.Getenv("CKPT_CAS_WORKER") != "1" {
		t.Skip("worker process of TestCompareAndSetAcrossProcesses")
	}
	attempts, _ := strconv.Atoi(os.Getenv("CKPT_CAS_ATTEMPTS"))
	s, err := New(bg, Options{Addr: os.Getenv("CKPT_CAS_ADDR"), Prefix: os.Getenv("CKPT_CAS_PREFIX")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cas := ckpt.WithWriteOptions(bg, ckpt.WriteOptions{IfHead: true})
	if err := s.Client().Ping(bg).Err(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	wins, conflicts := 0, 0
	for range attempts {
		parent := ckpt.Config{ThreadID: "race"}
		tp, err := s.GetTuple(bg, parent)
		switch {
		case err == nil:
			parent = tp.Config
		case !errors.Is(err, ckpt.ErrNotFound):
			t.Fatal(err)
		}
		_, err = s.Put(cas, parent, ckpt.Checkpoint{}, ckpt.Metadata{"worker": os.Getenv("CKPT_CAS_NAME")}, nil)
		switch {
		case err == nil:
			wins++
		case errors.Is(err, ckpt.ErrConflict):
			conflicts++
		default:
			t.Fatal(err)
		}
	}
	fmt.Println(strings.Join([]string{"RESULT", "wins=" + strconv.Itoa(wins), "conflicts=" + strconv.Itoa(conflicts)}, " "))
}
