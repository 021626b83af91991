// Package reader turns a CSV manifest into records as a stream, with true line numbers.
// Every problem names the file, line and column.
package reader
