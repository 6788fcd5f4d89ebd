package boltsource

// SetRecordHistory turns the history writes of s on or off, for the
// benchmark of their cost only.
func SetRecordHistory(s *Store, on bool) { s.noHistory = !on }
