// Command sales-etl is the small ETL job that SparkFlow's demo runs on its local clusters: it reads a
// CSV of sales, keeps one region and month, totals revenue and units per product, and writes the
// result as CSV. It stands in for a Spark job: same shape (input, parameters, output, logs, exit code).
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	input := flag.String("input", "", "sales CSV (date,region,product,units,unit_price)")
	output := flag.String("output", "", "result CSV to write")
	region := flag.String("region", "", "region to keep (empty: all)")
	month := flag.String("month", "", "month to keep, YYYY-MM (empty: all)")
	work := flag.Duration("work", 0, "extra time to spend, to stand in for a bigger job")
	attempt := flag.Int("attempt", 1, "the attempt this is (SparkFlow passes ${attempt})")
	failUntil := flag.Int("fail-until", 0, "fail every attempt before this one, as a flaky source would (0: never)")
	flag.Parse()
	if *attempt < *failUntil {
		fmt.Fprintf(os.Stderr, "sales-etl: the sales source did not answer (simulated on attempt %d; attempt %d will succeed)\n", *attempt, *failUntil)
		os.Exit(3)
	}
	if err := run(*input, *output, *region, *month, *work); err != nil {
		fmt.Fprintln(os.Stderr, "sales-etl:", err)
		os.Exit(1)
	}
}

type total struct {
	units   int
	revenue float64
}

func run(input, output, region, month string, work time.Duration) error {
	if input == "" || output == "" {
		return errors.New("--input and --output are required")
	}
	start := time.Now()
	f, err := os.Open(input)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if strings.Join(header, ",") != "date,region,product,units,unit_price" {
		return fmt.Errorf("unexpected header %v", header)
	}
	totals := map[string]*total{}
	rows, kept := 0, 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", rows+2, err)
		}
		rows++
		if (region != "" && rec[1] != region) || (month != "" && !strings.HasPrefix(rec[0], month)) {
			continue
		}
		units, err1 := strconv.Atoi(rec[3])
		price, err2 := strconv.ParseFloat(rec[4], 64)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("line %d: %w", rows+1, err)
		}
		kept++
		t := totals[rec[2]]
		if t == nil {
			t = &total{}
			totals[rec[2]] = t
		}
		t.units += units
		t.revenue += float64(units) * price
	}
	if region != "" && kept == 0 {
		return fmt.Errorf("no sales for region %q in %q: check the region and month", region, month)
	}
	if work > 0 {
		time.Sleep(work)
	}
	products := make([]string, 0, len(totals))
	for p := range totals {
		products = append(products, p)
	}
	sort.Slice(products, func(i, j int) bool { return totals[products[i]].revenue > totals[products[j]].revenue })
	if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
		return err
	}
	out, err := os.Create(output)
	if err != nil {
		return err
	}
	w := csv.NewWriter(out)
	w.Write([]string{"product", "units", "revenue"})
	for _, p := range products {
		w.Write([]string{p, strconv.Itoa(totals[p].units), strconv.FormatFloat(totals[p].revenue, 'f', 2, 64)})
	}
	w.Flush()
	if err := errors.Join(w.Error(), out.Close()); err != nil {
		return err
	}
	fmt.Printf("sales-etl: region=%q month=%q: %d of %d rows, %d products, written to %s in %s\n",
		region, month, kept, rows, len(products), output, time.Since(start).Round(time.Millisecond))
	return nil
}
