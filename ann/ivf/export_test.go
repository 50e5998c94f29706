package ivf

// SetRetrainHook sets the hook Retrain calls at its stages ("built",
// "swap"); nil removes it.
func SetRetrainHook(f func(stage string)) { retrainHook = f }
