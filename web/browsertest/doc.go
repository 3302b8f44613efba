// Package browsertest drives the history browser (package web) in headless
// Chromium with chromedp. It is its own module so the core module does not
// depend on chromedp; the tests skip without Chromium unless
// CKPT_REQUIRE_BROWSER=1 (as .ci/run sets it).
package browsertest
