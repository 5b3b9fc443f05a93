package webui_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A transform's schedule through the UI: the form saves it with its zone, the page shows the next five
// firings in that zone, Pause and Resume hold and release it, a bad expression is shown on its field.
func TestTransformScheduleInTheUI(t *testing.T) {
	f := setup(t)
	f.readyPool(t)
	ctx := context.Background()
	status, loc, body := f.post(t, "/transforms", url.Values{"name": {"nightly"}, "pool": {"etl"}, "kind": {"command"}, "command": {"true"},
		"maxAttempts": {"1"}, "timeout": {"1h"}, "queueTimeout": {"1h"}, "schedule": {"cron(15 3 * * ? *)"}, "timezone": {"America/New_York"}, "catchUp": {"none"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/transforms/nightly") {
		t.Fatalf("create: %d %s %s", status, loc, body)
	}
	tr, err := f.e.GetTransform(ctx, "nightly")
	if err != nil || tr.Schedule != "cron(15 3 * * ? *)" || tr.Timezone != "America/New_York" || tr.CatchUp != "none" || tr.Paused {
		t.Fatalf("saved: %+v %v", tr, err)
	}
	_, page := f.get(t, "/transforms/nightly")
	times := regexp.MustCompile(`<time datetime="([^"]+)">([^<]+)</time>`).FindAllStringSubmatch(page, -1)
	if len(times) != 5 {
		t.Fatalf("%d next firings on the page, want 5:\n%s", len(times), page)
	}
	for _, m := range times {
		at, err := time.Parse(time.RFC3339, m[1])
		ny, _ := time.LoadLocation("America/New_York")
		if err != nil || at.In(ny).Hour() != 3 || at.In(ny).Minute() != 15 || !strings.Contains(m[2], "03:15 E") {
			t.Fatalf("a firing %q (%v) is not 03:15 in New York", m[0], err)
		}
	}
	if status, _, _ := f.post(t, "/transforms/nightly/pause", url.Values{}); status != http.StatusSeeOther {
		t.Fatalf("pause: %d", status)
	}
	if tr, _ := f.e.GetTransform(ctx, "nightly"); !tr.Paused {
		t.Fatal("not paused")
	}
	if _, page := f.get(t, "/transforms/nightly"); !strings.Contains(page, "PAUSED") || strings.Contains(page, "<time datetime=") {
		t.Fatalf("the page of a paused schedule:\n%s", page)
	}
	f.post(t, "/transforms/nightly/resume", url.Values{})
	if tr, _ := f.e.GetTransform(ctx, "nightly"); tr.Paused {
		t.Fatal("not resumed")
	}
	status, _, body = f.post(t, "/transforms/nightly", url.Values{"pool": {"etl"}, "kind": {"command"}, "command": {"true"},
		"maxAttempts": {"1"}, "timeout": {"1h"}, "queueTimeout": {"1h"}, "schedule": {"cron(0 2 * * *)"}})
	if status != http.StatusBadRequest || !regexp.MustCompile(`data-for="schedule">[^<]+`).MatchString(body) {
		t.Fatalf("a bad schedule: %d\n%s", status, body)
	}
}
