// Package executor resyncs the devices of a plan through a rate-limited errgroup pool.
// A device's failure is a row in the report, never an error that stops the others.
// Retries happen here, not in the SDK, so every attempt takes a rate token and a lost
// reply is seen. A journal records each attempt's intent and outcome so that a run that
// was interrupted or crashed can be resumed without resyncing a device twice.
package executor
