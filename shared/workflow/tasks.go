package workflow

func matchRetrier(rs []Retrier, name string) int {
	for i, r := range rs {
		if matches(r.ErrorEquals, name) {
			return i
		}
	}
	return -1
}

func matches(names []string, name string) bool {
	for _, n := range names {
		if n == name || n == ErrorAll || (n == ErrorTaskFailed && name != ErrorTimeout) {
			return true
		}
	}
	return false
}
