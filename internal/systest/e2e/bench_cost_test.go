package e2e

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// benchPID is one program of a path, by name.
type benchPID struct {
	name string
	pid  int
}

// procSample is what /proc says a process has spent so far.
type procSample struct {
	ticks    int64 // utime + stime, in clock ticks (USER_HZ, 100 a second on Linux)
	switches int64 // voluntary + involuntary context switches, over every thread
	ok       bool
}

// procCost is what one process spent over the measured bulk rounds.
type procCost struct {
	name            string
	ticks, switches int64
}

// sampleProcs reads each process's CPU time and context switches.
func sampleProcs(procs []benchPID) []procSample {
	out := make([]procSample, len(procs))
	for i, p := range procs {
		out[i] = readProc(p.pid)
	}
	return out
}

func readProc(pid int) procSample {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}
	}
	// The fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return procSample{}
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return procSample{}
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of proc(5)
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return procSample{}
	}
	s := procSample{ticks: utime + stime, ok: true}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		st, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "voluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				s.switches += n
			} else if v, ok := strings.CutPrefix(l, "nonvoluntary_ctxt_switches:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				s.switches += n
			}
		}
	}
	return s
}

// addCost adds one bulk round's cost of each process.
func (p *benchPath) addCost(before, after []procSample, bytes int64) {
	if len(p.procs) == 0 {
		return
	}
	if p.cost == nil {
		for _, pr := range p.procs {
			p.cost = append(p.cost, &procCost{name: pr.name})
		}
	}
	for i := range p.procs {
		if before[i].ok && after[i].ok {
			p.cost[i].ticks += after[i].ticks - before[i].ticks
			p.cost[i].switches += after[i].switches - before[i].switches
		}
	}
	p.bytes += bytes
}

// printCosts writes, for each path whose processes were sampled, each
// process's CPU time and context switches per MB of bulk transfer.
func printCosts(w io.Writer, paths []*benchPath) {
	for _, p := range paths {
		if len(p.cost) == 0 || p.bytes == 0 {
			continue
		}
		mb := float64(p.bytes) / 1e6
		fmt.Fprintf(w, "%s, cost per MB of bulk (from /proc over the measured rounds, %.0f MB; CPU in 10 ms ticks):\n", p.name, mb)
		var total float64
		for _, c := range p.cost {
			cpu := float64(c.ticks) * 10 / mb // ms of CPU per MB
			total += cpu
			fmt.Fprintf(w, "  %-10s CPU %.2f ms/MB, %.0f context switches/MB\n", c.name, cpu, float64(c.switches)/mb)
		}
		fmt.Fprintf(w, "  all three  CPU %.2f ms/MB: at most %.0f MB/s on one core's worth, %.0f on two\n\n", total, 1e3/total, 2e3/total)
	}
}
