//go:build !race

package testchild

const raceEnabled = false
