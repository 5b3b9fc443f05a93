package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A client that sends its request slowly is cut off, not held open forever.
func TestSlowClientsAreCutOff(t *testing.T) {
	readHeaderTimeout, readTimeout = 200*time.Millisecond, 300*time.Millisecond
	defer func() { readHeaderTimeout, readTimeout = 10*time.Second, 30*time.Second }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.ReadAll(r.Body) }))
	}()
	defer func() { cancel(); <-done }()
	for name, send := range map[string]string{
		"headers never end": "POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n",
		"body never comes":  "POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte(send))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			io.ReadAll(c) // returns when the server closes the connection
			if waited := time.Since(start); waited > 3*time.Second {
				t.Fatalf("the server held a slow client for %s", waited)
			}
		})
	}
}
