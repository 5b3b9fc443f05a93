package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"

	"github.com/sparkflow/sparkflow/shared/sparkflow"
)

func places(t *testing.T, s sparkflow.Store, transform string) []string {
	t.Helper()
	got, err := s.Places(context.Background(), transform)
	must(t, err)
	sort.Strings(got)
	return got
}

func admit(t *testing.T, s sparkflow.Store, transform, run string, limit int, want bool) {
	t.Helper()
	ok, err := s.Admit(context.Background(), transform, run, limit)
	must(t, err)
	if ok != want {
		t.Fatalf("Admit(%s, %s, %d) = %v, want %v (held: %v)", transform, run, limit, ok, want, places(t, s, transform))
	}
}

// A transform's places: at most limit held, a holder admitted again keeps its place, a leave frees it.
func testPlaces(t *testing.T, s sparkflow.Store) {
	ctx := context.Background()
	if got := places(t, s, "daily"); len(got) != 0 {
		t.Fatalf("places of a transform never admitted: %v", got)
	}
	must(t, s.Leave(ctx, "daily", "nobody")) // a leave of nothing is a no-op
	admit(t, s, "daily", "a", 2, true)
	admit(t, s, "daily", "b", 2, true)
	admit(t, s, "daily", "c", 2, false)
	admit(t, s, "daily", "a", 2, true) // holds one already
	admit(t, s, "other", "c", 1, true) // places are per transform
	if got := places(t, s, "daily"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("places = %v, want a b", got)
	}
	must(t, s.Leave(ctx, "daily", "a"))
	must(t, s.Leave(ctx, "daily", "a"))
	admit(t, s, "daily", "c", 2, true)
	admit(t, s, "daily", "d", 2, false)
	if got := places(t, s, "daily"); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Fatalf("places = %v, want b c", got)
	}
	must(t, s.Leave(ctx, "daily", "b"))
	must(t, s.Leave(ctx, "daily", "c"))
	if got := places(t, s, "daily"); len(got) != 0 {
		t.Fatalf("places after every leave: %v", got)
	}
}

// Admissions at once never hold more than the limit, and each admitted run holds a place.
func testPlacesConcurrent(t *testing.T, s sparkflow.Store) {
	const limit = 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	var admitted []string
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			run := fmt.Sprintf("run-%d", i%12) // every run asks twice
			for try := 0; try < 50; try++ {
				ok, err := s.Admit(context.Background(), "burst", run, limit)
				if sparkflow.IsCode(err, sparkflow.Transient) {
					continue
				}
				if err != nil {
					t.Errorf("admit %s: %v", run, err)
					return
				}
				if ok {
					mu.Lock()
					admitted = append(admitted, run)
					mu.Unlock()
				}
				return
			}
		}(i)
	}
	wg.Wait()
	held := places(t, s, "burst")
	if len(held) != limit {
		t.Fatalf("%d places held (%v), want %d", len(held), held, limit)
	}
	for _, r := range admitted {
		if sort.SearchStrings(held, r) == len(held) || held[sort.SearchStrings(held, r)] != r {
			t.Fatalf("%s was admitted but holds no place (held %v)", r, held)
		}
	}
}
