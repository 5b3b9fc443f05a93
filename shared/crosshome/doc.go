// Package crosshome holds the tests that run one home's code on the other home's adapters, so that
// neither wing imports the other: the whole local engine on the DynamoDB store, and the AWS Lambda
// handlers on both stores with the local clusters playing EMR (their events have EMR's exact shapes).
// It has no code of its own.
package crosshome
