package bench

// Exported for tests.
var (
	MetricSum = metricSum
	ErrorKind = errorKind
)
