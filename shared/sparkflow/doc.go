// Package sparkflow is the domain of SparkFlow: pools of EMR clusters, size tiers, transforms (job
// profiles), runs and their states, the errors every layer speaks, and the ports (Store, Clusters,
// Callbacks, Clock) that the task logic is written against. It imports no AWS SDK and no adapter: the
// embedded and AWS homes plug in behind the ports.
package sparkflow
