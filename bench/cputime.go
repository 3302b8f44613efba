package main

// usage is a process's resource use so far: CPU time, user and system, and
// page faults, minor (the page was in memory) and major (read from disk).
type usage struct {
	userNs, sysNs  int64
	minflt, majflt int64
}

// cpuNs is the CPU time, user and system.
func (u usage) cpuNs() int64 { return u.userNs + u.sysNs }
