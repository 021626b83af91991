// Package conformance drives the IAM simulator (`tokenbatch sim serve`) with clients
// no one here wrote: the AWS CLI v2 (/usr/bin/aws), the AWS CLI v1 and boto3 of the
// machine's python3, aws-sdk-go-v2, and, for response shapes, moto. It holds tests
// only; the tests build the tokenbatch binary once and start one simulator per test.
package conformance
