package report

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// Statuses lists every status in the order summaries print them.
var Statuses = []Status{Succeeded, Failed, InDoubt, NotAttempted, Skipped}

// Summary counts a run's rows.
type Summary struct {
	Devices   int
	ByStatus  map[Status]int
	ByCode    map[string]int // error codes of rows that did not succeed
	Elapsed   time.Duration  // from the first request to the last answer
	Requests  int            // ResyncMFADevice requests sent, retries included
	Throttled int            // requests IAM answered with Throttling
	Resynced  int            // devices resynced in this run (earlier runs' are skipped)
}

// Summarize counts rows. elapsed, requests and throttled come from the executor.
func Summarize(rows []Outcome, elapsed time.Duration, requests, throttled int) Summary {
	s := Summary{Devices: len(rows), ByStatus: map[Status]int{}, ByCode: map[string]int{},
		Elapsed: elapsed, Requests: requests, Throttled: throttled}
	for i := range rows {
		r := &rows[i]
		s.ByStatus[r.Status]++
		if r.Status == Succeeded {
			s.Resynced++
		} else if r.ErrorCode != "" {
			s.ByCode[r.ErrorCode]++
		}
	}
	return s
}

// Rate is the achieved rate: devices resynced per second of the run.
func (s Summary) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Resynced) / s.Elapsed.Seconds()
}

// RequestRate is requests sent per second, retries included.
func (s Summary) RequestRate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// Print writes the summary as aligned tables.
func (s Summary) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STATUS\tDEVICES\n")
	for _, st := range Statuses {
		fmt.Fprintf(tw, "%s\t%d\n", st, s.ByStatus[st])
	}
	fmt.Fprintf(tw, "total\t%d\n", s.Devices)
	if len(s.ByCode) > 0 {
		codes := make([]string, 0, len(s.ByCode))
		for c := range s.ByCode {
			codes = append(codes, c)
		}
		sort.Slice(codes, func(i, j int) bool {
			if s.ByCode[codes[i]] != s.ByCode[codes[j]] {
				return s.ByCode[codes[i]] > s.ByCode[codes[j]]
			}
			return codes[i] < codes[j]
		})
		fmt.Fprintf(tw, "\nCODE\tDEVICES\n")
		for _, c := range codes {
			fmt.Fprintf(tw, "%s\t%d\n", c, s.ByCode[c])
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nelapsed %s, %d requests (%d throttled), %.1f devices/s, %.1f requests/s\n",
		s.Elapsed.Round(time.Millisecond), s.Requests, s.Throttled, s.Rate(), s.RequestRate())
	return err
}
