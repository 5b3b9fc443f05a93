package sqlitestore

import (
	"context"
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

// What the run cache keeps from a write is exactly what a read of the written document would
// return: for runs with every field set, empty or nil in turn, and times as the engine makes them
// (time.Now, with its monotonic reading, in UTC or the machine's zone).
func TestAsDecodedIsTheDecodedRun(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	now := time.Now()
	times := []time.Time{{}, now, now.UTC(), time.Date(2026, 12, 5, 7, 1, 2, 123456789, time.UTC)}
	if _, off := now.Zone(); off != 0 {
		times = times[2:] // a zone with an offset is not kept (checked below)
	}
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			v.SetString([]string{"", "x", "ü \"q\""}[rng.Intn(3)])
		case reflect.Int, reflect.Int64:
			v.SetInt(int64(rng.Intn(5)))
		case reflect.Bool:
			v.SetBool(rng.Intn(2) == 0)
		case reflect.Map:
			switch rng.Intn(3) {
			case 1:
				v.Set(reflect.MakeMap(v.Type()))
			case 2:
				m := reflect.MakeMap(v.Type())
				m.SetMapIndex(reflect.ValueOf("k"), reflect.ValueOf("v"))
				v.Set(m)
			}
		case reflect.Slice:
			switch rng.Intn(3) {
			case 1:
				v.Set(reflect.MakeSlice(v.Type(), 0, 2))
			case 2:
				s := reflect.MakeSlice(v.Type(), 2, 2)
				fill(s.Index(0))
				fill(s.Index(1))
				v.Set(s)
			}
		case reflect.Pointer:
			if rng.Intn(2) == 1 {
				p := reflect.New(v.Type().Elem())
				fill(p.Elem())
				v.Set(p)
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(time.Time{}) {
				v.Set(reflect.ValueOf(times[rng.Intn(len(times))]))
				return
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					fill(v.Field(i))
				}
			}
		default:
			t.Fatalf("no filler for a %s", v.Kind())
		}
	}
	for i := 0; i < 3000; i++ {
		var r sparkflow.Run
		fill(reflect.ValueOf(&r).Elem())
		var decoded sparkflow.Run
		if err := json.Unmarshal([]byte(marshal(r)), &decoded); err != nil {
			t.Fatal(err)
		}
		kept, ok := asDecoded(r)
		if !ok {
			t.Fatalf("a run of UTC times is not kept: %+v", r)
		}
		if !reflect.DeepEqual(kept, decoded) {
			t.Fatalf("kept and decoded differ:\nkept    %#v\ndecoded %#v", kept, decoded)
		}
	}
	r := sparkflow.Run{ID: "r", CreatedAt: time.Date(2026, 12, 5, 9, 0, 0, 0, time.FixedZone("CET", 3600))}
	if _, ok := asDecoded(r); ok {
		t.Fatal("a run with a time at +01:00 is kept; it would decode in another zone")
	}
}

// A run read from the cache is the database's: another writer's change (another process on the
// same database) is seen at once, and changing a run read does not change the next one read.
func TestCachedRunsAreNeverStale(t *testing.T) {
	s, err := Open(t.TempDir() + "/s.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateRun(ctx, sparkflow.Run{ID: "r", Transform: "t", Pool: "p", Status: sparkflow.RunQueued, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetRun(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	r.History = append(r.History, sparkflow.Transition{Note: "mine"})
	r.Reason = "changed by the reader"
	if again, _ := s.GetRun(ctx, "r"); again.Reason != "" || len(again.History) != 0 {
		t.Fatalf("a reader's change reached the store's next read: %+v", again)
	}
	// Another process writes version 2 behind the store's back.
	other := r
	other.Reason, other.Version = "written elsewhere", 2
	if _, err := s.wr.exec(ctx, `UPDATE runs SET version = 2, data = ? WHERE id = 'r'`, marshal(other)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRun(ctx, "r"); got.Reason != "written elsewhere" || got.Version != 2 {
		t.Fatalf("after another writer's change: %+v", got)
	}
	got, _ := s.GetRun(ctx, "r")
	got.Reason = ""
	if upd, err := s.UpdateRun(ctx, got); err != nil || upd.Version != 3 {
		t.Fatalf("UpdateRun = %+v, %v", upd, err)
	}
	if got, _ := s.GetRun(ctx, "r"); got.Reason != "" || got.Version != 3 {
		t.Fatalf("after the store's own write: %+v", got)
	}
}
