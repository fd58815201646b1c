package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crypttalk/crypttalk/client"
)

var jobHeader = []string{"ID", "KIND", "STATE", "PROGRESS", "FAILED", "RUNS", "NODE", "ACTOR", "RESULT"}

func jobRows(js []client.Job) [][]string {
	rows := make([][]string, 0, len(js))
	for _, j := range js {
		res := j.Result
		if j.Error != "" {
			res = j.Error
		}
		rows = append(rows, []string{j.ID, j.Kind, j.State, fmt.Sprintf("%d/%d", j.Done, j.Total), strconv.FormatInt(j.Failed, 10),
			strconv.FormatInt(j.Runs, 10), dash(j.Node), j.Actor, dash(res)})
	}
	return rows
}

func newJobsCmd(o *options) *cobra.Command {
	jobs := noun("jobs", "Background jobs (rewrap, purge): start, list, show, wait for, cancel")
	var kind string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			js, err := a.Jobs(cmd.Context(), kind, limit)
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), js, jobHeader, jobRows(js))
		},
	}
	list.Flags().StringVar(&kind, "kind", "", "only jobs of this kind (rewrap, purge)")
	list.Flags().IntVar(&limit, "limit", 20, "at most this many")

	var wait bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job; --wait follows its progress until it ends (exit 1 unless it is done)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			return o.showJob(cmd, a, args[0], wait)
		},
	}
	show.Flags().BoolVar(&wait, "wait", false, "follow the job until it ends")

	var startWait bool
	start := &cobra.Command{
		Use:       "start KIND",
		Short:     "Queue a job: rewrap (every data key under the active master key), reencrypt (history under each conversation's newest key) or purge (one pass); one per kind at a time",
		Args:      exactArgs(1),
		ValidArgs: []string{"rewrap", "reencrypt", "purge"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.startJob(cmd, args[0], startWait)
		},
	}
	start.Flags().BoolVar(&startWait, "wait", false, "follow the job until it ends")

	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued or running job (it stops after its current batch; work done stays done)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := o.admin()
			if err != nil {
				return err
			}
			j, err := a.CancelJob(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), j, jobHeader, jobRows([]client.Job{*j}))
		},
	}
	jobs.AddCommand(list, show, start, cancel)
	return jobs
}

func (o *options) startJob(cmd *cobra.Command, kind string, wait bool) error {
	a, err := o.admin()
	if err != nil {
		return err
	}
	j, err := a.StartJob(cmd.Context(), kind)
	if err != nil {
		return err
	}
	if !wait {
		return o.print(cmd.OutOrStdout(), j, jobHeader, jobRows([]client.Job{*j}))
	}
	return o.showJob(cmd, a, j.ID, true)
}

// showJob prints a job; with wait it polls until the job ends, drawing a
// bar on a terminal and one line per change otherwise, then prints the
// final state (as JSON with -o json) and fails unless the job is done.
func (o *options) showJob(cmd *cobra.Command, a *client.Admin, id string, wait bool) error {
	j, err := a.Job(cmd.Context(), id)
	if err != nil {
		return err
	}
	if wait {
		progress := cmd.ErrOrStderr()
		tty := isTerminal(progress)
		last := ""
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for !j.Finished() {
			if line := fmt.Sprintf("%s %s %d/%d", j.Kind, j.State, j.Done, j.Total); line != last {
				drawProgress(progress, tty, j)
				last = line
			}
			select {
			case <-cmd.Context().Done():
				return cmd.Context().Err()
			case <-tick.C:
			}
			if j, err = a.Job(cmd.Context(), id); err != nil {
				return err
			}
		}
		if tty {
			// The last frame shows the end, then the table goes below it.
			drawProgress(progress, tty, j)
			fmt.Fprintln(progress)
		}
	}
	if err := o.print(cmd.OutOrStdout(), j, jobHeader, jobRows([]client.Job{*j})); err != nil {
		return err
	}
	if wait && j.State != "done" {
		return fmt.Errorf("job %s %s: %s", j.ID, j.State, j.Error)
	}
	return nil
}

func drawProgress(w io.Writer, tty bool, j *client.Job) {
	if !tty {
		fmt.Fprintf(w, "job %s %s %s %d/%d\n", j.ID, j.Kind, j.State, j.Done, j.Total)
		return
	}
	const width = 30
	filled := 0
	if j.Total > 0 {
		filled = int(int64(width) * min(j.Done, j.Total) / j.Total)
	}
	// The state is padded so a shorter one overwrites a longer one.
	fmt.Fprintf(w, "\r%s [%s%s] %d/%d %-9s", j.Kind, strings.Repeat("#", filled), strings.Repeat(".", width-filled), j.Done, j.Total, j.State)
}
