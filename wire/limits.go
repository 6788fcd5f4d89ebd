package wire

// Page limits of the API.
const (
	// DefaultPage is the limit of a list, changes or history request that
	// names none.
	DefaultPage = 100
	// MaxPage is the largest limit of a list, changes, history or
	// modifiedSince request (and the default of modifiedSince), and the
	// default cap of the ids of one batchGet. A daemon may be configured
	// with a smaller batchGet cap: it refuses a bigger batch with a 400
	// that names its cap in MaxBatchHeader.
	MaxPage = 1000
)
