//go:build race

package ckpt

// raceBuild is raceEnabled (race_on_test.go) for the package's internal
// tests, which cannot see ckpt_test's constants.
const raceBuild = true
