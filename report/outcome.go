// Package report records what happened to each device in a run, one row per device, as
// CSV, JSON lines and JUnit XML, and prints a summary. Reports never hold a code:
// messages from IAM echo submitted values, so they are scrubbed against the row's codes.
package report

import "time"

// Status is a device's final state in a run.
type Status string

const (
	Succeeded    Status = "succeeded"
	Failed       Status = "failed"
	Skipped      Status = "skipped"       // invalid in the plan and skipped on request, or done in an earlier run
	NotAttempted Status = "not_attempted" // the run stopped first
	InDoubt      Status = "in_doubt"      // sent, no answer recorded, and IAM then rejected the codes as used
)

// Outcome is one device's row in the report.
type Outcome struct {
	UserName     string    `json:"user_name"`
	SerialNumber string    `json:"serial_number"`
	AccountID    string    `json:"account_id"`
	Status       Status    `json:"status"`
	ErrorCode    string    `json:"error_code,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
	RequestID    string    `json:"request_id,omitempty"`
	Attempts     int       `json:"attempts"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	DurationMS   int64     `json:"duration_ms"`
	Line         int       `json:"line,omitempty"`
	Ticket       string    `json:"ticket,omitempty"`
	TokenSerial  string    `json:"token_serial,omitempty"`
	Attestation  string    `json:"attestation,omitempty"`
}
