package live

// PauseRetrains stops (true) or resumes (false) the IVF retrains Commit starts, so a test can
// measure a drifted twin before it retrains.
func (s *Set) PauseRetrains(p bool) { s.noRetrain.Store(p) }
