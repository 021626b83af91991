// Package demotest runs `make demo`'s script end to end, so the README's first command
// keeps working: the simulator, the sample fleet, plan, run and an STS sign-in with the
// AWS CLI v2.
package demotest
