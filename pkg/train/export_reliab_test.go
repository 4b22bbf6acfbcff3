package train

// SetFaultHook makes the save path fail as a full disk would (see
// faultHook); the returned function restores it.
func SetFaultHook(f func(path string) error) (restore func()) {
	old := faultHook
	faultHook = f
	return func() { faultHook = old }
}
